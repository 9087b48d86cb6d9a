# shellcheck shell=sh
# The start of every e2e guest script (guestScript): the real auditd,
# registered, and the helpers the scenarios share. MODE and RECORD_FLAGS,
# read by record, come from the test (vmtest.Options.Vars) or the script.
auditd || { echo "auditd failed to start"; exit 1; }
wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
uname -r > /tmp/uname; emit uname /tmp/uname
# status_to NAME: the kernel's counters, read by the real auditctl.
status_to() { auditctl -s > /tmp/$1.status; emit $1 /tmp/$1.status; }
# per_key NAME: what auditd received: one line per keyed event,
# "key serial records" (auditd does not log EOE records).
per_key() {
	awk '{ if (match($0, /msg=audit\([0-9.]+:[0-9]+\)/)) { s = substr($0, RSTART+10, RLENGTH-11); n[s]++;
		if ($0 ~ /^type=SYSCALL/ && match($0, / key="[^"]*"/)) k[s] = substr($0, RSTART+6, RLENGTH-7) } }
		END { for (s in n) if (s in k) { split(s, a, ":"); print k[s], a[2], n[s] } }' \
		/var/log/audit/audit.log > /tmp/$1.keys
	emit $1 /tmp/$1.keys
}
# settle: wait until the audit queue is empty.
backlog() { auditctl -s | awk '$1 == "backlog" {print $2}'; }
settle() { for _ in $(seq 120); do [ "$(backlog)" = 0 ] && return; sleep 0.5; done; echo "the queue did not empty: $(backlog)"; exit 1; }
# consumer_quota QUOTA: hold auditd to QUOTA microseconds of CPU per 100 ms
# (cgroup v2 cpu.max), or "max" for none: a consumer whose pace does not
# depend on the load, as a disk-bound auditd's is set by its disk. On the
# one vCPU the guests run on, an auditd free to run keeps up with two
# stress-ng openers on 6.1 (the queue never passed 6 at limit 64), so an
# overload needs a slower consumer.
consumer_quota() {
	mkdir -p /sys/fs/cgroup/consumer
	grep -q cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
	echo "$1 100000" > /sys/fs/cgroup/consumer/cpu.max
	echo "$(pidof auditd)" > /sys/fs/cgroup/consumer/cgroup.procs
}
# overload NAME WAIT_TIME WORKERS: backlog_limit 64, a rule on every openat,
# and more stress-ng openers than auditd keeps up with.
# The rule exists only between the two kernel readings, and both fall
# inside the recording: auditprof's own opens as it starts and ends (at
# limit 64) could otherwise lose a record outside the recording that the
# kernel's delta counts.
overload() {
	auditctl -b 64 --backlog_wait_time $2 >/dev/null
	record $1 --duration 120s
	status_to $1.before
	auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
	stress-ng --open $3 --timeout 3s --quiet
	sleep 2
	auditctl -D >/dev/null
	status_to $1.after
	finish $1
	settle
}
# cmd NAME ARGS...: run auditprof, keep its output and exit code.
cmd() { n=$1; shift; auditprof "$@" > /tmp/$n.out 2>&1; echo $? > /tmp/$n.rc; emit $n.out /tmp/$n.out; emit $n.rc /tmp/$n.rc; }
# record NAME ARGS...: auditprof record in the background, ready when it
# counts; its profile is NAME.json in OUT_DIR (default /tmp).
record() {
	name=$1; shift
	rm -f /tmp/ready
	auditprof record --attach $MODE $RECORD_FLAGS --ready-file /tmp/ready --output "${OUT_DIR:-/tmp}/$name.json" "$@" > /tmp/$name.out 2>&1 &
	AP=$!
	wait_for_file /tmp/ready 60 || { cat /tmp/$name.out; echo "auditprof did not get ready"; exit 1; }
}
# finish NAME: stop auditprof with SIGINT, as Ctrl-C would, and collect.
finish() {
	kill -INT $AP
	wait $AP; echo $? > /tmp/$1.rc
	emit $1.rc /tmp/$1.rc; emit $1.json "${OUT_DIR:-/tmp}/$1.json"; emit $1.out /tmp/$1.out
}
