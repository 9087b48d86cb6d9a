# shellcheck shell=sh
# TestSettingsChange (issue 20): the audit settings changed during a
# recording, as configuration management and operators change them: a
# burst at backlog_limit 300 (records lost), the rules reloaded with the
# limit raised to 20000 as augenrules --load does it (auditctl -D, -b, the
# rule again), the same burst (nothing lost), audit disabled and enabled
# again; then a recorder killed after a change, whose journal keeps it.
# POLL_WAIT (from recording.ConsumerSampleEvery) is longer than the time
# between two of record's AUDIT_GET reads.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
MODE=auto
consumer_quota 20000
rule() { auditctl -a always,exit -F arch=b64 -S openat -k "$1" >/dev/null; }
burst() { stress-ng --open 2 --open-ops 1500 --quiet; }
rule load
auditctl -b 300 --backlog_wait_time 0 >/dev/null
settle
status_to m.before
record m --duration 600s
burst; settle
status_to a
auditctl -D >/dev/null; auditctl -b 20000 >/dev/null; rule load2
# Past record's next AUDIT_GET: the burst starts at the new limit.
sleep "$POLL_WAIT"
status_to b.before
burst; settle
status_to b.after
auditctl -e 0 >/dev/null
sleep 2
auditctl -e 1 >/dev/null
# Overload on both sides of audit off and on: the burst before (b), and
# this one.
burst; settle
# The poll sees audit on before auditd is killed.
sleep "$POLL_WAIT"
# auditd killed (SIGKILL: it cannot unregister) while records come, and
# started again after 3 s of opens: kauditd holds what it drains.
A1=$(pidof auditd)
kill -9 "$A1"
wait_for_pid "$A1" 10 || { echo "auditd did not die"; exit 1; }
stress-ng --open 1 --open-ops 300 --quiet
i=0
while [ $i -lt 60 ]; do : < /etc/hostname; sleep 0.05; i=$((i + 1)); done
auditd || { echo "auditd failed to start"; exit 1; }
wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
{ echo "$A1"; pidof auditd; } > /tmp/killed.pids
emit killed.pids /tmp/killed.pids
settle
sleep 2
finish m
status_to m.after
cmd rec recommend --profile /tmp/m.json --json
# status names the last change of the limit from auditd's log.
cmd st status --json

# Killed: the journal keeps the change made before the kill.
record k --duration 600s
auditctl -b 500 >/dev/null
# Past record's next AUDIT_GET read, then a journal write (each second).
sleep $((POLL_WAIT + 1))
kill -9 $AP; wait $AP
emit k.json /tmp/k.json.partial
auditctl -D >/dev/null
