# shellcheck shell=sh
# TestSizing, the proof of the sizing issue: record an overloaded
# workload at $REC_LIMIT, recommend R, apply R and run it again (nothing
# lost), apply R/2 (records lost); a sustained overload; apply's refusals.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
MODE=auto
# The consumer: auditd held to a fifth of a CPU (consumer_quota), as a
# disk-bound auditd is held by its disk: a pace that does not depend on the
# load. (At nice 19 instead, its pace was the race with stress-ng for CPU,
# slow during a burst and fast between.) Slower, at a tenth of a CPU, it
# fell behind its socket once the queue was deep: kauditd's sends timed out
# and it moved thousands of records to its retry queue, a consumer that
# slows down as it falls behind, which a recording never shows.
consumer_quota 20000
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
# load: three bursts of a fixed number of opens, 5 s apart.
load() { for _ in 1 2 3; do stress-ng --open 2 --open-ops 1500 --quiet; sleep 5; done; }
# settle (prelude.sh) before each run: it starts where the last one did
# (at the consumer's pace the last burst takes seconds).
run() { settle; status_to $1.before; record $1 --duration 600s; load; finish $1; status_to $1.after; }

auditctl -b $REC_LIMIT --backlog_wait_time 0 >/dev/null
run s1
cmd rec recommend --profile /tmp/s1.json --json --apply
R=$(awk -F': ' '/"backlog_limit"/ {sub(/,/,"",$2); print $2; exit}' /tmp/rec.out)
cmd vRec validate --profile /tmp/s1.json --backlog-limit $REC_LIMIT --json
cmd vR validate --profile /tmp/s1.json --backlog-limit $R --json
cmd vH validate --profile /tmp/s1.json --backlog-limit $((R / 2)) --json
run s2
cmd applyH apply --backlog-limit $((R / 2))
run s3
# The wait model against the kernel: validate s1 at a wait time of 5
# jiffies (20 ms at HZ 250), then the same load with it.
cmd vW validate --profile /tmp/s1.json --backlog-limit $REC_LIMIT --backlog-wait-time 20ms --json
auditctl -b $REC_LIMIT --backlog_wait_time 5 >/dev/null
run w
auditctl --backlog_wait_time 0 >/dev/null

# recommend --duration records first, then decides.
auditctl -b 64 >/dev/null
settle
rm -f /tmp/rr
auditprof recommend --duration 30s --ready-file /tmp/rr --output /tmp/s5.json --json > /tmp/recdur.out 2>/tmp/recdur.err &
RP=$!
wait_for_file /tmp/rr 60 || { cat /tmp/recdur.err; echo "recommend --duration did not get ready"; exit 1; }
load
wait $RP; echo $? > /tmp/recdur.rc
emit recdur.out /tmp/recdur.out; emit recdur.rc /tmp/recdur.rc; emit s5.json /tmp/s5.json

# Sustained overload: the load outlasts the recording, and makes far more
# records than auditd at a fifth of a CPU takes (chdir events are five
# records each: SYSCALL, CWD, PATH, PROCTITLE, EOE). Opens alone can make
# arrivals and drain too close to call.
auditctl -b 64 >/dev/null
auditctl -a always,exit -F arch=b64 -S chdir -k load-chdir >/dev/null
# The load ends before the recording, but its demand is far from drained.
record s4 --duration 10s
stress-ng --open 2 --chdir 1 --timeout 8s --quiet
wait $AP; emit s4.json /tmp/s4.json
cmd rec4 recommend --profile /tmp/s4.json --json
auditctl -D >/dev/null
sleep 3

# apply: --dry-run, --persist into a rules.d tree, bad values, locked audit.
mkdir -p /etc/audit/rules.d
echo "-D" > /etc/audit/rules.d/10-base.rules
echo "-b 320" > /etc/audit/rules.d/99-late.rules
status_to dry.before
cmd dry apply --backlog-limit 1300 --persist /etc/audit/rules.d/50-backlog.rules --dry-run
status_to dry.after
ls /etc/audit/rules.d > /tmp/dry.ls; emit dry.ls /tmp/dry.ls
cmd persist apply --backlog-limit 1300 --backlog-wait-time 2s --persist /etc/audit/rules.d/50-backlog.rules
status_to persist.after
emit persist.file /etc/audit/rules.d/50-backlog.rules
cmd again apply --backlog-limit 2600 --persist /etc/audit/rules.d/50-backlog.rules
emit again.file /etc/audit/rules.d/50-backlog.rules
emit again.bak /etc/audit/rules.d/50-backlog.rules.auditprof.bak
# What was persisted loads: the real auditctl reads the file.
auditctl -b 64 --backlog_wait_time 0 >/dev/null
auditctl -R /etc/audit/rules.d/50-backlog.rules >/dev/null 2>&1; echo $? > /tmp/reload.rc; emit reload.rc /tmp/reload.rc
status_to reload
cmd zero apply --backlog-limit 0
cmd longwait apply --backlog-limit 100 --backlog-wait-time 700s
auditctl -e 2 >/dev/null
cmd locked apply --backlog-limit 100
status_to locked.after
