# shellcheck shell=sh
# TestRuleSet, the proof of the noisy-rules issue: a real rule set (the
# auditd package's STIG example) plus one deliberately hot rule, a load of a
# logged-in user (login uid 1000, so that the STIG rules apply) that touches
# several of its keys at different rates, and every view of it: record,
# rules, top --once --json, and the exporter scraped over loopback.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
MODE=auto
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
# The STIG rules as shipped; a watch on a path this VM lacks cannot load.
: > /tmp/stig.rules; : > /tmp/stig.skipped
while IFS= read -r line; do
	case "$line" in ""|"#"*) continue ;; esac
	p=$(echo "$line" | sed -n -e 's/^-w \([^ ]*\).*/\1/p' -e 's/.*-F dir=\([^ ]*\).*/\1/p')
	if [ -n "$p" ] && [ ! -e "$p" ]; then echo "$line" >> /tmp/stig.skipped; continue; fi
	echo "$line" >> /tmp/stig.rules
done < /etc/audit/examples/30-stig.rules
auditctl -R /tmp/stig.rules > /tmp/stig.load 2>&1; echo $? > /tmp/stig.rc
emit stig.skipped /tmp/stig.skipped; emit stig.load /tmp/stig.load; emit stig.rc /tmp/stig.rc
# The deliberately hot rule: every openat of the user's session.
auditctl -a always,exit -F arch=b64 -S openat -F auid=1000 -k hot >/dev/null
# Nothing may be lost (producers wait instead): counts must equal auditd's.
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
auditctl -l > /tmp/loaded; emit loaded /tmp/loaded
: > /var/log/audit/audit.log
echo x > /tmp/a; echo x > /tmp/f
# as_user CMD...: run CMD in a session of login uid 1000, as pam_loginuid
# sets it at login.
as_user() { ( echo 1000 > /proc/self/loginuid && exec "$@" ); }

status_to r.before
rm -f /tmp/xready
auditprof exporter --ready-file /tmp/xready --output /tmp/x.json > /tmp/x.out 2>&1 &
XP=$!
wait_for_file /tmp/xready 60 || { cat /tmp/x.out; echo "the exporter did not get ready"; exit 1; }
record r --duration 600s
# The hot load runs until top has taken its frame (attaching takes seconds
# under emulation, more with other VMs on the same cores), in rounds of 2 s:
# a background job of this shell ignores SIGINT.
rm -f /tmp/top.done
as_user sh -c 'while [ ! -e /tmp/top.done ]; do stress-ng --open 2 --timeout 2s --quiet; done' &
L=$!
# Keys at rates far apart: delete (rename), perm_mod (chmod),
# system-locale (sethostname), identity (a watch on /etc/passwd).
as_user sh -c 'for i in $(seq 150); do mv /tmp/a /tmp/b; mv /tmp/b /tmp/a; done
	for i in $(seq 60); do chmod 600 /tmp/f; done
	for i in $(seq 20); do hostname vm$i; done
	for i in $(seq 6); do chmod 644 /etc/passwd; done' &
S=$!
sleep 2
auditprof top --once --json --interval 3s > /tmp/top.out 2> /tmp/top.err; echo $? > /tmp/top.rc
emit top.out /tmp/top.out; emit top.err /tmp/top.err; emit top.rc /tmp/top.rc
touch /tmp/top.done
wait $L; wait $S
# Quiet now: let auditd take the queue, the exporter take a snapshot.
n=0; while [ "$(auditctl -s | awk '$1 == "backlog" {print $2}')" != 0 ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
sleep 3
wget -q -O /tmp/metrics http://127.0.0.1:9812/metrics; echo $? > /tmp/metrics.rc
emit metrics /tmp/metrics; emit metrics.rc /tmp/metrics.rc
kill -INT $XP; wait $XP; echo $? > /tmp/x.rc
emit x.rc /tmp/x.rc; emit x.json /tmp/x.json; emit x.out /tmp/x.out
finish r
status_to r.after
per_key r.keys
cmd rules rules --profile /tmp/r.json --json --top 0
