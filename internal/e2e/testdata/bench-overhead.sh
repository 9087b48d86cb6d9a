# shellcheck shell=sh
# BenchmarkOverhead (make bench), after prelude.sh (auditd, forked, writing
# /var/log/audit/audit.log: the consumer must be a real auditd writing its
# log, NOTES.md "Measuring overhead") and rounds.sh (the timed rounds, the
# modes interleaved in a rotating order, each started and stopped outside
# the timed part). Every round is a fixed amount of work ($BENCH_OPENS
# opens, $BENCH_PIPES pipe writes; $BENCH_ROUNDS_open and
# $BENCH_ROUNDS_pipe rounds of each of $BENCH_MODES, for each load of
# $BENCH_LOADS) timed in guest ns.
# Besides auditprof (fentry, kprobe) it starts and stops the floor
# (floor-fentry and floor-kprobe: programs on the same hooks that only
# count their runs; floor-fentry-S1 and the like attach floor's hook set
# S1) and bpftrace (bpftrace and bpftrace-kfunc: the
# one-liner counting audit_log_start by comm on a kprobe or a kfunc), and
# runs one statistics round in each of $BENCH_COST_MODES.
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
# settle polls auditctl -s: its own opens must not feed the queue it drains.
[ "$(readlink -f "$(command -v auditctl)")" = /sbin/auditctl ] || { echo "auditctl is not /sbin/auditctl"; exit 1; }
auditctl -a never,exit -F arch=b64 -S openat -F exe=/sbin/auditctl >/dev/null || exit 1
auditctl -a always,exit -F arch=b64 -S openat -k bench >/dev/null || exit 1
auditctl -l > /tmp/rules; emit rules /tmp/rules
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
# tool_start MODE NAME, tool_stop MODE NAME (rounds.sh's bench_round
# calls them): the floor and bpftrace, in the background (AP).
tool_start() {
	case $1 in
	floor-*)
		rm -f /tmp/ready
		# floor-FAMILY (the old hook set) or floor-FAMILY-SET (floor's -set).
		f=${1#floor-}; fset=old
		case $f in *-*) fset=${f#*-} ;; esac
		floor -mode "${f%%-*}" -set "$fset" -ready-file /tmp/ready > /tmp/$1.$2.out 2>&1 &
		AP=$!
		wait_for_file /tmp/ready 60 || { cat /tmp/$1.$2.out; echo "floor did not get ready"; exit 1; } ;;
	bpftrace*) bpftrace_start $1 $2 ;;
	*) echo "unknown mode $1 ($2)"; exit 1 ;;
	esac
}
tool_stop() {
	# bpftrace prints its map on SIGINT, after the timed part.
	kill -INT $AP; wait $AP; rc=$?
	[ $rc = 0 ] || { cat /tmp/$1.$2.out; echo "$1 ($1.$2) exited $rc"; exit 1; }
	emit $1.$2.out /tmp/$1.$2.out
}
# The rounds, with the kernel's BPF statistics off (they cost time per run).
# Each load runs once untimed first: the first run after boot is slower.
for l in $BENCH_LOADS; do
	load $l
	eval rounds=\$BENCH_ROUNDS_$l
	# shellcheck disable=SC2154 # rounds: set by the eval
	bench_rounds $l $rounds $l.
done
# The programs' own run time (bpf_prog_info run_time_ns, guest ns), one
# round each with statistics on.
echo 1 > /proc/sys/kernel/bpf_stats_enabled
for m in $BENCH_COST_MODES; do bench_round open cost $m; done
echo 0 > /proc/sys/kernel/bpf_stats_enabled
emit bench /tmp/bench.txt
emit phases /tmp/phases.txt
