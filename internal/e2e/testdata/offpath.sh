# shellcheck shell=sh
# TestOffPath, after prelude.sh (auditd writing its log) and rounds.sh (the
# timed rounds, the modes interleaved in a rotating order): audit enabled
# and no rule loaded, so the loads make no audit record, and fixed amounts
# of work off the audit path, each timed in guest ns without auditprof
# (none) and with it recording (fentry, kprobe): $OFFPATH_ROUNDS rounds,
# each mode started once a round for all of $OFFPATH_LOADS. The test
# holds each (load, mode)'s median ratio to its rounds' own none runs.
auditctl -D >/dev/null || exit 1
auditctl -e 1 >/dev/null || exit 1
auditctl -l > /tmp/rules; emit rules /tmp/rules
# A diagnostic run (AUDITPROF_OFFPATH_STATS=1): every program's run count
# and time go into the profiles.
[ "$OFFPATH_BPF_STATS" = 1 ] && echo 1 > /proc/sys/kernel/bpf_stats_enabled
status_to op.before
# load LOAD: the fixed amount of work. pipe: one writer and one reader of
# a pipe. unix: a pair of AF_UNIX stream sockets (stress-ng --sockpair;
# --sock fails at once in these guests, NOTES.md), whose every message is
# an skb_queue_tail, a function auditprof hooks. switch: two processes
# waking each other through a pipe, context switches.
load() {
	case $1 in
	pipe) stress-ng --pipe 1 --pipe-ops $OFFPATH_PIPES --quiet ;;
	unix) stress-ng --sockpair 1 --sockpair-ops $OFFPATH_UNIX --quiet ;;
	switch) stress-ng --switch 1 --switch-method pipe --switch-ops $OFFPATH_SWITCHES --quiet ;;
	*) echo "unknown load $1"; false ;;
	esac || { echo "stress-ng ($1) exited $?"; exit 1; }
}
# Each load once untimed first: the first run after boot is slower.
for l in $OFFPATH_LOADS; do load $l; done
bench_rounds "$OFFPATH_LOADS" "$OFFPATH_ROUNDS" ""
status_to op.after
emit bench /tmp/bench.txt
emit cpu /tmp/cpu.txt
emit phases /tmp/phases.txt
