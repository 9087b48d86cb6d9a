# shellcheck shell=sh
# The timed rounds shared by BenchmarkOverhead (bench-overhead.sh),
# TestOffPath (offpath.sh) and TestOnPath (onpath.sh), after prelude.sh; the script that sources this
# defines load LOAD (one fixed amount of work) and BENCH_MODES (the modes
# of a round, in the order the first round runs them). Every load is timed
# in guest ns (/proc/timer_list's "now at", ktime in ns: at icount shift=0
# one instruction each). It starts on an empty audit queue and an empty
# log; auditprof, in the fentry and kprobe rounds, is attached and counting
# before the timer starts and stopped after it ends. Other modes (the
# benchmark's floor and bpftrace) are started and stopped by tool_start and
# tool_stop, which the sourcing script defines. The modes alternate within
# a round, in an order that rotates from round to round, so that each
# round's ratio is against a none run next to it.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
grep -q '^now at [0-9]* nsecs' /proc/timer_list || { echo "no 'now at' in /proc/timer_list"; exit 1; }
now() { awk '/^now at/ {print $3; exit}' /proc/timer_list; }
: > /tmp/bench.txt
: > /tmp/cpu.txt
# tool_start MODE NAME, tool_stop MODE NAME: a mode other than none,
# fentry and kprobe; the sourcing script defines them if it has any.
tool_start() { echo "unknown mode $1 ($2)"; exit 1; }
tool_stop() { echo "unknown mode $1 ($2)"; exit 1; }
# cpu_ns PID: the on-CPU guest ns of every thread of PID so far (the first
# field of each thread's schedstat; a thread that exited is not counted).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# bench_round LOADS NAME MODE: one round of each of LOADS (a list), each
# timed, with auditprof recording in MODE (fentry, kprobe), not at all
# (none), or a tool of the sourcing script's, started once for all of
# them. bench.txt gets "LOAD MODE NAME T0 T1" per load, cpu.txt "LOAD
# MODE NAME NS" (the recorder's or the tool's on-CPU ns during the load,
# - for none), phases.txt the guest times of the round's steps (start,
# the first load's T0, the last load's T1, stopped), its loads joined
# by +.
bench_round() {
	settle
	: > /var/log/audit/audit.log
	ts=$(now)
	case $3 in
	none) ;;
	fentry | kprobe) MODE=$3; record $3.$2 --duration 3600s ;;
	*) tool_start $3 $2 ;;
	esac
	# Deferred work of the last round's detach (RCU, kworkers) ends here:
	# an idle second costs no instructions.
	sleep 1
	first=
	for l in $1; do
		settle
		c0=-; [ $3 = none ] || c0=$(cpu_ns $AP)
		t0=$(now)
		load $l
		t1=$(now)
		c=-; [ $3 = none ] || c=$(($(cpu_ns $AP) - c0))
		echo "$l $3 $2 $t0 $t1" >> /tmp/bench.txt
		echo "$l $3 $2 $c" >> /tmp/cpu.txt
		[ -n "$first" ] || first=$t0
	done
	case $3 in
	none) ;;
	fentry | kprobe)
		kill -INT $AP; wait $AP; rc=$?
		[ $rc = 0 ] || { cat /tmp/$3.$2.out; echo "auditprof record ($3.$2) exited $rc"; exit 1; }
		emit $3.$2.json /tmp/$3.$2.json ;;
	*) tool_stop $3 $2 ;;
	esac
	echo "$(echo $1 | tr ' ' +) $3 $2 $ts $first $t1 $(now)" >> /tmp/phases.txt
}
# bench_rounds LOADS ROUNDS PREFIX: ROUNDS rounds of every mode of
# BENCH_MODES, named PREFIX1, PREFIX2, ..., the modes' order rotating from
# one round to the next (none/fentry/kprobe, fentry/kprobe/none, ...).
bench_rounds() {
	r=1; order="$BENCH_MODES"
	while [ $r -le $2 ]; do
		for m in $order; do bench_round "$1" $3$r $m; done
		order="${order#* } ${order%% *}"
		r=$((r + 1))
	done
}
