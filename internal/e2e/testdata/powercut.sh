# shellcheck shell=sh
# TestPowerCut (issue 20, item 4), the first boot: a recording to an ext4
# disk (commit=60: nothing but an fsync commits its journal in the test's
# time) until a checkpoint replaces the first one; it is copied and the
# recorder stopped (SIGSTOP: no later checkpoint), then the power goes.
# CHECKPOINT is record's --checkpoint in seconds.
# shellcheck disable=SC2034 # MODE and OUT_DIR are read by record (prelude.sh)
MODE=auto
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
mkdir -p /mnt/out
mount -t ext4 -o commit=60 /dev/nvme0n1 /mnt/out || { echo "mounting the disk failed"; exit 1; }
OUT_DIR=/mnt/out
record p --duration 600s --checkpoint "${CHECKPOINT}s"
stress-ng --open 1 --open-ops 2000 --quiet
ino() { stat -c %i /mnt/out/p.json 2>/dev/null; }
wait_for_file /mnt/out/p.json 60 || { cat /tmp/p.out; echo "no first checkpoint"; exit 1; }
first=$(ino)
# A new inode: the next checkpoint renamed over the first.
_replaced() { [ "$(ino)" != "$first" ]; }
_vmtest_wait 60 _replaced || { cat /tmp/p.out; echo "no second checkpoint"; exit 1; }
# Its directory is synced right after the rename.
sleep 0.5
kill -STOP $AP
cp /mnt/out/p.json /tmp/seen.json
emit seen.json /tmp/seen.json
power_cut
