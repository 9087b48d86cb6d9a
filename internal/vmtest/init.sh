#!/bin/sh
# The guest's /init (busybox sh, PID 1): mounts what the tests use, runs
# lib.sh and then the test's script in one shell, prints its exit status
# between markers Run looks for, and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
_m() { # _m TYPE DIR [OPTIONS]
	mkdir -p "$2"
	mount -t "$1" ${3:+-o "$3"} "$1" "$2" || echo "vmtest: cannot mount $1 on $2" >&2
}
_m proc /proc
_m sysfs /sys
_m devtmpfs /dev
_m devpts /dev/pts
_m tmpfs /dev/shm mode=1777
_m tmpfs /tmp mode=1777
_m tmpfs /var/log/audit mode=0700
_m debugfs /sys/kernel/debug
_m tracefs /sys/kernel/tracing
_m bpf /sys/fs/bpf
_m cgroup2 /sys/fs/cgroup
hostname vmtest 2>/dev/null
ip link set lo up 2>/dev/null
read -r _up _ </proc/uptime
echo "=== VMTEST START uptime=$_up kernel=$(uname -r) ==="
# Should /tmp be missing, the script runs from / rather than PID 1 exiting.
# shellcheck disable=SC2164
cd /tmp
sh -c '. /vmtest/lib.sh; . /vmtest/script.sh' vmtest </dev/null
_rc=$?
read -r _up _ </proc/uptime
echo "=== VMTEST EXIT $_rc uptime=$_up ==="
# Let the serial port drain before the power goes.
sleep 0.3
# power_cut (lib.sh): no sync, no unmount; sysrq b reboots at once, and
# qemu (-no-reboot) exits.
[ -e /tmp/.vmtest-power-cut ] && echo b >/proc/sysrq-trigger
poweroff -f
