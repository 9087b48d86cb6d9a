# shellcheck shell=sh
# TestProgramsCost (issue 13, item 5): what the program table costs per
# record, before and after in one VM. /bin/auditprof-base is the build
# without it; each round records the same fixed audited work (stress-ng
# opens under an openat rule, auditd writing its log) with both builds in
# both families, in an order that rotates, timed in guest ns (icount), with
# kernel.bpf_stats_enabled on so that every profile has its programs' own
# run time.
auditctl -b "$COST_LIMIT" --backlog_wait_time "$COST_WAIT" >/dev/null
[ "$(readlink -f "$(command -v auditctl)")" = /sbin/auditctl ] || { echo "auditctl is not /sbin/auditctl"; exit 1; }
auditctl -a never,exit -F arch=b64 -S openat -F exe=/sbin/auditctl >/dev/null || exit 1
auditctl -a always,exit -F arch=b64 -S openat -k bench >/dev/null || exit 1
grep -q '^now at [0-9]* nsecs' /proc/timer_list || { echo "no 'now at' in /proc/timer_list"; exit 1; }
now() { awk '/^now at/ {print $3; exit}' /proc/timer_list; }
: > /tmp/cost.txt
echo 1 > /proc/sys/kernel/bpf_stats_enabled
# cost_round NAME BUILD MODE: one timed round with /bin/auditprof or
# /bin/auditprof-base (BUILD new or base) recording in MODE.
cost_round() {
	settle
	: > /var/log/audit/audit.log
	bin=/bin/auditprof; [ "$2" = base ] && bin=/bin/auditprof-base
	rm -f /tmp/ready
	$bin record --attach "$3" --duration 3600s --ready-file /tmp/ready --output "/tmp/$1.json" > "/tmp/$1.out" 2>&1 &
	AP=$!
	wait_for_file /tmp/ready 60 || { cat "/tmp/$1.out"; echo "auditprof ($1) did not get ready"; exit 1; }
	sleep 1
	settle
	t0=$(now)
	stress-ng --open 1 --open-ops "$COST_OPENS" --quiet || { echo "stress-ng exited $?"; exit 1; }
	t1=$(now)
	kill -INT $AP; wait $AP; rc=$?
	[ $rc = 0 ] || { cat "/tmp/$1.out"; echo "auditprof record ($1) exited $rc"; exit 1; }
	emit "$1.json" "/tmp/$1.json"
	echo "$1 $2 $3 $t0 $t1" >> /tmp/cost.txt
}
stress-ng --open 1 --open-ops "$COST_OPENS" --quiet
r=1; order="base.fentry new.fentry base.kprobe new.kprobe"
while [ "$r" -le "$COST_ROUNDS" ]; do
	for c in $order; do cost_round "$c.$r" "${c%%.*}" "${c#*.}"; done
	order="${order#* } ${order%% *}"
	r=$((r + 1))
done
emit cost /tmp/cost.txt
