# shellcheck shell=sh
# TestTrampolineUpdate: an audited load recorded twice, with fentry and
# with kprobes, while another BPF tool (auditprof top, fentry on these
# kernels) attaches its own programs to audit_log_start and detaches them
# six times. The load's producers spend most of their time asleep inside
# audit_log_start, in the backlog wait (limit 64, auditd held to a fifth of
# the CPU), so each trampoline update finds some of them there; the wait
# (60 s at HZ 250) never runs out, so none of the load's records is lost
# and every one auditd writes was made. The workers run on after the last
# update, so every return they missed is seen. (The kernel does lose some:
# records that cannot wait, made with GFP_ATOMIC, such as the BPF program
# load and unload records of top's own programs.) The rule covers login uid
# 1000 only: top's own opens do not wait.
consumer_quota 20000
auditctl -b 64 --backlog_wait_time 15000 >/dev/null
: > /var/log/audit/audit.log
auditctl -a always,exit -F arch=b64 -S openat -F auid=1000 -k hot >/dev/null
for MODE in fentry kprobe; do
	record $MODE --duration 600s
	status_to $MODE.before
	# One load for the whole recording, stopped a second after the last
	# detach: its workers then start records again, and each finds its
	# missed return (a worker that exited with one would not be seen).
	# (Exec'd in the subshell, so that $L is stress-ng, which handles
	# SIGINT: a background shell of this one would ignore it.)
	( echo 1000 > /proc/self/loginuid && exec stress-ng --open 2 --timeout 600s --quiet ) &
	L=$!
	for _ in $(seq 6); do auditprof top --once --json --interval 1s > /dev/null 2>> /tmp/top.err; done
	sleep 1
	kill -INT $L; wait $L
	settle
	status_to $MODE.after
	# The kernel's own miss counts for the tracefs probes (kprobe mode's
	# return probe is one: its maxactive needs tracefs), read before the
	# recording ends and removes them.
	cat /sys/kernel/tracing/kprobe_profile > /tmp/$MODE.kprobes 2>&1
	emit $MODE.kprobes /tmp/$MODE.kprobes
	finish $MODE
done
auditctl -D >/dev/null
emit top.err /tmp/top.err
per_key keys
