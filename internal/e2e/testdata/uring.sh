# shellcheck shell=sh
# TestUring (issue 14): io_uring records keyed by their opcode. An io_uring
# rule on openat (loaded by uringload: Debian 12's auditctl 3.0.9 has no
# io_uring filter), then 200 openat operations an io-wq worker runs
# (IOSQE_ASYNC: io_uring events, AUDIT_CTX_URING) and 200 io_uring_enter
# may run inline (URINGOP records inside the syscall's event), recorded
# with --attach $MODE $RECORD_FLAGS. Nothing may be lost, so that every
# count can be held against auditd's log.
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
uringload rule uring 18 > /tmp/rule.out 2>&1; echo $? > /tmp/rule.rc
emit rule.out /tmp/rule.out; emit rule.rc /tmp/rule.rc
auditctl -l > /tmp/loaded 2>&1; emit loaded /tmp/loaded
status_to u.before
record u --duration 3600s
uringload open 200 async > /tmp/async.out 2>&1; echo $? > /tmp/async.rc
emit async.out /tmp/async.out; emit async.rc /tmp/async.rc
uringload open 200 inline > /tmp/inline.out 2>&1; echo $? > /tmp/inline.rc
emit inline.out /tmp/inline.out; emit inline.rc /tmp/inline.rc
settle
finish u
status_to u.after
cmd rules rules --profile /tmp/u.json --json --top 0
auditctl -D >/dev/null
sleep 2
# The records of the events that hold an io_uring operation's record or
# an io_uring_enter (x86_64: 426) SYSCALL, over every log file.
# shellcheck disable=SC2046 # the log files' names have no spaces
cat $(ls -r /var/log/audit/audit.log*) | awk '{ if (match($0, /msg=audit\([0-9.]+:[0-9]+\)/)) { s = substr($0, RSTART+10, RLENGTH-11);
	l[s] = l[s] $0 "\n"; if ($0 ~ /^type=URINGOP/ || ($0 ~ /^type=SYSCALL/ && $0 ~ / syscall=426 /)) u[s] = 1 } }
	END { for (s in u) printf "%s", l[s] }' > /tmp/uring.log
emit uring.log /tmp/uring.log
