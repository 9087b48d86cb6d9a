# shellcheck shell=sh
# TestStall, the proof of sizing for a consumer stall: record a steady load
# that a healthy auditd keeps up with, recommend R for a 2 s stall, then
# run the same load with auditd stopped (SIGSTOP) for 2 s in its middle at
# R (nothing lost), at R/2 (records lost), and bisect for the smallest
# limit that holds under that stall. The kernel's own lost counter
# (AUDIT_GET) is the oracle.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
MODE=auto
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
# load: one shell opening a file every 4 ms, about 8 s; the shell opens
# it itself (a redirection), so every open is one of its events.
load() { i=0; while [ $i -lt 1600 ]; do : </etc/hostname; usleep 4000; i=$((i + 1)); done; }
# stalled: the same load with auditd stopped for 2 s from its third second
# (the load is steady: every moment of it is its busiest).
# auditd's pid is looked up before the load: pidof opens every process's
# files, hundreds of audited opens, which would add a burst the recorded
# load does not have at both ends of the stall. kill is the shell's own
# builtin: stopping and continuing auditd adds no record.
stalled() {
	A=$(pidof auditd)
	load &
	L=$!
	sleep 3
	kill -STOP "$A"
	sleep 2
	kill -CONT "$A"
	wait $L
}
# at NAME LIMIT: the stalled load at backlog_limit LIMIT, recorded: how
# often kauditd moved audit_queue to its retry queue in that stall differs
# from run to run of the same load (docs/model.md), and the profile says
# which this run did. The kernel's counters are read inside the
# recording, so auditprof's own opens as it starts and ends are not in
# them.
at() {
	auditctl -b "$2" >/dev/null; settle
	record "$1" --duration 600s; status_to "$1.before"; stalled; status_to "$1.after"; finish "$1"
}
# lost_in NAME: the kernel's lost counter in /tmp/NAME.status.
lost_in() { awk '$1 == "lost" {print $2}' "/tmp/$1.status"; }

auditctl -b 8000 --backlog_wait_time 0 >/dev/null
settle; status_to s1.before; record s1 --duration 600s; load; finish s1; status_to s1.after
# The same load with the stall, recorded: its stall is measured.
settle; status_to s2.before; record s2 --duration 600s; stalled; finish s2; status_to s2.after

# A different load, recorded: four shells at once, each opening a file
# every 4 ms for 2 s (four times s1's rate, a quarter of its length). The
# subshell's wait is for the four only, not for the recorder.
burst() { ( for _ in 1 2 3 4; do ( i=0; while [ $i -lt 500 ]; do : </etc/hostname; usleep 4000; i=$((i + 1)); done ) & done; wait ); }
settle; status_to s3.before; record s3 --duration 600s; burst; finish s3; status_to s3.after

cmd rec recommend --profile /tmp/s1.json --stall 2s --json
cmd recDefault recommend --profile /tmp/s1.json --json
cmd rec2 recommend --profile /tmp/s2.json --json
cmd both recommend --profile /tmp/s1.json --profile /tmp/s2.json --json
cmd rec3 recommend --profile /tmp/s3.json --stall 2s --json
cmd loads recommend --profile /tmp/s1.json --profile /tmp/s3.json --stall 2s --json
R=$(awk -F': ' '/"backlog_limit"/ {sub(/,/,"",$2); print $2; exit}' /tmp/rec.out)
cmd vR validate --profile /tmp/s1.json --backlog-limit "$R" --stall 2s --json
cmd vH validate --profile /tmp/s1.json --backlog-limit $((R / 2)) --stall 2s --json

at sR "$R"
at sH $((R / 2))
# Bisect between R/8 (taken to lose) and R (held, checked above) for the
# smallest limit that loses nothing under the same stall: 6 runs.
lo=$((R / 8)); hi=$R
for step in 1 2 3 4 5 6; do
	mid=$(((lo + hi) / 2))
	at b$step $mid
	if [ "$(lost_in b$step.after)" = "$(lost_in b$step.before)" ]; then hi=$mid; else lo=$mid; fi
done
echo "$lo $hi" > /tmp/bisect; emit bisect /tmp/bisect
