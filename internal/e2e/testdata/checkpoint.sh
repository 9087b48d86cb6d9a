# shellcheck shell=sh
# TestCheckpoint (issue 20, items 4 to 6): a recording whose output
# filesystem (a small tmpfs) fills and empties again while records are
# lost, then is killed with SIGKILL; and one that finds it full at its end.
# CHECKPOINT is record's --checkpoint in seconds, CHECKPOINT_WAIT longer
# than one checkpoint and its write.
# shellcheck disable=SC2034 # MODE and OUT_DIR are read by record and finish (prelude.sh)
MODE=auto
consumer_quota 20000
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
auditctl -b 300 --backlog_wait_time 0 >/dev/null
settle
mkdir -p /out
mount -t tmpfs -o size=8m tmpfs /out || { echo "mounting a tmpfs failed"; exit 1; }
OUT_DIR=/out
burst() { stress-ng --open 2 --open-ops 1500 --quiet; }
# fill: nothing more fits in /out (dd stops at ENOSPC).
fill() { dd if=/dev/zero of=/out/fill bs=4k 2>/dev/null; [ "$(df -k /out | awk 'NR == 2 {print $4}')" = 0 ] || { df -k /out; echo "/out is not full"; exit 1; }; }

status_to a.before
record a --duration 600s --checkpoint "${CHECKPOINT}s"
burst; settle
sleep "$CHECKPOINT_WAIT"
status_to a.mid
cp /out/a.json /tmp/a.ck1.json
# Full: checkpoints fail (the last one written stays), the journal holds
# its rows in memory: the burst's, and a trickle's, an open every 10 ms for
# 300 rounds, each in a bucket of its own: more rows than the journal's
# last page has room for.
fill
burst; settle
i=0
while [ $i -lt 300 ]; do : < /etc/hostname; sleep 0.01; i=$((i + 1)); done
sleep "$CHECKPOINT_WAIT"
cp /out/a.json /tmp/a.ck2.json
# Room again: the journal catches up, checkpoints are written again.
rm -f /out/fill
sleep "$CHECKPOINT_WAIT"
status_to a.after
cp /out/a.json /tmp/a.ck3.json
kill -9 $AP; wait $AP
emit a.out /tmp/a.out
emit a.ck1.json /tmp/a.ck1.json
emit a.ck2.json /tmp/a.ck2.json
emit a.ck3.json /tmp/a.ck3.json
# What a user does with what was left: the last checkpoint.
cmd arec recommend --profile /out/a.json
cmd avalid validate --profile /out/a.json --backlog-limit 300 --json
cmd arecj recommend --profile /out/a.json --json
rm -f /out/a.json /out/a.json.partial

# Full at the end: the profile is saved in the fallback directory, whole.
status_to b.before
record b --duration 600s --checkpoint "${CHECKPOINT}s"
burst; settle
fill
burst; settle
status_to b.after
kill -INT $AP
wait $AP; echo $? > /tmp/b.rc
emit b.rc /tmp/b.rc; emit b.out /tmp/b.out
SAVED=$(sed -n 's/.*the profile is saved in \([^ ]*\) instead.*/\1/p' /tmp/b.out)
[ -n "$SAVED" ] && emit b.json "$SAVED"
rm -f /out/fill
