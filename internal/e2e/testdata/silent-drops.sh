# shellcheck shell=sh
# TestSilentDrops: auditd stopped (SIGSTOP) under load on a kernel booted
# without audit=1: kauditd's unicasts time out, records go to the retry
# queue and from there are freed without the kernel counting them lost.
auditctl -b 64 --backlog_wait_time 0 >/dev/null
# As in overload: the rule exists only between the two kernel readings,
# both inside the recording. Taken outside it, auditprof's own opens as it
# stopped (auditd just resumed, the queue still full) lose records the
# kernel's delta counts and the recording cannot.
record e --duration 120s
status_to e.before
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
AUDITD=$(auditctl -s | awk '$1=="pid"{print $2}')
kill -STOP $AUDITD
stress-ng --open 1 --timeout 3s --quiet
sleep 4
kill -CONT $AUDITD
sleep 2
auditctl -D >/dev/null
status_to e.after
finish e
