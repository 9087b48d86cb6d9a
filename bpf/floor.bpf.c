// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/*
 * floor.bpf.c: the cost of attaching at all (issue 14's "floor"). The same
 * hooks as backlog.bpf.c, in both families, each program doing the least a
 * counting program can: one increment of a per-CPU array slot. make bench
 * runs it beside auditprof, so auditprof's cost reads as this floor plus
 * its own work. The helper attaches a set of them (its -set flag: the
 * old hook set by default, or issue 14's candidate sets), so the programs
 * for audit_log_end and netlink_unicast are loaded only when a set names
 * them. Loaded only by the benchmark's guest helper
 * (internal/e2e/floor), never by auditprof.
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* One slot per program, so the helper can say each one ran. */
enum floor_slot {
	FLOOR_LOG_START,
	FLOOR_LOG_START_RET,
	FLOOR_LOG_LOST,
	FLOOR_QUEUE_TAIL,
	FLOOR_SCHEDULE_TIMEOUT,
	FLOOR_SCHEDULE_TIMEOUT_RET,
	FLOOR_SEND_QUEUE,
	FLOOR_SEND_QUEUE_RET,
	FLOOR_HOLD_SKB,
	FLOOR_HOLD_SKB_RET,
	FLOOR_LOG_END,
	FLOOR_UNICAST_RET,
	FLOOR_MULTICAST,
	FLOOR_WAIT_JOIN,
	FLOOR_RECEIVE_RET,
	FLOOR_SLOTS,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOOR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

static __always_inline int count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&runs, &slot);

	if (n)
		(*n)++;
	return 0;
}

#define FLOOR(sec, name, slot) \
	SEC(sec) int name(void *ctx) { return count(slot); }

FLOOR("fentry/audit_log_start", fentry_audit_log_start, FLOOR_LOG_START)
FLOOR("fexit/audit_log_start", fexit_audit_log_start, FLOOR_LOG_START_RET)
FLOOR("fentry/audit_log_lost", fentry_audit_log_lost, FLOOR_LOG_LOST)
FLOOR("fentry/skb_queue_tail", fentry_skb_queue_tail, FLOOR_QUEUE_TAIL)
FLOOR("fentry/schedule_timeout", fentry_schedule_timeout, FLOOR_SCHEDULE_TIMEOUT)
FLOOR("fexit/schedule_timeout", fexit_schedule_timeout, FLOOR_SCHEDULE_TIMEOUT_RET)
FLOOR("fentry/kauditd_send_queue", fentry_kauditd_send_queue, FLOOR_SEND_QUEUE)
FLOOR("fexit/kauditd_send_queue", fexit_kauditd_send_queue, FLOOR_SEND_QUEUE_RET)
FLOOR("fentry/kauditd_hold_skb", fentry_kauditd_hold_skb, FLOOR_HOLD_SKB)
FLOOR("fexit/kauditd_hold_skb", fexit_kauditd_hold_skb, FLOOR_HOLD_SKB_RET)
FLOOR("fentry/audit_log_end", fentry_audit_log_end, FLOOR_LOG_END)
FLOOR("fexit/netlink_unicast", fexit_netlink_unicast, FLOOR_UNICAST_RET)
FLOOR("fentry/kauditd_send_multicast_skb", fentry_kauditd_send_multicast_skb, FLOOR_MULTICAST)
FLOOR("fentry/add_wait_queue_exclusive", fentry_add_wait_queue_exclusive, FLOOR_WAIT_JOIN)
FLOOR("fexit/audit_receive", fexit_audit_receive, FLOOR_RECEIVE_RET)

FLOOR("kprobe/audit_log_start", kprobe_audit_log_start, FLOOR_LOG_START)
FLOOR("kretprobe/audit_log_start", kretprobe_audit_log_start, FLOOR_LOG_START_RET)
FLOOR("kprobe/audit_log_lost", kprobe_audit_log_lost, FLOOR_LOG_LOST)
FLOOR("kprobe/skb_queue_tail", kprobe_skb_queue_tail, FLOOR_QUEUE_TAIL)
FLOOR("kprobe/schedule_timeout", kprobe_schedule_timeout, FLOOR_SCHEDULE_TIMEOUT)
FLOOR("kretprobe/schedule_timeout", kretprobe_schedule_timeout, FLOOR_SCHEDULE_TIMEOUT_RET)
FLOOR("kprobe/kauditd_send_queue", kprobe_kauditd_send_queue, FLOOR_SEND_QUEUE)
FLOOR("kretprobe/kauditd_send_queue", kretprobe_kauditd_send_queue, FLOOR_SEND_QUEUE_RET)
FLOOR("kprobe/kauditd_hold_skb", kprobe_kauditd_hold_skb, FLOOR_HOLD_SKB)
FLOOR("kretprobe/kauditd_hold_skb", kretprobe_kauditd_hold_skb, FLOOR_HOLD_SKB_RET)
FLOOR("kprobe/audit_log_end", kprobe_audit_log_end, FLOOR_LOG_END)
FLOOR("kretprobe/netlink_unicast", kretprobe_netlink_unicast, FLOOR_UNICAST_RET)
FLOOR("kprobe/kauditd_send_multicast_skb", kprobe_kauditd_send_multicast_skb, FLOOR_MULTICAST)
FLOOR("kprobe/add_wait_queue_exclusive", kprobe_add_wait_queue_exclusive, FLOOR_WAIT_JOIN)
FLOOR("kretprobe/audit_receive", kretprobe_audit_receive, FLOOR_RECEIVE_RET)
