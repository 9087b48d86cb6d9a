# shellcheck shell=sh
# TestConsumerFlush: auditd writing its log to a disk with real latency in
# guest time (null_blk, memory-backed, each I/O completed by the guest's
# own timer after 2 ms: irqmode=2, completion_nsec), an ext2 made by
# e2fsprogs' mke2fs mounted at /var/log/audit, and the same load recorded
# with flush = incremental_async, data and sync, auditd restarted for each.
# The rule covers login uid 1000 only, so auditprof's own opens are not
# audited.
# auditd is measured as record does by default (--consumer sample).
insmod /lib/modules/configfs.ko || { echo "insmod configfs failed"; exit 1; }
insmod /lib/modules/null_blk.ko nr_devices=1 gb=1 bs=4096 memory_backed=1 irqmode=2 completion_nsec=2000000 ||
	{ echo "insmod null_blk failed"; exit 1; }
wait_for_file /dev/nullb0 10 || { echo "no /dev/nullb0"; exit 1; }
# stop_auditd: auditd exits on SIGTERM. The kernel keeps its pid until a
# send to it fails or another auditd registers (AUDIT_SET replaces a pid
# whose socket is gone).
stop_auditd() {
	_a=$(pidof auditd)
	kill "$_a"
	wait_for_pid "$_a" 10 || { echo "auditd did not stop"; exit 1; }
}
stop_auditd
mke2fs -q -F /dev/nullb0 >/dev/null || { echo "mke2fs failed"; exit 1; }
mount -t ext2 /dev/nullb0 /var/log/audit || { echo "mount failed"; exit 1; }
auditctl -b 8192 --backlog_wait_time 0 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -F auid=1000 -k load >/dev/null
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
MODE=auto
for FLUSH in incremental_async data sync; do
	sed -i "s/^flush = .*/flush = $FLUSH/" /etc/audit/auditd.conf
	auditd || { echo "auditd failed to start"; exit 1; }
	wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
	record $FLUSH --duration 600s
	cp /sys/block/nullb0/stat /tmp/$FLUSH.disk
	( echo 1000 > /proc/self/loginuid && exec stress-ng --open 1 --open-ops 300 --quiet )
	settle
	cat /sys/block/nullb0/stat >> /tmp/$FLUSH.disk
	emit $FLUSH.disk /tmp/$FLUSH.disk
	finish $FLUSH
	stop_auditd
done
