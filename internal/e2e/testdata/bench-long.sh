# shellcheck shell=sh
# BenchmarkLongRecording (make bench, issue 14): one long recording of an
# idle guest (one vCPU, an audit rule loaded, auditd running), in guest
# time under icount, where an idle second costs no instructions: $LONG_STEP
# guest seconds between samples, $LONG_SAMPLES samples. The only audited
# work is one `cat /etc/passwd` every 5 s (two records), so that recommend
# has records to size for. Each sample line is "NOW_NS RSS_KB CPU_NS
# CHILD_RSS_KB CHILD_CPU_NS" (ktime; auditprof's VmRSS; its threads' on-CPU
# ns from schedstat; the same summed over its child processes, the
# AUDIT_GET helper: 0 0 with none). Then
# the profile's size, and the guest time recommend and report take on it.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
MODE=fentry
auditctl -a always,exit -F arch=b64 -S openat -F path=/etc/passwd -k idle >/dev/null || exit 1
now() { awk '/^now at/ {print $3; exit}' /proc/timer_list; }
record long --duration 100h
: > /tmp/long.txt
# children: auditprof's child processes (its AUDIT_GET helper).
children() { cat /proc/$AP/task/*/children 2>/dev/null; }
child_rss() { r=0; for c in $(children); do r=$((r + $(awk '/^VmRSS/ {print $2}' /proc/"$c"/status 2>/dev/null || echo 0))); done; echo $r; }
child_cpu() { for c in $(children); do cat /proc/"$c"/task/*/schedstat 2>/dev/null; done | awk '{n += $1} END {printf "%.0f\n", n}'; }
sample() { echo "$(now) $(awk '/^VmRSS/ {print $2}' /proc/$AP/status) $(cat /proc/$AP/task/*/schedstat | awk '{n += $1} END {printf "%.0f", n}') $(child_rss) $(child_cpu)" >> /tmp/long.txt; }
while :; do cat /etc/passwd > /dev/null; sleep 5; done &
TRICKLE=$!
sample
i=0
while [ $i -lt "$LONG_SAMPLES" ]; do
	sleep "$LONG_STEP"
	sample
	i=$((i + 1))
done
kill $TRICKLE
kill -INT $AP; wait $AP; rc=$?
[ $rc = 0 ] || { cat /tmp/long.out; echo "auditprof record exited $rc"; exit 1; }
emit long /tmp/long.txt
wc -c < /tmp/long.json > /tmp/size; emit size /tmp/size
t0=$(now); auditprof recommend --profile /tmp/long.json > /tmp/rec.out 2>&1 || { cat /tmp/rec.out; exit 1; }
t1=$(now); auditprof report --profile /tmp/long.json --output /tmp/long.html > /tmp/rep.out 2>&1 || { cat /tmp/rep.out; exit 1; }
t2=$(now)
echo "recommend $t0 $t1" > /tmp/tools; echo "report $t1 $t2" >> /tmp/tools; emit tools /tmp/tools
