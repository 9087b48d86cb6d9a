# shellcheck shell=sh
# TestPrograms (issue 13): attribution by program that survives thousands
# of short-lived processes. Recorded with --attach $MODE $RECORD_FLAGS, at
# the default map sizes: 6,000 short-lived `cat` processes from one shell
# loop, then one long-lived stress-ng opener. Nothing may be lost, so that
# every count can be held against auditd's log.
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
status_to p.before
# --process-min-age 500ms: a `cat` lives a few milliseconds, the stress-ng
# worker over a second, so that it gets a row of its own for part of its
# run whatever the host's load.
record p --duration 3600s --process-min-age 500ms
# One redirect for the whole loop: a redirect per command would be opened
# by each forked shell before it execs cat, and make `sh` as busy as `cat`.
i=0
while [ $i -lt 6000 ]; do cat /etc/passwd; i=$((i+1)); done > /dev/null
stress-ng --open 1 --open-ops 3000 --quiet
settle
finish p
auditctl -D >/dev/null
status_to p.after
sleep 2
# by_comm: what auditd logged, one line per syscall event, "comm serial
# records pid" (the SYSCALL record's comm= and pid=; auditd does not log
# EOE records), over every log file: auditd rotates at max_log_file.
# shellcheck disable=SC2046 # the log files' names have no spaces
cat $(ls -r /var/log/audit/audit.log*) | awk '{ if (match($0, /msg=audit\([0-9.]+:[0-9]+\)/)) { s = substr($0, RSTART+10, RLENGTH-11); n[s]++;
	if ($0 ~ /^type=SYSCALL/ && match($0, / comm=[^ ]*/)) { c[s] = substr($0, RSTART+6, RLENGTH-6);
		if (match($0, / pid=[0-9]+/)) p[s] = substr($0, RSTART+5, RLENGTH-5) } } }
	END { for (s in n) if (s in c) { split(s, a, ":"); print c[s], a[2], n[s], p[s] } }' > /tmp/by_comm
emit by_comm /tmp/by_comm
