# shellcheck shell=sh
# keyed_rules: scenario (c), checked by checkRules: two keyed rules at
# different rates, a limit and wait time that lose nothing, auditd's log
# emptied first and read per key after the queue emptied. It expects
# auditd free to run (consumer_quota max) and the queue settled.
keyed_rules() {
	auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
	auditctl -a always,exit -F arch=b64 -S openat -k hot >/dev/null
	auditctl -a always,exit -F arch=b64 -S chdir -k cold >/dev/null
	: > /var/log/audit/audit.log
	status_to c.before
	record c --duration 120s
	# The load runs in its own cgroup, as a container's would.
	mkdir -p /sys/fs/cgroup/audit-load
	echo $$ > /sys/fs/cgroup/audit-load/cgroup.procs
	stress-ng --open 1 --chdir 1 --timeout 3s --quiet
	echo $$ > /sys/fs/cgroup/cgroup.procs
	# Stopped while the queue may still hold the load's records: they count,
	# in netlink mode too (it reads on until they are delivered).
	finish c
	status_to c.after
	settle; sleep 1 # auditd writes the rest before its log is read
	per_key c.keys
	auditctl -D >/dev/null
}
