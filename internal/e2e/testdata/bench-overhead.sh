# shellcheck shell=sh
# BenchmarkOverhead (make bench), after prelude.sh (auditd, forked, writing
# /var/log/audit/audit.log: the consumer must be a real auditd writing its
# log, NOTES.md "Measuring overhead"). Every round is a fixed amount of
# work ($BENCH_OPENS opens, $BENCH_PIPES pipe writes; $BENCH_ROUNDS_open and
# $BENCH_ROUNDS_pipe rounds) timed in guest ns (/proc/timer_list's "now
# at", ktime in ns: at icount shift=0 one instruction each). It starts on
# an empty audit queue and an empty log; auditprof, in the fentry and
# kprobe rounds, is attached and counting before the timer starts and
# stopped after it ends; so is the floor (floor-fentry and floor-kprobe:
# programs on the same hooks that only count their runs), and so is
# bpftrace (bpftrace and bpftrace-kfunc: the one-liner counting
# audit_log_start by comm on a kprobe or a kfunc). The modes alternate within a round, in an
# order that rotates from round to round, so that each round's ratio is
# against a none run next to it.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
# settle polls auditctl -s: its own opens must not feed the queue it drains.
[ "$(readlink -f "$(command -v auditctl)")" = /sbin/auditctl ] || { echo "auditctl is not /sbin/auditctl"; exit 1; }
auditctl -a never,exit -F arch=b64 -S openat -F exe=/sbin/auditctl >/dev/null || exit 1
auditctl -a always,exit -F arch=b64 -S openat -k bench >/dev/null || exit 1
auditctl -l > /tmp/rules; emit rules /tmp/rules
grep -q '^now at [0-9]* nsecs' /proc/timer_list || { echo "no 'now at' in /proc/timer_list"; exit 1; }
now() { awk '/^now at/ {print $3; exit}' /proc/timer_list; }
: > /tmp/bench.txt
# load LOAD: the fixed amount of work, open or pipe.
load() {
	case $1 in
	open) stress-ng --open 1 --open-ops $BENCH_OPENS --quiet ;;
	pipe) stress-ng --pipe 1 --pipe-ops $BENCH_PIPES --quiet ;;
	esac || { echo "stress-ng ($1) exited $?"; exit 1; }
}
# traced: audit_log_start is in ftrace's enabled functions, where a kprobe
# on it and a kfunc (trampoline) both show once attached.
traced() { grep -q '^audit_log_start[ 	]' /sys/kernel/tracing/enabled_functions; }
# bpftrace_start MODE NAME: the one-liner, in the background (AP), and
# only once its probe is attached: bpftrace prints "Attaching 1 probe..."
# before it attaches (and after LLVM compiled the program), so wait for
# that line and then for the function to be traced.
bpftrace_start() {
	case $1 in
	bpftrace) probe=kprobe ;;
	bpftrace-kfunc) probe=kfunc ;;
	esac
	# Nothing else (the last round's tracer) may still be attached.
	n=0; while traced; do n=$((n + 1)); [ $n -lt 100 ] || { echo "audit_log_start traced before bpftrace ($1.$2)"; exit 1; }; sleep 0.1; done
	bpftrace -e "$probe:audit_log_start { @[comm] = count(); }" > /tmp/$1.$2.out 2>&1 &
	AP=$!
	n=0
	until grep -q '^Attaching' /tmp/$1.$2.out && traced; do
		n=$((n + 1))
		[ $n -lt 1200 ] && kill -0 $AP 2>/dev/null || { cat /tmp/$1.$2.out; echo "bpftrace ($1.$2) did not attach"; exit 1; }
		sleep 0.1
	done
}
# bench_round LOAD NAME MODE: one round of LOAD, timed, with auditprof
# recording in MODE (fentry, kprobe) or not at all (none). bench.txt gets
# "LOAD MODE NAME T0 T1", phases.txt the guest times of the round's steps
# (start, ready, T0, T1, stopped).
bench_round() {
	settle
	: > /var/log/audit/audit.log
	ts=$(now)
	case $3 in
	none) ;;
	floor-*)
		rm -f /tmp/ready
		floor -mode "${3#floor-}" -ready-file /tmp/ready > /tmp/$3.$2.out 2>&1 &
		AP=$!
		wait_for_file /tmp/ready 60 || { cat /tmp/$3.$2.out; echo "floor did not get ready"; exit 1; } ;;
	bpftrace*) bpftrace_start $3 $2 ;;
	*) MODE=$3; record $3.$2 --duration 3600s ;;
	esac
	# Deferred work of the last round's detach (RCU, kworkers) ends here:
	# an idle second costs no instructions.
	sleep 1
	settle
	t0=$(now)
	load $1
	t1=$(now)
	case $3 in
	none) ;;
	floor-* | bpftrace*)
		# bpftrace prints its map on SIGINT, after the timed part.
		kill -INT $AP; wait $AP; rc=$?
		[ $rc = 0 ] || { cat /tmp/$3.$2.out; echo "$3 ($3.$2) exited $rc"; exit 1; }
		emit $3.$2.out /tmp/$3.$2.out ;;
	*)
		kill -INT $AP; wait $AP; rc=$?
		[ $rc = 0 ] || { cat /tmp/$3.$2.out; echo "auditprof record ($3.$2) exited $rc"; exit 1; }
		emit $3.$2.json /tmp/$3.$2.json ;;
	esac
	echo "$1 $3 $2 $t0 $t1" >> /tmp/bench.txt
	echo "$1 $3 $2 $ts $t0 $t1 $(now)" >> /tmp/phases.txt
}
# The rounds, with the kernel's BPF statistics off (they cost time per run).
# Each load runs once untimed first: the first run after boot is slower.
for l in open pipe; do
	load $l
	r=1; order="$BENCH_MODES"; eval rounds=\$BENCH_ROUNDS_$l
	# shellcheck disable=SC2154 # rounds: set by the eval
	while [ $r -le $rounds ]; do
		for m in $order; do bench_round $l $l.$r $m; done
		order="${order#* } ${order%% *}"
		r=$((r + 1))
	done
done
# The programs' own run time (bpf_prog_info run_time_ns, guest ns), one
# round each with statistics on.
echo 1 > /proc/sys/kernel/bpf_stats_enabled
bench_round open cost fentry
bench_round open cost kprobe
echo 0 > /proc/sys/kernel/bpf_stats_enabled
emit bench /tmp/bench.txt
emit phases /tmp/phases.txt
