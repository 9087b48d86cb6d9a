# shellcheck shell=sh
# TestScenarios and TestNetlink: the scenarios of the measurement
# issue, recorded with --attach $MODE $RECORD_FLAGS, and HZ under load.
# auditd at a fifth of a CPU for the overloads (see consumer_quota).
consumer_quota 20000
# (a) overload, backlog_wait_time 0: a full queue drops at once.
overload a 0 2
# (b) overload with backlog_wait_time 5 jiffies: producers sleep.
overload b 5 3
# (e) as (b), and a sender of AUDIT_GET between audited opens (auditget):
# audit_receive's penalty sleep, on the backlog wait's own queue, is not a
# backlog wait (backlog_wait_time_actual leaves it out). Netlink mode
# takes its waits from that counter: nothing to prove there.
if [ "$MODE" != netlink ]; then
	auditctl -b 64 --backlog_wait_time 5 >/dev/null
	record e --duration 120s
	status_to e.before
	auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
	auditget 3 /etc/passwd > /tmp/e.get 2>&1 &
	G=$!
	stress-ng --open 2 --timeout 3s --quiet
	wait $G; echo $? > /tmp/e.get.rc
	sleep 2
	auditctl -D >/dev/null
	status_to e.after
	finish e
	emit e.get /tmp/e.get; emit e.get.rc /tmp/e.get.rc
	settle
fi
consumer_quota max
settle

# (c) two rules, different keys and rates, nothing lost.
keyed_rules

# (d) idle, then Ctrl-C in the middle of a long recording.
record d1 --duration 2s
wait $AP; echo $? > /tmp/d1.rc; emit d1.rc /tmp/d1.rc; emit d1.json /tmp/d1.json
record d2 --duration 600s
sleep 2
finish d2
# (d3) killed outright (SIGKILL) mid-run: the journal, /tmp/d3.json.partial,
# keeps what was read; the tools read it; a record to the same --output
# refuses to overwrite it; the next recording (d4) removes what the killed
# one left in tracefs.
# Netlink recordings keep no journal.
if [ "$MODE" != netlink ]; then
	auditctl -D >/dev/null
	record d3 --duration 600s
	auditctl -a always,exit -F arch=b64 -S openat -F path=/etc/passwd -k d3 >/dev/null
	i=0; while [ $i -lt 400 ]; do cat /etc/passwd >/dev/null; i=$((i+1)); done
	auditctl -D >/dev/null
	sleep 3
	kill -KILL $AP; wait $AP
	# The recording's events, by auditd's log: every event with key d3
	# (the load's, and the rule's addition and removal, each a
	# CONFIG_CHANGE made in auditctl's syscall), one SYSCALL record each.
	grep 'key="d3"' /var/log/audit/audit.log | sed -n 's/.*msg=audit([0-9.]*:\([0-9]*\)).*/\1/p' | sort -u | wc -l > /tmp/d3.auditd
	emit d3.auditd /tmp/d3.auditd
	{ [ -e /tmp/d3.json ] && echo profile; [ -e /tmp/d3.json.partial ] && echo journal; } > /tmp/d3.files
	emit d3.files /tmp/d3.files
	emit d3.json /tmp/d3.json.partial
	cmd d3r recommend --profile /tmp/d3.json.partial --json
	cmd d3again record --attach "$MODE" --duration 1s --output /tmp/d3.json
	# The killed recording's kretprobes stay in tracefs (kprobe_events):
	# the next recording removes them.
	mv /tmp/d3.json.partial /tmp/d3.journal
	grep -c auditprof_ /sys/kernel/tracing/kprobe_events > /tmp/d3.kprobes
	emit d3.kprobes /tmp/d3.kprobes
	cmd d4 record --attach "$MODE" --duration 1s --output /tmp/d4.json
else
	# (d5) netlink mode names who changed a setting from the kernel's
	# CONFIG_CHANGE record and its event's SYSCALL record (logged where a
	# syscall rule is loaded): the limit raised and lowered again within
	# one second, then restored, under a rule.
	auditctl -a always,exit -F arch=b64 -S openat -F path=/etc/hostname -k d5 >/dev/null
	B=$(auditctl -s | awk '$1 == "backlog_limit" {print $2}')
	record d5 --duration 600s
	sleep 2
	auditctl -b 4321 >/dev/null; auditctl -b 4322 >/dev/null
	sleep 2
	auditctl -b "$B" >/dev/null
	sleep 2
	finish d5
	echo "$B" > /tmp/d5.limit; emit d5.limit /tmp/d5.limit
	auditctl -D >/dev/null
fi
guestcheck > /tmp/left || echo "guestcheck failed: exit $?" >> /tmp/left; emit left /tmp/left

# HZ with the guest's CPU busy (the guest has no kernel config: HZ comes
# from the jiffies since boot or a measurement).
stress-ng --cpu 2 --timeout 4s --quiet &
sleep 1
cmd hzload status --json
wait
