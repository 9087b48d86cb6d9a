# shellcheck shell=sh
# TestOnPath, after prelude.sh (auditd, forked, writing its log) and
# rounds.sh (the timed rounds, the modes interleaved in a rotating order):
# an openat rule and a fixed amount of audited work ($ONPATH_OPENS opens),
# timed in guest ns without auditprof (none) and with it recording (fentry,
# kprobe), $ONPATH_ROUNDS rounds. The limit is far above what the rounds
# queue, so that no record is lost or waits: the rounds time the programs
# on the audit path, not the backlog wait. The test holds each mode's
# median ratio to its rounds' own none runs.
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
# settle polls auditctl -s: its own opens must not feed the queue it drains.
[ "$(readlink -f "$(command -v auditctl)")" = /sbin/auditctl ] || { echo "auditctl is not /sbin/auditctl"; exit 1; }
auditctl -a never,exit -F arch=b64 -S openat -F exe=/sbin/auditctl >/dev/null || exit 1
auditctl -a always,exit -F arch=b64 -S openat -k onpath >/dev/null || exit 1
auditctl -l > /tmp/rules; emit rules /tmp/rules
status_to op.before
load() {
	stress-ng --open 1 --open-ops $ONPATH_OPENS --quiet || { echo "stress-ng ($1) exited $?"; exit 1; }
}
# Once untimed first: the first run after boot is slower.
load open
bench_rounds open "$ONPATH_ROUNDS" ""
status_to op.after
emit bench /tmp/bench.txt
emit phases /tmp/phases.txt
