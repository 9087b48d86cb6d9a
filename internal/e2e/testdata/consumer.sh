# shellcheck shell=sh
# TestConsumer: auditd measured by record's consumer section, in both attach
# modes: idle (nothing to consume), keeping up with a load, and held to 5%
# of a CPU (consumer_quota) while the same load queues up behind it.
# The rule covers login uid 1000 only, so auditprof's own opens are not
# audited and each phase's records are the load's.
# The consumer sampled from /proc beside BPF (branch consumer-sampling):
# record reads the rate from AUDITPROF_CONSUMER_SAMPLE_HZ, empty: off;
# AUDITPROF_CONSUMER_SAMPLE_SHARED=1 samples on no thread of its own.
export AUDITPROF_CONSUMER_SAMPLE_HZ="${SAMPLE_HZ:-}"
export AUDITPROF_CONSUMER_SAMPLE_SHARED="${SAMPLE_SHARED:-}"
auditctl -b 8192 --backlog_wait_time 0 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -F auid=1000 -k load >/dev/null
opens() { ( echo 1000 > /proc/self/loginuid && exec stress-ng --open 1 --open-ops "$1" --quiet ); }
for MODE in fentry kprobe; do
	record $MODE.idle --duration 600s
	sleep 3
	finish $MODE.idle

	record $MODE.load --duration 600s
	status_to $MODE.load.before
	opens 2000
	settle
	status_to $MODE.load.after
	finish $MODE.load

	consumer_quota 5000
	record $MODE.cpu --duration 600s
	opens 2000
	sleep 2
	finish $MODE.cpu
	consumer_quota max
	settle
done
