# shellcheck shell=sh
# The guest script of `make demo` (main.go): auditd held to a fifth of the
# CPU, rules on openat and chdir, three bursts of load recorded by
# auditprof, recommend --apply, and the same load again.
auditd || { echo "auditd failed to start"; exit 1; }
wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
# A consumer that falls behind during bursts: auditd held to a fifth of the
# guest's one CPU (cgroup v2 cpu.max), as a disk-bound auditd is held by its
# disk; it catches up between bursts.
mkdir -p /sys/fs/cgroup/consumer
echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
echo "20000 100000" > /sys/fs/cgroup/consumer/cpu.max
echo "$(pidof auditd)" > /sys/fs/cgroup/consumer/cgroup.procs
# A small backlog, as many hosts still have, and rules on openat and chdir.
auditctl -b 256 --backlog_wait_time 0 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -k file-open >/dev/null
auditctl -a always,exit -F arch=b64 -S chdir -k dir-change >/dev/null
mkdir -p /etc/audit/rules.d
# The load: three bursts of a fixed amount of work, 5 s apart.
load() { for _ in 1 2 3; do stress-ng --open 2 --open-ops 1500 --chdir 1 --chdir-dirs 64 --chdir-ops 20 --quiet; sleep 5; done; }
lost() { auditctl -s | awk '$1=="lost"{print $2}'; }
# measure NAME: record the load with auditprof, and the kernel's lost counter around it.
measure() {
	rm -f /tmp/ready
	L0=$(lost)
	auditprof record --ready-file /tmp/ready --output /tmp/$1.json > /tmp/$1.txt 2>&1 &
	AP=$!
	wait_for_file /tmp/ready 60 || { cat /tmp/$1.txt; exit 1; }
	load
	kill -INT $AP; wait $AP
	echo $(( $(lost) - L0 )) > /tmp/$1.lost
	emit $1 /tmp/$1.txt; emit $1.lost /tmp/$1.lost
}
auditprof status > /tmp/status.txt 2>&1; emit status /tmp/status.txt
measure before
auditprof recommend --profile /tmp/before.json --apply --persist /etc/audit/rules.d/50-backlog.rules > /tmp/rec.txt 2>&1
echo $? > /tmp/rec.rc; emit recommend /tmp/rec.txt; emit recommend.rc /tmp/rec.rc
measure after
auditprof status > /tmp/status2.txt 2>&1; emit status-after /tmp/status2.txt
