# shellcheck shell=sh
# TestConsumer: auditd measured by record's consumer section, in both attach
# modes: idle (nothing to consume), keeping up with a load, and held to 5%
# of a CPU (consumer_quota) while the same load queues up behind it.
# The rule covers login uid 1000 only, so auditprof's own opens are not
# audited and each phase's records are the load's.
# auditd is measured as record does by default (--consumer sample, from
# /proc). In the fentry rounds a second auditprof records each phase at the
# same time with --consumer sched-switch (the BPF program), so that the two
# are compared on the same auditd over the same load. Both are started
# together, so that neither's attaching (seconds under emulation) is in
# the other's recording.
# both NAME: the phase's recorders, NAME and in the fentry rounds NAME.ss.
both() {
	if [ "$MODE" = fentry ]; then
		rm -f /tmp/ready.ss
		auditprof record --attach "$MODE" --consumer sched-switch --ready-file /tmp/ready.ss --output /tmp/$1.ss.json > /tmp/$1.ss.out 2>&1 &
		AP_SS=$!
	fi
	record "$1" --duration 600s
	if [ "$MODE" = fentry ]; then
		wait_for_file /tmp/ready.ss 60 || { cat /tmp/$1.ss.out; echo "auditprof (sched-switch) did not get ready"; exit 1; }
	fi
}
# finish_both NAME: stop both, the sched-switch one first.
finish_both() {
	if [ "$MODE" = fentry ]; then
		kill -INT $AP_SS
		wait $AP_SS; echo $? > /tmp/$1.ss.rc
		emit $1.ss.rc /tmp/$1.ss.rc; emit $1.ss.json /tmp/$1.ss.json; emit $1.ss.out /tmp/$1.ss.out
	fi
	finish "$1"
}
auditctl -b 8192 --backlog_wait_time 0 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -F auid=1000 -k load >/dev/null
opens() { ( echo 1000 > /proc/self/loginuid && exec stress-ng --open 1 --open-ops "$1" --quiet ); }
for MODE in fentry kprobe; do
	both $MODE.idle
	sleep 3
	finish_both $MODE.idle

	both $MODE.load
	status_to $MODE.load.before
	opens 2000
	settle
	status_to $MODE.load.after
	finish_both $MODE.load

	consumer_quota 5000
	both $MODE.cpu
	opens 2000
	sleep 2
	finish_both $MODE.cpu
	consumer_quota max
	settle
done

# restart: auditd stopped and started again in the middle of a recording
# (fentry): the recording follows the new pid, read from AUDIT_GET every
# second by its helper process, and lists the pid's changes in its
# settings. restart.pids: the first auditd's pid, then the second's.
MODE=fentry
record restart --duration 600s
opens 500
A1=$(pidof auditd)
kill "$A1"
wait_for_pid "$A1" 10 || { echo "auditd did not stop"; exit 1; }
auditd || { echo "auditd failed to start"; exit 1; }
wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
opens 500
# Longer than the time between two of record's reads of auditd's pid
# (PID_SAMPLE_WAIT, from recording.ConsumerSampleEvery).
sleep "$PID_SAMPLE_WAIT"
settle
{ echo "$A1"; pidof auditd; } > /tmp/restart.pids
emit restart.pids /tmp/restart.pids
finish restart
