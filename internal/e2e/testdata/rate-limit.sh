# shellcheck shell=sh
# TestRateLimit: audit's rate limit (auditctl -r) makes audit_log_end free
# records with audit_log_lost("rate limit exceeded") instead of queueing
# them, after audit_log_start accepted them. Recorded in both families;
# auditd free to keep up and a large backlog, so that the rate limit is
# the only loss. As in overload, the rule and the limit exist only between
# the two kernel readings, both inside the recording.
auditctl -b 8192 --backlog_wait_time 0 >/dev/null
for MODE in fentry kprobe; do
	record r.$MODE --duration 120s
	status_to r.$MODE.before
	auditctl -r 200 >/dev/null
	auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
	stress-ng --open 1 --open-ops 4000 --quiet
	auditctl -D >/dev/null
	auditctl -r 0 >/dev/null
	sleep 2
	status_to r.$MODE.after
	finish r.$MODE
	settle
done
