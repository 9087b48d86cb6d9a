# shellcheck shell=sh
# TestSmoke: the real auditd, a syscall rule, a stress-ng load, and what
# auditd logged.
step() { read -r up _ </proc/uptime; echo "step $up $*"; }
step start
auditd || { echo "auditd failed to start: $?"; exit 10; }
if ! wait_for_auditd 30; then
	echo "auditd did not register"
	auditctl -s
	exit 11
fi
step auditd registered
# The kernel's default backlog limit is 64 and backlog_wait_time 60 s (15000
# jiffies at HZ=250): with it, a producer sometimes sleeps the full 60 s in
# audit_log_start although auditd keeps up. Use the limit of
# Debian's default audit.rules instead.
auditctl -b 8192 >/dev/null || exit 12
auditctl -a always,exit -F arch=b64 -S openat -k smoke || exit 12
stress-ng --open 1 --open-ops 2000 --timeout 60s >/tmp/stress.log 2>&1 || { cat /tmp/stress.log; exit 13; }
step "stress-ng done"
# Delete the rule first: the grep below opens files too and would keep the
# count growing. auditd writes asynchronously: wait until it stops growing.
auditctl -D >/dev/null || exit 14
prev=-1
for _ in $(seq 50); do
	n=$(grep -c 'key="smoke"' /var/log/audit/audit.log)
	[ "$n" -gt 0 ] && [ "$n" = "$prev" ] && break
	prev=$n
	sleep 0.2
done
step log settled
auditctl -s | emit status
grep -c 'key="smoke"' /var/log/audit/audit.log | emit count
uname -r | emit uname
