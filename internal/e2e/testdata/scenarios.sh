# shellcheck shell=sh
# TestScenarios and TestNetlink: the four scenarios of the measurement
# issue, recorded with --attach $MODE $RECORD_FLAGS, and HZ under load.
# auditd at a fifth of a CPU for the overloads (see consumer_quota).
consumer_quota 20000
# (a) overload, backlog_wait_time 0: a full queue drops at once.
overload a 0 2
# (b) overload with backlog_wait_time 5 jiffies: producers sleep.
overload b 5 3
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
guestcheck > /tmp/left || echo "guestcheck failed: exit $?" >> /tmp/left; emit left /tmp/left

# HZ with the guest's CPU busy (the guest has no kernel config: HZ comes
# from the jiffies since boot or a measurement).
stress-ng --cpu 2 --timeout 4s --quiet &
sleep 1
cmd hzload status --json
wait
