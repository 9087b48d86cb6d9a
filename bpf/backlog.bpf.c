// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/*
 * backlog.bpf.c: counts what the kernel audit backlog does, in kernel maps.
 *
 * Every attach point has two variants in this one object, fentry/fexit and
 * kprobe/kretprobe; user space picks one family before load and deletes the
 * other from the spec. The programs only count: they never copy record
 * contents and never wake user space per record. Every map is bounded and
 * every overflow is counted in struct counters.
 *
 * Attach points and why (kernel/audit.c as of 4.18 .. 6.18):
 *   audit_log_start     entry+exit: one call per record; the backlog wait
 *                        (schedule_timeout, TASK_UNINTERRUPTIBLE) happens
 *                        inside it, and ctx->major/ctx->filterkey are final.
 *                        With fentry the entry is left out where the two
 *                        hooks below can be used (start_entry).
 *   add_wait_queue_exclusive, audit_receive (exit): fentry without
 *                        audit_log_start's entry: where a call's backlog
 *                        wait begins, and audit_receive's penalty sleep.
 *   audit_log_lost      every counted loss, with its reason string.
 *   audit_log_end       entry only: the enqueue on audit_queue, where the
 *                        kernel allows (below). One run per record, where
 *                        skb_queue_tail runs for every AF_UNIX and netlink
 *                        message of the machine.
 *   skb_queue_tail      the other kernels' enqueue hook, filtered on
 *                        &audit_queue (and the retry and hold queues): every
 *                        enqueue, whoever calls it, and kauditd's unicasts
 *                        onto auditd's socket (received).
 *   schedule_timeout    while the task is inside audit_log_start: the
 *                        backlog wait, accounted in jiffies exactly as
 *                        backlog_wait_time_actual is.
 *   kauditd_send_queue  kauditd's drain (each pass takes what is queued),
 *                        and the queue addresses where kallsyms has no
 *                        data symbols (its 3rd argument is the queue).
 *   kauditd_hold_skb    entry+exit: a record that leaves it neither
 *                        requeued nor counted by audit_log_lost was freed
 *                        silently (booted without audit=1, auditd slow or
 *                        gone): the kernel's lost counter misses those.
 *   kauditd_retry_skb   entry+exit, with audit_log_end only: the main
 *                        queue's error hook while auditd is connected.
 *
 * Which enqueue hook (user space decides before load, enqueue_at_log_end,
 * and deletes the other's programs):
 * - audit_log_end(ab), where the kernel's BTF has it with a struct
 *   audit_buffer * first argument whose struct has skb and no skb_list,
 *   kallsyms has no audit_log_end.part.* and has the data symbols
 *   audit_queue, audit_retry_queue and audit_hold_queue
 *   (CONFIG_KALLSYMS_ALL): by the sources read (4.18-el8, 5.10, 5.15,
 *   Debian 6.1 and 6.12; the queue design since 4.11) up to 6.17, e.g.
 *   RHEL 8/9, Debian 6.1 and 6.12 (the two run here), AL2, AL2023, Ubuntu
 *   up to 5.15. There audit_log_end always queues ab->skb on audit_queue
 *   unless audit_rate_check fails, and then calls audit_log_lost("rate
 *   limit exceeded") and frees it: that loss takes back what the entry
 *   counted. Nothing else in it can fail to queue. Retry and hold queue
 *   enqueues are then counted in kauditd_retry_skb/kauditd_hold_skb (the
 *   queues' lengths at entry and exit; only kauditd moves records there),
 *   and records received by auditd where kauditd's netlink_unicast returns
 *   (fexit/kretprobe netlink_unicast: each send, in the bucket it happens
 *   in; counting them per kauditd_send_queue pass put a long pass's
 *   records in its last bucket, and its other buckets read as a stall).
 * - skb_queue_tail otherwise: 6.18 (audit_buffer.skb_list, read in the
 *   6.18.2 source; absent in 6.12.117: one buffer can hold several skbs,
 *   queued one by one by __audit_log_end), Ubuntu 5.19
 *   to 6.8 (audit_log_end split into a .part.0 body that audit.c's own
 *   callers call directly: a probe on the name misses their records; the
 *   same Ubuntu kernels also have skb_list), and kernels without data
 *   symbols in kallsyms (the queues' addresses are then learned from
 *   kauditd_send_queue, after the first pass).
 *
 * backlog.h holds what user space shares (map layouts, sizes, defaults);
 * core_fixes.bpf.h the kernel layouts that differ between versions.
 *
 * Kernel minimum, both families: 5.9, for bpf_jiffies64 in tracing and
 * kprobe programs (72e2b2b66f9c, "bpf: Allow tracing programs to use
 * bpf_jiffies64() helper"); bpf_probe_read_kernel{,_str} need 5.5
 * (6ae08ae3dea2). Distribution kernels may have them backported.
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "backlog.h"
#include "core_fixes.bpf.h"

#define AUDIT_SYSCALL 1300
/* The record of one io_uring operation, made by audit_log_uring: the first
 * record of an io_uring event, or a lone record inside the io_uring_enter
 * syscall that ran the operation inline (see rule_get). */
#define AUDIT_URINGOP 1336
/* audit_context.context's value for an io_uring operation (an anonymous
 * enum in kernel/audit.h: AUDIT_CTX_UNUSED, _SYSCALL, _URING), since 5.16. */
#define AUDIT_CTX_URING 2
#define CACHE_ALIGN(x) (((x) + 63) & ~63ULL)

char LICENSE[] SEC("license") = "GPL";

/* bpf2go finds a type only in the object's BTF, where clang puts an enum
 * only if code uses one of its values: these pointers keep the shared enums
 * there for the Go side (gen.go's -type), whatever the code uses. */
static const enum sizes *btf_sizes __attribute__((used));
static const enum defaults *btf_defaults __attribute__((used));
static const enum rule_syscall *btf_rule_syscall __attribute__((used));
static const enum consumer_cause *btf_consumer_cause __attribute__((used));
static const enum consumer_sizes *btf_consumer_sizes __attribute__((used));
static const enum proc_slot *btf_proc_slot __attribute__((used));
static const enum settings_sizes *btf_settings_sizes __attribute__((used));
static const enum claim_table *btf_claim_table __attribute__((used));

/* Set before load. */
const volatile __u64 bucket_ns = DEFAULT_BUCKET_NS;
const volatile __u32 timeline_slots = DEFAULT_TIMELINE_SLOTS;
const volatile __u64 fn_kauditd_hold_skb = 0;
const volatile __u64 fn_kauditd_rehold_skb = 0;
/* The enqueue is counted at audit_log_end's entry (true) or on
 * skb_queue_tail (false): see the header. */
const volatile bool enqueue_at_log_end = false;
/* kauditd_send_queue's exit program is attached (true), or only its entry
 * (false: the enqueue at audit_log_end without the consumer's sched_switch
 * program, which reads send.open): then a pass is accounted as it goes, at
 * each of kauditd's netlink_unicast returns and error hook exits inside it
 * (pass_progress), what it drains there one record at a time (drain_one),
 * and its exit runs nothing. One program run a pass fewer
 * (issue 14; 6.1's kauditd makes three passes a wake, about one wake a
 * record where auditd keeps up). */
const volatile bool send_exit = true;
/* audit_log_start's entry program is attached (true: kprobes, and fentry
 * where the hooks below cannot be), or its fexit alone (false: issue 14,
 * one program run a record fewer). fexit has the call's arguments, so the
 * entry only marked the call open for its backlog wait and its loss;
 * without it a wait is marked where the call joins audit_backlog_wait
 * (add_wait_queue_exclusive, at backlog_wait_addr: audit_log_start's loop,
 * 4.18 .. 6.18, adds itself there before every schedule_timeout), and a
 * loss by its reason (REASON_START: only audit_log_start logs those).
 * audit_receive's penalty sleep joins the same queue; its exit drops what
 * that sleep marked (backlog_wait_time_actual leaves it out too). */
const volatile bool start_entry = true;
const volatile __u64 backlog_wait_addr = 0;
/* Task local storage for tracing programs needs 5.12 (commit a10787e6d58c,
 * "bpf: Enable task local storage for tracing programs"); older kernels
 * keep the per-call state in the inflight hash instead. */
const volatile bool use_task_storage = true;
/* bpf_task_pt_regs, which tells the syscall a sleeping consumer thread is
 * in, needs 5.15 (dd6e10fbd9fb, "bpf: Add bpf_task_pt_regs() helper");
 * without it the sleep's cause is CAUSE_SLEEP_UNKNOWN. Dead code when
 * false, so older kernels load the program. */
const volatile bool have_task_pt_regs = false;
/* Sizes of the attribution arrays; slot 0 of each is "other", and slot 1
 * of procs the short-lived row (enum proc_slot). */
const volatile __u32 proc_slots_max = DEFAULT_MAX_PROCS + PROC_SLOT_FIRST;
const volatile __u32 rule_slots_max = DEFAULT_MAX_RULES + 1;
const volatile __u32 prog_slots_max = DEFAULT_MAX_PROGS + 1;
const volatile __u32 rule_prog_slots_max = DEFAULT_MAX_RULE_PROGS + 1;
/* auditprof's own tgid (os.Getpid): its records and its children's are
 * marked as its own in the program table (prog_key.self). */
const volatile __u32 self_tgid = 0;
/* A process gets a row of its own in procs once its group leader is this
 * old (now - group_leader->start_time, both CLOCK_MONOTONIC ns); what it
 * does younger goes to the short-lived row (PROC_SLOT_SHORT), so that a
 * swarm of short processes, which the program rows name, does not fill
 * the table. A process's row counts from the moment it reached the age.
 * 0: every process gets a row from its first record. */
const volatile __u64 proc_min_age_ns = DEFAULT_PROC_MIN_AGE_NS;

/* An audit_log_start call in progress: task_state.call, and .outer when a
 * nested call interrupted it. */
struct call_state {
	__u64 start_ns;        /* the call's first backlog sleep */
	__u64 ctx;
	__u64 wait_jiffies;    /* closed sleeps */
	__u64 sleep_start;     /* jiffies at the open sleep's start */
	__u64 sleep_timeout;   /* its timeout; 0: no open sleep */
	__u32 type;
	__u32 lost;
	__u32 sleeps;
	__u32 active;          /* inside audit_log_start */
};

/* Per task: the audit_log_start call in progress, and which process and
 * rule slot the task's records go to. Kept in task local storage, so that a
 * record costs no hash update or delete; the slot caches make the rule and
 * process lookups one per event instead of one per record. */
struct task_state {
	struct call_state call;
	/* The rule slot of the event last seen: valid while call.ctx, its
	 * serial (one per event), filterkey and major are unchanged. */
	__u64 rule_ctx;
	__u64 rule_serial;
	__u64 rule_filterkey;
	__s32 rule_major;
	__s32 rule_uring_op; /* rule_key.uring_op the slot was found for */
	__u32 rule_slot;
	__u32 rule_cached;
	__u32 proc_tgid;
	__u32 proc_slot;
	__u32 proc_cached;
	/* The process (young_tgid) is younger than proc_min_age_ns until
	 * young_until (ktime): its records go to the short-lived row with no
	 * read of the task until then. */
	__u32 young_tgid;
	__u64 young_until;
	/* The program slot: valid while the task's tgid, exec generation
	 * (self_exec_id, bumped by every exec) and comm (a process can rename
	 * itself, prctl PR_SET_NAME, as stress-ng's workers do) are those it
	 * was found for. prog_counted: this process was counted in the row's
	 * processes (prog_seen) by a record. */
	__u64 prog_exec_id;
	__u64 prog_comm[2];
	__u32 prog_tgid;
	__u32 prog_slot;
	__u32 prog_cached;
	__u32 prog_counted;
	/* The (rule, program) pair's slot: valid while the rule and program
	 * slots are those it was found for. */
	__u32 rp_rule;
	__u32 rp_prog;
	__u32 rp_slot;
	__u32 rp_cached;
	/* The bucket (epoch + 1; 0: none) this task last made a record in:
	 * counts each task once per bucket in tl_slot.producers. */
	__u64 producer_epoch;
	/* The record this task last entered audit_log_end with (enqueue at
	 * audit_log_end): what count_enqueue counted, for audit_log_lost to
	 * take back when the rate limit frees the record instead of queueing
	 * it. end_pending is cleared by that, and by the task's next
	 * audit_log_start, so that a loss whose audit_log_end entry was not
	 * seen takes back nothing. */
	__u64 end_bytes;
	__u64 end_epoch;
	__u32 end_proc_slot;
	__u32 end_prog_slot;
	__u32 end_pending;
	/* Without start_entry: audit_log_lost logged a REASON_START loss for
	 * this task's audit_log_start call, which its fexit takes. */
	__u32 start_lost;
	/* Without start_entry: the buffers this task's audit_log_start
	 * returned (fexit) that no audit_log_end has taken yet, the task's
	 * own and those interrupts' records made on top of it (a softirq's,
	 * and a hardirq's on that: three deep); and whether
	 * an fexit of this task was seen since counting began. An
	 * audit_log_end of a buffer not here is a call whose return fexit
	 * missed (a trampoline replaced while the call was inside: kernels
	 * since 5.12 return past the old trampoline's fexit programs), as
	 * the entry found a call still open before (issue 14). */
	__u64 open_ab[3];
	__u32 fexit_seen;
	/* A call this task's call interrupted. Records can be made in a
	 * softirq on top of whatever task was running, and that task may
	 * itself be inside audit_log_start: for example, we infer (it was
	 * not observed), the AUDIT_BPF unload record of a program freed in
	 * an RCU callback. The outer call is saved while the nested one runs
	 * and resumed when it returns. resumed: .call is such an outer call,
	 * whose own return may come (it was nested) or may have been missed
	 * (the task's next call finds it still open); returns_missed counted
	 * it once already. */
	struct call_state outer;
	__u32 outer_saved;
	__u32 resumed;
	/* The hash fallback only: the thread's start time (task->start_time),
	 * which tells the thread the entry was made for from a later one
	 * given the same pid. */
	__u64 task_start;
};

/* Set by user space once every program is attached, cleared before it
 * detaches: all counters then cover the same interval. */
volatile __u32 counting = 0;

/* The consumer: the process registered as auditd (AUDIT_GET's pid, set by
 * user space whenever it samples AUDIT_GET; -1: none) and since when its
 * threads are counted (ktime: the start, or the moment the pid changed).
 * kauditd's pid is learned in kauditd_send_queue, its only caller. */
volatile __s32 consumer_tgid = -1;
volatile __u64 consumer_since_ns = 0;
__s32 kauditd_pid = -1;

/* The kauditd_send_queue pass in progress (kauditd is a single thread):
 * which queue, since when, and auditd's portid, to tell its socket's
 * enqueues from the multicast copies kauditd queues in the same pass. */
struct {
	__u64 start;
	__u64 mark; /* without send_exit: the pass's time is accounted up to here */
	__u32 portid;
	__u32 queue; /* 0 main, 1 retry, 2 hold */
	__u32 open;
	__u32 hook; /* a main pass's err_hook: HOOK_RETRY (sk set) or HOOK_HOLD */
} send = {};

/* kauditd's error hooks, as send.hook and on_hold_skb_ret name them. */
#define HOOK_RETRY 1 /* kauditd_retry_skb */
#define HOOK_HOLD 2  /* kauditd_hold_skb */

/* A global, not a map: skb_queue_tail is hot system-wide and a plain load
 * is cheaper than a map lookup. */
struct queue_addrs qaddr = {};

/* Enqueues on audit_queue, and kauditd's drain (kauditd is a single thread:
 * one pass at a time). */
__u64 enq_main = 0;
struct {
	__s64 base;    /* records queued before counting began */
	__s64 last;    /* drained as of the last pass */
	__u32 started;
	__u32 open;    /* a pass of audit_queue is in progress */
} drain = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

/* The fallback for kernels before 5.12 (and --task-state hash), keyed by
 * pid_tgid: a thread's state stays between its calls, as in task storage,
 * so that its cached slots spare every later record the key building and
 * hash lookups. A thread that exits leaves its entry behind: task_get
 * tells a reused pid from it by the thread's start time (task_state.
 * task_start), and the LRU evicts the entries of threads long idle or
 * gone. An entry evicted while its thread is inside audit_log_start (more
 * than max_entries threads made records since) loses that call: counted
 * in inflight_missing. Shrunk to one entry when unused. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct task_state);
} inflight SEC(".maps");

/* The outermost kauditd_hold_skb or kauditd_retry_skb call in progress
 * (kauditd's error hooks). A global, not a map: with skb_queue_tail it is
 * checked on every enqueue and every loss. kauditd is their only caller but
 * for auditd_reset, which can overlap with it rarely; the later call's
 * record is then not judged (neither counted silent nor not). */
struct {
	__u64 tid;      /* pid_tgid inside the call, 0: none */
	__u64 start;    /* ktime of the outermost entry */
	__u32 depth;    /* nested calls of the same task: only the outermost is judged */
	__u32 requeued; /* skb_queue_tail: it queued the record on the retry or hold queue */
	__u32 counted;  /* it called audit_log_lost */
	/* Enqueue at audit_log_end: the retry and hold queues' lengths at
	 * the outermost entry; the call's move is their growth at its exit
	 * (only kauditd, and auditd_reset, move records onto them). */
	__u32 retry_len;
	__u32 hold_len;
} hold = {};

/* Attribution: a hash from process (tgid), program (struct prog_key) or
 * rule ({key, syscall}) to a slot of an array of counters, so that a task
 * can cache its slot and update its counters without hashing. Slots are
 * handed out in order from proc_next, prog_next and rule_next; slot 0 takes
 * what does not fit (counted). */
__u32 proc_next = PROC_SLOT_FIRST;
__u32 rule_next = 1;
__u32 prog_next = 1;
__u32 rule_prog_next = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u32);
} proc_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEFAULT_MAX_PROCS + PROC_SLOT_FIRST);
	__type(key, __u32);
	__type(value, struct proc_stats);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_MAX_RULES);
	__type(key, struct rule_key);
	__type(value, __u32);
} rule_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEFAULT_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct rule_stats);
} rules SEC(".maps");

/* Programs: every record is counted in exactly one row (slot 0 when the
 * table is full, counted in prog_overflow), so the rows sum to the totals;
 * bounded by the number of distinct programs, not of processes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_MAX_PROGS);
	__type(key, struct prog_key);
	__type(value, __u32);
} prog_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEFAULT_MAX_PROGS + 1);
	__type(key, __u32);
	__type(value, struct prog_stats);
} progs SEC(".maps");

/* A process in a program row: counted in prog_stats.processes when its
 * insert succeeds. The thread group leader's start time tells a reused
 * tgid from the process that had it. An LRU: exact while fewer than
 * max_entries (process, row) pairs are live; a pair evicted while idle and
 * seen again is counted again (errs high, never low). */
struct prog_seen_key {
	__u32 tgid;
	__u32 slot;
	__u64 start_time;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DEFAULT_PROG_SEEN);
	__type(key, struct prog_seen_key);
	__type(value, __u8);
} prog_seen SEC(".maps");

/* Rules by program: each (rule slot, program slot) pair's records, so that
 * a rule names the programs that fire it. Bounded by pairs, not processes;
 * slot 0 takes the pairs that did not fit (rule_prog_overflow) and belongs
 * to no rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_MAX_RULE_PROGS);
	__type(key, struct rule_prog_key);
	__type(value, __u32);
} rule_prog_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEFAULT_MAX_RULE_PROGS + 1);
	__type(key, __u32);
	__type(value, struct rule_prog_stats);
} rule_progs SEC(".maps");

/* Claimed slots, keyed by table (enum claim_table) << 32 | slot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_MAX_PROCS + DEFAULT_MAX_RULES + DEFAULT_MAX_PROGS + DEFAULT_MAX_RULE_PROGS + 4 +
				    REASON_SLOTS);
	__type(key, __u64);
	__type(value, __u8);
} slot_claims SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, REASON_SLOTS);
	__type(key, __u32);
	__type(value, struct reason_stats);
} reasons SEC(".maps");
__u32 reason_next = 1;

/* log2 histogram of the time spent in audit_log_start calls that slept:
 * slot i counts waits of [2^i, 2^(i+1)) ns. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} wait_hist SEC(".maps");

/* A ring of fixed time buckets per CPU; user space reads finished buckets
 * about once a second, so the ring only has to span a few seconds. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DEFAULT_TIMELINE_SLOTS);
	__type(key, __u32);
	__type(value, struct tl_slot);
} timeline SEC(".maps");

/* The audit settings' changes while counting (audit_log_config_change),
 * in the order their slots were claimed: settings_next is the next slot,
 * and past SETTINGS_SLOTS it still counts the changes that found no slot
 * (user space reports them). A few a configuration load or auditd start,
 * never on a record's path. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SETTINGS_SLOTS);
	__type(key, __u32);
	__type(value, struct setting_change);
} settings_log SEC(".maps");

__u32 settings_next = 0;

static __always_inline struct counters *get_totals(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&totals, &zero);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
#pragma unroll
	for (int shift = 32; shift > 0; shift >>= 1) {
		if (v >= (1ULL << shift)) {
			v >>= shift;
			r += shift;
		}
	}
	return r;
}

/* tl_get returns this CPU's slot for the bucket, resetting it when it last
 * held an older bucket. A slot already reused for a newer bucket means the
 * event came too late to be placed: counted, never silent. */
static __always_inline struct tl_slot *tl_get(__u64 epoch, struct counters *t)
{
	__u32 idx = epoch % timeline_slots;
	struct tl_slot *s = bpf_map_lookup_elem(&timeline, &idx);

	if (!s)
		return NULL;
	if (t)
		t->tl_writes++;
	if (s->epoch == epoch)
		return s;
	if (s->epoch > epoch) {
		if (t)
			t->timeline_late++;
		return NULL;
	}
	s->epoch = epoch;
	s->arrivals = 0;
	s->events = 0;
	s->lost_events = 0;
	s->queued = 0;
	s->lost = 0;
	s->drained = 0;
	s->max_depth = 0;
	s->waits = 0;
	s->wait_jiffies = 0;
	s->producers = 0;
	/* Every field: a slot is the same bucket again timeline_slots
	 * buckets later (10.24 s at 10 ms), and user space never clears it.
	 * delivered was left out when it was added (e9ae466): a bucket
	 * touched a ring later kept the deliveries of the one before, which
	 * hid stalls (records counted delivered while no auditd was
	 * registered, seen in TestSettingsChange). */
	s->delivered = 0;
	return s;
}

/* READ loads a field of a kernel pointer: directly where the pointer came
 * from BTF (fentry/fexit arguments: the verifier checks the load), else
 * through bpf_probe_read_kernel (kprobes). btf is a literal at every call
 * site of the inlined handlers, so each variant keeps only its own path. */
#define READ(btf, p, field) ((btf) ? (p)->field : BPF_CORE_READ(p, field))

/* slot_claim hands out a free slot of an attribution array, or 0 ("other")
 * when none is left. The claim is an insert into slot_claims with
 * BPF_NOEXIST, which is atomic: two CPUs can never get the same slot. (An
 * atomic fetch-and-add would need 5.12; this runs wherever the rest does.) */
static __always_inline __u32 slot_claim(__u32 *next, __u32 max, __u64 table)
{
	__u8 one = 1;

	__u32 start = *(volatile __u32 *)next;

	for (int i = 0; i < 16; i++) {
		__u32 slot = start + i;
		__u64 claim = table << 32 | slot;

		if (slot >= max)
			return 0;
		if (!bpf_map_update_elem(&slot_claims, &claim, &one, BPF_NOEXIST)) {
			/* Plain stores race: never move the hint backwards. */
			if (slot + 1 > *(volatile __u32 *)next)
				*next = slot + 1;
			return slot;
		}
	}
	/* Sixteen slots past a stale hint were all taken: move it on, or
	 * every later claim would retry the same sixteen and overflow with
	 * free slots left. This record goes to the "other" row. */
	if (start + 16 > *(volatile __u32 *)next)
		*next = start + 16;
	return 0;
}

/* slot_for returns the slot of key in an attribution table (slots: the
 * hash from key to slot; arr: the array of counters, whose values begin
 * with the key), claiming one on the key's first record, or 0 ("other")
 * when none is left. The claim writes the key into its value before the
 * insert publishes it; *fresh says this call claimed and published the
 * slot, for the caller to fill the value's other fields once. A CPU that
 * loses the insert race to another uses the winner's slot (the one it
 * claimed stays unused). key_size is a constant at every call site, so
 * the copy is unrolled. */
static __always_inline __u32 slot_for(void *slots, void *arr, const void *key, __u32 key_size, __u32 *next,
				      __u32 max, __u64 table, bool *fresh)
{
	__u32 slot, *sp;
	void *v;

	*fresh = false;
	sp = bpf_map_lookup_elem(slots, key);
	if (sp)
		return *sp;
	slot = slot_claim(next, max, table);
	v = slot ? bpf_map_lookup_elem(arr, &slot) : NULL;
	if (v)
		__builtin_memcpy(v, key, key_size);
	if (!slot || bpf_map_update_elem(slots, key, &slot, BPF_NOEXIST)) {
		/* No slot, or a racing CPU inserted this key first (then its
		 * slot is the one to use). */
		sp = bpf_map_lookup_elem(slots, key);
		return sp ? *sp : 0;
	}
	*fresh = v != NULL;
	return slot;
}

/* cur_task returns the current task, fetched once per program run and
 * passed to task_get, proc_get and prog_get (issue 14: they fetched it, and
 * the tgid, with a helper call each, three calls a record where one does).
 * With task storage (5.12+; bpf_get_current_task_btf is 5.11) it is a BTF
 * pointer whose fields are plain loads; the fallback (kernels before 5.12,
 * down to the 4.18-era kprobe path) keeps bpf_get_current_task and reads
 * through helpers. */
static __always_inline struct task_struct *cur_task(void)
{
	if (use_task_storage)
		return bpf_get_current_task_btf();
	return (struct task_struct *)bpf_get_current_task();
}

/* cur_tgid returns the current tgid: task->tgid, a plain load, with task
 * storage (task from cur_task); bpf_get_current_pid_tgid otherwise. */
static __always_inline __u32 cur_tgid(struct task_struct *task)
{
	if (use_task_storage)
		return task->tgid;
	return bpf_get_current_pid_tgid() >> 32;
}

/* proc_get returns the counters of the current process, from the task's
 * cache when it has one. A process younger than proc_min_age_ns goes to
 * the short-lived row (PROC_SLOT_SHORT), a process that does not fit to
 * slot 0, counted in proc_overflow, per record. now is bpf_ktime_get_ns.
 * *slotp, when given, is set to the row's slot. */
static __always_inline struct proc_stats *proc_get(struct task_state *ts, struct counters *t, __u64 now,
						   struct task_struct *task, __u32 *slotp)
{
	__u32 tgid = cur_tgid(task);
	__u32 short_slot = PROC_SLOT_SHORT;
	struct proc_stats *p;
	bool fresh;
	__u32 slot;

	if (ts && ts->proc_cached && ts->proc_tgid == tgid) {
		if (slotp)
			*slotp = ts->proc_slot;
		return bpf_map_lookup_elem(&procs, &ts->proc_slot);
	}
	if (proc_min_age_ns) {
		bool young = ts && ts->young_tgid == tgid && now < ts->young_until;

		if (!young) {
			__u64 born = BPF_CORE_READ(task, group_leader, start_time);

			if (now < born + proc_min_age_ns) {
				young = true;
				if (ts) {
					ts->young_tgid = tgid;
					ts->young_until = born + proc_min_age_ns;
				}
			}
		}
		if (young) {
			if (slotp)
				*slotp = short_slot;
			return bpf_map_lookup_elem(&procs, &short_slot);
		}
	}
	slot = slot_for(&proc_slots, &procs, &tgid, sizeof(tgid), &proc_next, proc_slots_max, CLAIM_PROCS, &fresh);
	if (fresh) {
		p = bpf_map_lookup_elem(&procs, &slot);
		if (p) {
			p->cgroup_id = bpf_get_current_cgroup_id();
			bpf_get_current_comm(&p->comm, sizeof(p->comm));
		}
	}
	if (!slot) {
		if (t)
			t->proc_overflow++;
	} else if (ts) {
		ts->proc_tgid = tgid;
		ts->proc_slot = slot;
		ts->proc_cached = 1;
	}
	if (slotp)
		*slotp = slot;
	return bpf_map_lookup_elem(&procs, &slot);
}

/* prog_get returns the counters of the current task's program, from the
 * task's cache while its tgid, exec generation and comm are unchanged;
 * else it builds the key (the parent's comm and tgid read only then) and
 * looks it up. With task storage (5.12+, where bpf_get_current_task_btf,
 * 5.11, is there too) the check is four plain loads from current's
 * task_struct; the hash fallback reads them through helpers. A program
 * that does not fit goes to slot 0, counted in prog_overflow per record.
 * record: the caller counts a record, which counts the process in the row
 * the first time (prog_seen). */
static __always_inline struct prog_stats *prog_get(struct task_state *ts, struct counters *t, bool record,
						   struct task_struct *task, __u32 *slotp)
{
	struct prog_key pk = {};
	struct prog_stats *p;
	__u32 tgid, slot;
	__u64 exec_id;
	bool fresh;
	__u64 *comm = (__u64 *)pk.comm;

	tgid = cur_tgid(task);
	if (use_task_storage) {
		exec_id = task->self_exec_id;
		/* comm is NUL-padded (__set_task_comm: strscpy_pad), as
		 * bpf_get_current_comm returns it; a rename racing with
		 * this read can only miss the cache. */
		comm[0] = *(__u64 *)&task->comm[0];
		comm[1] = *(__u64 *)&task->comm[8];
	} else {
		exec_id = BPF_CORE_READ(task, self_exec_id);
		bpf_get_current_comm(pk.comm, sizeof(pk.comm));
	}
	if (ts && ts->prog_cached && ts->prog_tgid == tgid && ts->prog_exec_id == exec_id &&
	    ts->prog_comm[0] == comm[0] && ts->prog_comm[1] == comm[1]) {
		slot = ts->prog_slot;
		if (slotp)
			*slotp = slot;
		if (!record || ts->prog_counted)
			return bpf_map_lookup_elem(&progs, &slot);
	} else {
		struct task_struct *parent = BPF_CORE_READ(task, real_parent);
		__u32 ptgid = BPF_CORE_READ(parent, tgid);

		BPF_CORE_READ_STR_INTO(&pk.parent_comm, parent, comm);
		pk.cgroup_id = bpf_get_current_cgroup_id();
		pk.self = self_tgid && (tgid == self_tgid || ptgid == self_tgid);
		slot = slot_for(&prog_slots, &progs, &pk, sizeof(pk), &prog_next, prog_slots_max, CLAIM_PROGS, &fresh);
		if (fresh) {
			/* The executable's file name, once per row: kernel
			 * threads have no mm, and every read of the chain
			 * fails safely on a NULL (a probe read). */
			const unsigned char *exe = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_name.name);

			p = bpf_map_lookup_elem(&progs, &slot);
			if (p && exe)
				bpf_probe_read_kernel_str(p->exe, sizeof(p->exe), exe);
		}
		/* Slot 0 is not cached: a claim can fail while slots are
		 * left (slot_claim), and the next record tries again. */
		if (ts && slot) {
			ts->prog_tgid = tgid;
			ts->prog_exec_id = exec_id;
			ts->prog_comm[0] = comm[0];
			ts->prog_comm[1] = comm[1];
			ts->prog_slot = slot;
			ts->prog_cached = 1;
			ts->prog_counted = 0;
		}
	}
	if (slotp)
		*slotp = slot;
	p = bpf_map_lookup_elem(&progs, &slot);
	if (!slot) {
		if (t && record)
			t->prog_overflow++;
	} else if (record && p) {
		struct prog_seen_key sk = {
			.tgid = tgid,
			.slot = slot,
			.start_time = BPF_CORE_READ(task, group_leader, start_time),
		};
		__u8 one = 1;

		/* Look up first: an LRU insert takes a free node before it
		 * finds the key there, and in a full map that evicts another
		 * pair even when the insert then fails (the hash fallback
		 * comes here on every record). */
		if (!bpf_map_lookup_elem(&prog_seen, &sk) &&
		    !bpf_map_update_elem(&prog_seen, &sk, &one, BPF_NOEXIST))
			__sync_fetch_and_add(&p->processes, 1);
		if (ts)
			ts->prog_counted = 1;
	}
	return p;
}

/* uring_ctx says whether ctx is an io_uring operation's context rather than
 * a syscall's: io-wq workers and the SQPOLL thread run operations there
 * (__audit_uring_entry sets ctx->context = AUDIT_CTX_URING and leaves
 * ctx->major 0). io_uring auditing came in 5.16 (5bd2182d58e9,
 * "audit,io_uring,io-wq: add some basic audit support to io_uring"), with
 * ctx->context and ctx->uring_op; before it (4.18 .. 5.15) the fields do
 * not exist, the CO-RE check is false and the read is dead code, so the
 * object still loads there. */
static __always_inline bool uring_ctx(struct audit_context *ctx, bool btf)
{
	if (!ctx || !bpf_core_field_exists(ctx->uring_op))
		return false;
	return READ(btf, ctx, context) == AUDIT_CTX_URING;
}

/* uring_op_of returns the io_uring opcode a record belongs to, or -1 for a
 * syscall's record. Two kinds of record belong to an operation:
 * - every record of an io_uring event (AUDIT_CTX_URING: URINGOP, then
 *   PATH, CWD... and EOE from audit_log_exit), where ctx->major is 0;
 * - the URINGOP record that __audit_uring_exit makes inside io_uring_enter
 *   when the operation ran inline in the syscall (ctx->context is
 *   AUDIT_CTX_SYSCALL, ctx->major __NR_io_uring_enter, ctx->uring_op the
 *   opcode). The syscall's own event, if the context stays RECORD, follows
 *   at its exit as a SYSCALL event of io_uring_enter and stays keyed so.
 * major is ctx->major, already read: only a record with major 0 (or a
 * URINGOP) can be an operation's, so other records pay no extra read. */
static __always_inline __s32 uring_op_of(struct audit_context *ctx, __s32 major, __u32 type, bool btf)
{
	if (!ctx || !bpf_core_field_exists(ctx->uring_op))
		return -1;
	if (type != AUDIT_URINGOP && (major != 0 || !uring_ctx(ctx, btf)))
		return -1;
	return READ(btf, ctx, uring_op);
}

/* rule_get returns the counters of the (key, syscall or io_uring opcode)
 * the record belongs to. The key is read and hashed once per event:
 * records of the same event (same audit_context, serial, filterkey,
 * syscall and opcode) reuse the slot. The opcode is in the check because
 * the URINGOP records of several operations run inline in one
 * io_uring_enter share its context, serial and key. serial is ctx's event
 * serial (0 without ctx) and major (ctx->major, SYSCALL_NONE without ctx):
 * the caller reads them (event_ids), as it needs the serial too. type is
 * the record's (audit_log_start's third argument). */
static __always_inline struct rule_stats *rule_get(struct task_state *ts, struct audit_context *ctx,
						   __u64 serial, __s32 major, __u32 type, bool btf,
						   struct counters *t, __u32 *slotp)
{
	struct rule_key rk = {};
	__u64 fkey = 0;
	__s32 uop = -1;
	__u32 slot = 0, arch = 0;
	bool fresh;

	if (ctx) {
		fkey = (__u64)READ(btf, ctx, filterkey);
		uop = uring_op_of(ctx, major, type, btf);
	}
	/* Records with no context (xt_AUDIT, one per packet) all have the
	 * same key: cached too. */
	if (ts && ts->rule_cached && ts->rule_ctx == (__u64)ctx && ts->rule_serial == serial &&
	    ts->rule_filterkey == fkey && ts->rule_major == major && ts->rule_uring_op == uop &&
	    (serial || !ctx)) {
		*slotp = ts->rule_slot;
		return bpf_map_lookup_elem(&rules, &ts->rule_slot);
	}

	if (fkey)
		bpf_probe_read_kernel_str(rk.key, sizeof(rk.key), (void *)fkey);
	if (uop >= 0) {
		/* No syscall, no arch: an operation is the same whether an
		 * io-wq worker or the submitting syscall ran it. A keyless
		 * row takes the process's name: a worker's own comm,
		 * iou-wrk-<pid>, would make a row per process. */
		rk.syscall = SYSCALL_URING;
		if (!fkey) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();

			BPF_CORE_READ_STR_INTO(&rk.comm, task, group_leader, comm);
		}
	} else {
		if (!fkey && major != SYSCALL_NONE)
			bpf_get_current_comm(rk.comm, sizeof(rk.comm));
		if (ctx && major != SYSCALL_NONE)
			arch = READ(btf, ctx, arch);
		rk.syscall = major;
	}
	rk.uring_op = uop;
	rk.arch = arch;
	slot = slot_for(&rule_slots, &rules, &rk, sizeof(rk), &rule_next, rule_slots_max, CLAIM_RULES, &fresh);
	if (!slot) {
		if (t)
			t->rule_overflow++;
	} else if (ts) {
		ts->rule_ctx = (__u64)ctx;
		ts->rule_serial = serial;
		ts->rule_filterkey = fkey;
		ts->rule_major = major;
		ts->rule_uring_op = uop;
		ts->rule_slot = slot;
		ts->rule_cached = 1;
	}
	*slotp = slot;
	return bpf_map_lookup_elem(&rules, &slot);
}

/* rule_prog_get returns the counters of the (rule, program) pair, from
 * the task's cache while both slots are those it was found for: a steady
 * producer pays one array lookup. A pair that does not fit goes to slot 0,
 * counted in rule_prog_overflow per record. */
static __always_inline struct rule_prog_stats *rule_prog_get(struct task_state *ts, struct counters *t,
							     __u32 rule_slot, __u32 prog_slot)
{
	struct rule_prog_key k = {.rule_slot = rule_slot, .prog_slot = prog_slot};
	bool fresh;
	__u32 slot;

	if (ts && ts->rp_cached && ts->rp_rule == rule_slot && ts->rp_prog == prog_slot)
		return bpf_map_lookup_elem(&rule_progs, &ts->rp_slot);
	slot = slot_for(&rule_prog_slots, &rule_progs, &k, sizeof(k), &rule_prog_next, rule_prog_slots_max, CLAIM_RULE_PROGS,
			&fresh);
	if (!slot) {
		if (t)
			t->rule_prog_overflow++;
	} else if (ts) {
		ts->rp_rule = rule_slot;
		ts->rp_prog = prog_slot;
		ts->rp_slot = slot;
		ts->rp_cached = 1;
	}
	return bpf_map_lookup_elem(&rule_progs, &slot);
}

/* task_get returns the current task's state; create makes it when missing.
 * In the fallback (no task storage: kernels before 5.12, or --task-state
 * hash) the state lives in the inflight LRU hash, keyed by pid_tgid and
 * kept between calls; an entry made for an earlier thread with the same
 * pid (its start time differs) is reset, so that no cached slot outlives
 * the thread it was found for. task_get_of takes the current task from a
 * caller that needs it anyway (have_task; a literal at every call site):
 * task_get fetches it itself, and in the fallback only once the lookup
 * found an entry, so that schedule_timeout's programs, which run for every
 * task of the machine, pay no helper call for a task that never made a
 * record. */
static __always_inline struct task_state *task_get_of(bool create, struct task_struct *task, bool have_task)
{
	if (use_task_storage)
		return bpf_task_storage_get(&task_states, have_task ? task : bpf_get_current_task_btf(), 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	{
		__u64 id = bpf_get_current_pid_tgid();
		struct task_state *ts = bpf_map_lookup_elem(&inflight, &id);
		struct task_state zero = {};
		__u64 start;

		/* schedule_timeout asks for every task of the machine: one
		 * lookup for those that never made a record. */
		if (!ts && !create)
			return NULL;
		if (!have_task)
			task = (struct task_struct *)bpf_get_current_task();
		start = BPF_CORE_READ(task, start_time);
		if (ts && ts->task_start == start)
			return ts;
		if (ts) {
			/* A reused pid: the state is another thread's. */
			*ts = zero;
			ts->task_start = start;
			return ts;
		}
		zero.task_start = start;
		bpf_map_update_elem(&inflight, &id, &zero, BPF_NOEXIST);
		ts = bpf_map_lookup_elem(&inflight, &id);
		/* A racing insert for this pid is this thread's own: a thread
		 * runs one program at a time but for an interrupt's. */
		return ts;
	}
}

static __always_inline struct task_state *task_get(bool create)
{
	return task_get_of(create, NULL, false);
}

/* task_make returns the current task's state, made when missing (task as
 * in task_get_of); one that cannot be made counts in inflight_overflow. */
static __always_inline struct task_state *task_make(struct task_struct *task, bool have_task)
{
	struct task_state *ts = task_get_of(true, task, have_task);

	if (!ts) {
		struct counters *t = get_totals();

		if (t)
			t->inflight_overflow++;
	}
	return ts;
}

/* call_open opens the task's call state, with no wait yet. */
static __always_inline void call_open(struct task_state *ts)
{
	ts->call.start_ns = 0;
	ts->call.wait_jiffies = 0;
	ts->call.sleep_timeout = 0;
	ts->call.sleeps = 0;
	ts->call.active = 1;
}

/* task_done ends the call's state; a call it interrupted resumes. The
 * state itself stays, in task storage and in the fallback hash alike. */
static __always_inline void task_done(struct task_state *ts)
{
	ts->call.active = 0;
	ts->resumed = 0;
	if (ts->outer_saved) {
		ts->call = ts->outer;
		ts->outer_saved = 0;
		ts->resumed = 1;
	}
}

static __always_inline __u32 qlen_at(__u64 addr)
{
	__u32 len = 0;

	if (addr)
		bpf_probe_read_kernel(&len, sizeof(len),
				      (void *)(addr + bpf_core_field_offset(struct sk_buff_head, qlen)));
	return len;
}

/* The consumer's threads, and their time by cause. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CONSUMER_THREADS);
	__type(key, __u32);
	__type(value, struct consumer_thread);
} consumer_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CONSUMER_TIMES);
	__type(key, struct consumer_key);
	__type(value, struct consumer_time);
} consumer_times SEC(".maps");

/* ---- shared handlers ---- */

/* The entry only opens the call: every counter is updated at the exit,
 * once the outcome (record, loss, filter, wait) is known. */
static __always_inline void on_log_start(struct audit_context *ctx, int type)
{
	struct task_state *ts;

	if (!counting)
		return;
	ts = task_make(NULL, false);
	if (!ts)
		return;
	if (ts->call.active && ts->resumed) {
		/* A resumed outer call's return was missed after all: it was
		 * counted in returns_missed when the nested call began. */
		ts->resumed = 0;
	} else if (ts->call.active) {
		/* The task's last call never returned through us, or this call
		 * interrupted it (see task_state.outer): counted missed until its
		 * return shows otherwise (on_log_start_ret). */
		struct counters *t = get_totals();

		if (t)
			t->returns_missed++;
		ts->outer = ts->call;
		ts->outer_saved = 1;
	}
	call_open(ts);
	ts->call.ctx = (__u64)ctx;
	ts->call.type = type;
	ts->call.lost = 0;
	ts->end_pending = 0;
}

/* close_sleep accounts an open schedule_timeout the way the kernel does:
 * audit_log_start adds rtime - stime, the jiffies that schedule_timeout(rtime)
 * did not give back, which is min(jiffies elapsed, rtime). */
static __always_inline void close_sleep(struct task_state *ts)
{
	__u64 elapsed;

	if (!ts->call.sleep_timeout)
		return;
	elapsed = bpf_jiffies64() - ts->call.sleep_start;
	ts->call.wait_jiffies += elapsed < ts->call.sleep_timeout ? elapsed : ts->call.sleep_timeout;
	ts->call.sleep_timeout = 0;
}

/* schedule_timeout(timeout) inside audit_log_start is the backlog wait
 * (kernel/audit.c: set_current_state(TASK_UNINTERRUPTIBLE) then
 * schedule_timeout(rtime)). It is hot system-wide: a task that never made
 * an audit record has no state and returns at once. */
static __always_inline void on_schedule_timeout(long timeout)
{
	struct task_state *ts = task_get(false);

	if (!ts || !ts->call.active || timeout <= 0)
		return;
	close_sleep(ts);
	/* The wall time of a waited call runs from its first sleep: the few
	 * microseconds before it are not backlog wait. */
	if (!ts->call.sleeps)
		ts->call.start_ns = bpf_ktime_get_ns();
	ts->call.sleep_start = bpf_jiffies64();
	ts->call.sleep_timeout = timeout;
	ts->call.sleeps++;
}

/* The sleep's end, exactly as audit_log_start accounts it: rtime - stime. A
 * missed return (kretprobe instances exhausted) leaves the sleep open and
 * close_sleep accounts it from jiffies at the next chance. */
static __always_inline void on_schedule_timeout_ret(long ret)
{
	struct task_state *ts = task_get(false);

	if (!ts || !ts->call.active || !ts->call.sleep_timeout)
		return;
	if (ret >= 0 && (__u64)ret <= ts->call.sleep_timeout)
		ts->call.wait_jiffies += ts->call.sleep_timeout - ret;
	else
		ts->call.wait_jiffies += ts->call.sleep_timeout;
	ts->call.sleep_timeout = 0;
}

/* Without start_entry: a task joins audit_backlog_wait, in audit_log_start's
 * backlog loop (each turn, before its schedule_timeout) or in
 * audit_receive's penalty. The first turn opens the call's state, so that
 * schedule_timeout's programs account the sleep; the later turns find it
 * open. */
static __always_inline void on_backlog_wait_join(void)
{
	struct task_state *ts;

	if (!counting)
		return;
	ts = task_make(NULL, false);
	if (ts && !ts->call.active)
		call_open(ts);
}

/* audit_receive's return, without start_entry: a state its penalty sleep
 * opened (the only wait on audit_backlog_wait in it: audit_log_start
 * never waits there, its task owning audit_cmd_mutex) is not a backlog
 * wait; backlog_wait_time_actual leaves it out too. */
static __always_inline void on_receive_ret(void)
{
	struct task_state *ts = task_get(false);

	if (ts && ts->call.active) {
		ts->call.active = 0;
		ts->call.sleep_timeout = 0;
	}
}

/* on_log_start_ret: btf_ctx is fexit's ctx argument (NULL for kretprobes,
 * which get it from the entry's state) and type its type argument (fexit
 * only); kretprobe, a literal at both call sites, keeps the kretprobe's own
 * path out of fexit's program. */
static __always_inline void on_log_start_ret(void *ret, struct audit_context *btf_ctx, int type, bool kretprobe)
{
	struct counters *t = get_totals();
	struct task_struct *task = cur_task();
	struct task_state *ts = NULL;
	struct proc_stats *p;
	struct prog_stats *pg;
	struct rule_stats *r;
	struct rule_prog_stats *rp;
	struct tl_slot *s;
	__u64 now, dur = 0, wj = 0, serial = 0;
	__s32 major = SYSCALL_NONE;
	__u32 pslot = 0, rslot = 0;
	int waited;
	bool first, lost_event;

	if (!t)
		return;
	if (!kretprobe && !start_entry) {
		/* fexit alone: the call is opened here, from its arguments.
		 * A backlog wait (add_wait_queue_exclusive) opened it already;
		 * an interrupt's record made while this task was between its
		 * wait and its return would take that wait (its totals are
		 * the same; only its rule row differs), where the entry kept
		 * the two calls apart (task_state.outer). */
		if (!counting)
			return;
		ts = task_make(task, true);
		if (!ts)
			return;
		if (!ts->call.active)
			call_open(ts);
		ts->call.ctx = (__u64)btf_ctx;
		ts->call.type = type;
		ts->call.lost = ts->start_lost;
		ts->start_lost = 0;
		ts->end_pending = 0;
		ts->fexit_seen = 1;
		if (ret) {
			if (!ts->open_ab[0])
				ts->open_ab[0] = (__u64)ret;
			else if (!ts->open_ab[1])
				ts->open_ab[1] = (__u64)ret;
			else
				ts->open_ab[2] = (__u64)ret;
		}
	} else {
		ts = task_get_of(false, task, true);
	}
	if (!ts || !ts->call.active) {
		/* Started before counting began, or its state could not be
		 * made (then counted in inflight_overflow). */
		if (counting)
			t->inflight_missing++;
		return;
	}
	/* A kretprobe has the call's ctx only as the number its entry
	 * saved. Where that is current's own audit_context, as it is for
	 * every caller that passes one (audit_context(), 4.18 .. 6.18; the
	 * others pass NULL), the same pointer read from the task is a BTF
	 * pointer: its fields are plain loads, not probe reads (issue 14:
	 * two or three helper calls a record). Needs
	 * bpf_get_current_task_btf (5.11), as task storage does. */
	if (kretprobe && use_task_storage && ts->call.ctx && bpf_core_field_exists(task->audit_context)) {
		struct audit_context *own = task->audit_context;

		if ((__u64)own == ts->call.ctx)
			btf_ctx = own;
	}
	if (ts->resumed) {
		/* The return of a call that a nested one interrupted: not
		 * missed after all. */
		t->returns_missed--;
		t->nested_calls++;
		ts->resumed = 0;
	}
	if (!ret && !ts->call.lost) {
		/* Exclude filter or audit not initialised: not a record. */
		t->filtered++;
		task_done(ts);
		return;
	}

	/* An event's first record: SYSCALL, or the URINGOP of an io_uring
	 * event (not the lone URINGOP of an operation run inline in
	 * io_uring_enter, which shares the syscall's event). A lost SYSCALL
	 * ends its event (audit_log_exit returns); a lost URINGOP does not
	 * (audit_log_uring returns to audit_log_exit, which goes on with the
	 * event's other records), so it counts as a lost record, not a lost
	 * event. */
	first = ts->call.type == AUDIT_SYSCALL;
	if (ts->call.type == AUDIT_URINGOP)
		first = btf_ctx ? uring_ctx(btf_ctx, true) : uring_ctx((struct audit_context *)ts->call.ctx, false);
	lost_event = ts->call.type == AUDIT_SYSCALL && ts->call.lost;

	now = bpf_ktime_get_ns();
	close_sleep(ts);
	waited = ts->call.sleeps > 0;
	/* Arrivals go to the bucket the record was started in; a wait longer
	 * than the ring (TimelineSlots buckets) puts it in the current one. */
	s = NULL;
	if (waited) {
		dur = now - ts->call.start_ns;
		wj = ts->call.wait_jiffies;
		/* Not counted in tl_writes: the record is, in records,
		 * which the poll's check reads too. */
		s = tl_get(ts->call.start_ns / bucket_ns, NULL);
	}
	if (!s)
		s = tl_get(now / bucket_ns, t);
	if (s) {
		s->arrivals++;
		if (first)
			s->events++;
		if (lost_event)
			s->lost_events++;
		if (use_task_storage && ts->producer_epoch != s->epoch + 1) {
			ts->producer_epoch = s->epoch + 1;
			s->producers++;
		}
	}

	/* Read once: the serial bounds and the rule cache both use it. */
	if (btf_ctx)
		event_ids(btf_ctx, true, &serial, &major);
	else if (ts->call.ctx)
		event_ids((struct audit_context *)ts->call.ctx, false, &serial, &major);

	t->records++;
	if (first) {
		t->events++;
		if (lost_event) {
			t->lost_events++;
		} else if (ret) {
			/* audit_log_start stamped the event (audit_get_stamp)
			 * before it returned the buffer. */
			if (serial && (!t->first_serial || serial < t->first_serial))
				t->first_serial = serial;
			if (serial > t->last_serial)
				t->last_serial = serial;
		}
	}
	if (waited) {
		__u32 slot = log2_u64(dur);
		__u64 *h;

		if (slot >= HIST_SLOTS)
			slot = HIST_SLOTS - 1;
		h = bpf_map_lookup_elem(&wait_hist, &slot);
		if (h)
			(*h)++;
		t->waits++;
		t->wait_jiffies += wj;
		t->blocked_ns += dur;
		s = tl_get(now / bucket_ns, t);
		if (s) {
			s->waits++;
			s->wait_jiffies += wj;
		}
	}

	p = proc_get(ts, t, now, task, NULL);
	if (p) {
		__sync_fetch_and_add(&p->records, 1);
		if (waited) {
			__sync_fetch_and_add(&p->waits, 1);
			__sync_fetch_and_add(&p->wait_jiffies, wj);
			__sync_fetch_and_add(&p->blocked_ns, dur);
			/* Racy max: a concurrent larger value may be overwritten
			 * by a smaller one; good enough for a maximum. */
			if (wj > p->max_wait_jiffies)
				p->max_wait_jiffies = wj;
		}
	}
	pg = prog_get(ts, t, true, task, &pslot);
	if (pg) {
		__sync_fetch_and_add(&pg->records, 1);
		if (waited) {
			__sync_fetch_and_add(&pg->waits, 1);
			__sync_fetch_and_add(&pg->wait_jiffies, wj);
			__sync_fetch_and_add(&pg->blocked_ns, dur);
			if (wj > pg->max_wait_jiffies)
				pg->max_wait_jiffies = wj;
		}
	}

	if (btf_ctx)
		r = rule_get(ts, btf_ctx, serial, major, ts->call.type, true, t, &rslot);
	else
		r = rule_get(ts, (struct audit_context *)ts->call.ctx, serial, major, ts->call.type, false, t,
			     &rslot);
	if (r) {
		__sync_fetch_and_add(&r->records, 1);
		if (first)
			__sync_fetch_and_add(&r->events, 1);
		if (ts->call.lost)
			__sync_fetch_and_add(&r->lost, 1);
		if (lost_event)
			__sync_fetch_and_add(&r->lost_events, 1);
		if (waited) {
			__sync_fetch_and_add(&r->waits, 1);
			__sync_fetch_and_add(&r->wait_jiffies, wj);
		}
	}
	/* The loss, like the rule's, is counted here: audit_log_lost comes
	 * before the return, with no rule in hand. */
	rp = rule_prog_get(ts, t, rslot, pslot);
	if (rp) {
		__sync_fetch_and_add(&rp->records, 1);
		if (first)
			__sync_fetch_and_add(&rp->events, 1);
		if (ts->call.lost)
			__sync_fetch_and_add(&rp->lost, 1);
		if (waited) {
			__sync_fetch_and_add(&rp->waits, 1);
			__sync_fetch_and_add(&rp->wait_jiffies, wj);
		}
	}
	task_done(ts);
}

/* TEXT_IS says whether a loss's reason (read into a buffer) is the string
 * literal want: compared byte by byte, the whole string and its NUL, no
 * hashing. */
#define TEXT_IS(reason, want)                                     \
	({                                                        \
		const char __w[] = want;                          \
		bool __same = true;                               \
		_Pragma("unroll") for (int __i = 0; __i < sizeof(__w); __i++) \
			if ((reason)[__i] != __w[__i]) {          \
				__same = false;                   \
				break;                            \
			}                                         \
		__same;                                           \
	})

/* reason_kind_of is a reason's enum reason_kind, from its text; read once
 * a reason (at its row's claim), not a loss. */
static __always_inline __u8 reason_kind_of(const char *reason)
{
	if (TEXT_IS(reason, "rate limit exceeded"))
		return REASON_RATE_LIMIT;
	if (TEXT_IS(reason, "backlog limit exceeded") || TEXT_IS(reason, "out of memory in audit_log_start"))
		return REASON_START;
	return REASON_OTHER;
}

/* uncount_enqueue takes back what count_enqueue counted at the entry of
 * the audit_log_end call whose record the rate limit freed: enq_main, the
 * totals, the timeline slot's queued (when this CPU's slot still holds that
 * bucket: a task migrated in between leaves it one high) and the rows the
 * entry counted in (their slots, remembered in the task state). Totals are
 * per CPU: a decrement on another CPU than the increment wraps there and
 * sums right. */
static __always_inline void uncount_enqueue(struct task_state *ts, struct counters *t)
{
	__u64 size = ts->end_bytes;
	__u32 idx = ts->end_epoch % timeline_slots;
	struct proc_stats *p;
	struct prog_stats *pg;
	struct tl_slot *s;

	ts->end_pending = 0;
	__sync_fetch_and_add(&enq_main, -1);
	t->queued--;
	t->bytes_queued -= size;
	s = bpf_map_lookup_elem(&timeline, &idx);
	if (s && s->epoch == ts->end_epoch && s->queued)
		s->queued--;
	p = bpf_map_lookup_elem(&procs, &ts->end_proc_slot);
	if (p) {
		__sync_fetch_and_add(&p->queued, -1);
		__sync_fetch_and_add(&p->bytes, -size);
	}
	pg = bpf_map_lookup_elem(&progs, &ts->end_prog_slot);
	if (pg) {
		__sync_fetch_and_add(&pg->queued, -1);
		__sync_fetch_and_add(&pg->bytes, -size);
	}
}

/* count_reason counts a loss in its reason's row (struct reason_stats),
 * found by the message's address among the rows in use, claimed on the
 * reason's first loss; it returns the reason's enum reason_kind.
 * With every row taken (more than REASON_SLOTS - 1 messages, which no
 * kernel has) the loss counts in reason_overflow. The text is read and
 * compared at a row's claim, and by a loss that finds its row's kind not
 * yet visible (enum reason_kind's 0: on arm64, on a reason's first losses
 * only), never on the hot path. */
static __always_inline __u8 count_reason(const char *message, struct counters *t)
{
	struct reason_stats *v = NULL, *r;
	char text[REASON_LEN];
	__u8 kind;
	__u32 slot;

#pragma unroll
	for (__u32 i = 1; i < REASON_SLOTS; i++) {
		__u32 k = i;

		r = bpf_map_lookup_elem(&reasons, &k);
		if (!r || !r->msg)
			break;
		if (r->msg == (__u64)message) {
			v = r;
			break;
		}
	}
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		kind = v->kind;
		if (kind)
			return kind;
		slot = 0;
	} else {
		slot = slot_claim(&reason_next, REASON_SLOTS, CLAIM_REASONS);
		v = slot ? bpf_map_lookup_elem(&reasons, &slot) : NULL;
		if (!v)
			t->reason_overflow++;
	}
	bpf_probe_read_kernel_str(text, sizeof(text), message);
	kind = reason_kind_of(text);
	if (!slot || !v)
		return kind;
	__builtin_memcpy(v->text, text, sizeof(text));
	v->kind = kind;
	__sync_fetch_and_add(&v->count, 1);
	/* Published last (in program order: BPF has no store barrier, so on
	 * arm64 another CPU may see msg before kind or text, on this reason's
	 * first losses only; x86 keeps stores in order). */
	asm volatile("" ::: "memory");
	v->msg = (__u64)message;
	return kind;
}

static __always_inline void on_log_lost(const char *message)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct counters *t = get_totals();
	struct task_struct *task;
	struct task_state *ts;
	struct proc_stats *p;
	struct prog_stats *pg;
	struct tl_slot *s;
	__u8 kind;
	__u64 now;

	if (!t || !counting)
		return;
	t->lost++;
	now = bpf_ktime_get_ns();
	s = tl_get(now / bucket_ns, t);
	if (s)
		s->lost++;

	kind = count_reason(message, t);

	task = cur_task();
	/* Without start_entry a start's loss makes the task's state: it may
	 * be the task's first record. */
	ts = task_get_of(!start_entry && kind == REASON_START, task, true);
	p = proc_get(ts, t, now, task, NULL);
	if (p)
		__sync_fetch_and_add(&p->lost, 1);
	pg = prog_get(ts, t, false, task, NULL);
	if (pg)
		__sync_fetch_and_add(&pg->lost, 1);
	if (ts && ts->call.active)
		ts->call.lost = 1;
	if (!start_entry && ts && kind == REASON_START)
		ts->start_lost = 1;
	/* audit_log_end freed the record its entry counted as queued. */
	if (enqueue_at_log_end && ts && ts->end_pending && kind == REASON_RATE_LIMIT)
		uncount_enqueue(ts, t);
	if (hold.tid == id)
		hold.counted = 1;
}

/* count_enqueue counts one record put on audit_queue, depth being the
 * queue's length with it: enq_main, the totals, the timeline, and the
 * producer's process and program rows (the enqueue runs in the producer:
 * its cached slots). With the enqueue at audit_log_end it remembers what it
 * counted, for uncount_enqueue. */
/* ab: audit_log_end's buffer (0 on skb_queue_tail), whose start the task
 * must have seen return (struct task_state.open_ab) without start_entry. */
static __always_inline void count_enqueue(struct sk_buff *skb, __u64 depth, struct counters *t, bool btf, __u64 ab)
{
	__u64 size = READ(btf, skb, end) +
		     CACHE_ALIGN(bpf_core_type_size(struct skb_shared_info)) +
		     CACHE_ALIGN(bpf_core_type_size(struct sk_buff));
	__u64 now = bpf_ktime_get_ns(), epoch = now / bucket_ns;
	__u32 pslot = 0, gslot = 0;
	struct task_struct *task;
	struct task_state *ts;
	struct proc_stats *p;
	struct prog_stats *pg;
	struct tl_slot *s;

	__sync_fetch_and_add(&enq_main, 1);
	t->queued++;
	t->bytes_queued += size;
	if (depth > t->max_depth)
		t->max_depth = depth;
	s = tl_get(epoch, t);
	if (s) {
		s->queued++;
		if (depth > s->max_depth)
			s->max_depth = depth;
	}
	task = cur_task();
	ts = task_get_of(false, task, true);
	p = proc_get(ts, t, now, task, &pslot);
	if (p) {
		__sync_fetch_and_add(&p->queued, 1);
		__sync_fetch_and_add(&p->bytes, size);
	}
	pg = prog_get(ts, t, false, task, &gslot);
	if (pg) {
		__sync_fetch_and_add(&pg->queued, 1);
		__sync_fetch_and_add(&pg->bytes, size);
	}
	if (!start_entry && ab) {
		if (ts && ts->open_ab[2] == ab) {
			ts->open_ab[2] = 0;
		} else if (ts && ts->open_ab[1] == ab) {
			ts->open_ab[1] = 0;
		} else if (ts && ts->open_ab[0] == ab) {
			ts->open_ab[0] = 0;
		} else if (ts && ts->fexit_seen) {
			/* Its wait, if it waited, is dropped with it, as the
			 * entry's missed returns were. */
			t->returns_missed++;
			ts->call.active = 0;
			ts->call.sleep_timeout = 0;
		} else {
			/* Started before counting began. */
			t->inflight_missing++;
		}
	}
	if (enqueue_at_log_end && ts) {
		ts->end_bytes = size;
		ts->end_epoch = epoch;
		ts->end_proc_slot = pslot;
		ts->end_prog_slot = gslot;
		ts->end_pending = 1;
	}
}

/* audit_log_end(ab) queues ab->skb on audit_queue unless the rate limit
 * frees it (on_log_lost takes that back); the queue's length is read at
 * its known address (this mode needs the data symbols). */
static __always_inline void on_log_end(struct audit_buffer *ab, bool btf)
{
	struct sk_buff *skb;
	struct counters *t;

	if (!ab || !counting)
		return;
	skb = READ(btf, ab, skb);
	if (!skb)
		return;
	t = get_totals();
	if (t)
		count_enqueue(skb, (__u64)qlen_at(qaddr.main) + 1, t, btf, (__u64)ab);
}

/* count_requeue counts a record moved onto the retry or hold queue, depth
 * being that queue's length with it. */
static __always_inline void count_requeue(struct counters *t, bool retry, __u64 depth)
{
	if (retry) {
		t->retry_queued++;
		if (depth > t->max_retry_depth)
			t->max_retry_depth = depth;
	} else {
		t->hold_queued++;
		if (depth > t->max_hold_depth)
			t->max_hold_depth = depth;
	}
}

/* count_received counts n records kauditd put on auditd's socket, in the
 * bucket of now. */
static __always_inline void count_received(struct counters *t, __u64 n)
{
	struct tl_slot *s;

	if (!n)
		return;
	t->received += n;
	s = tl_get(bpf_ktime_get_ns() / bucket_ns, t);
	if (s)
		s->delivered += n;
}

/* on_deliver counts a record kauditd hands to auditd (enqueue on
 * skb_queue_tail): inside a kauditd_send_queue pass, netlink_unicast
 * queues it on the receive queue of auditd's socket (__netlink_sendskb),
 * whose netlink portid is the one the pass was given; the multicast copies
 * of the same pass go to other sockets. list is &sk->sk_receive_queue, and
 * struct netlink_sock begins with its struct sock. */
static __always_inline void on_deliver(__u64 list)
{
	struct netlink_sock *nlk;
	struct counters *t;
	__u32 portid = 0;

	if (kauditd_pid != (__s32)(__u32)bpf_get_current_pid_tgid() || !counting)
		return;
	nlk = (void *)(list - bpf_core_field_offset(struct sock, sk_receive_queue));
	if (bpf_probe_read_kernel(&portid, sizeof(portid), (void *)nlk + bpf_core_field_offset(struct netlink_sock, portid)))
		return;
	if (portid != send.portid)
		return;
	t = get_totals();
	if (t)
		count_received(t, 1);
}

static __always_inline void on_queue_tail(struct sk_buff_head *list, struct sk_buff *skb, bool btf)
{
	struct queue_addrs *q = &qaddr;
	__u64 addr = (__u64)list;
	struct counters *t;

	/* Inside kauditd_hold_skb the only enqueue is the record's move to
	 * the retry or hold queue, whose addresses may be unknown here (fentry
	 * cannot learn them without kallsyms data symbols). */
	if (hold.tid && hold.tid == bpf_get_current_pid_tgid())
		hold.requeued = 1;
	/* skb_queue_tail is hot system-wide: compare first. */
	if (!addr || (addr != q->main && addr != q->retry && addr != q->hold) || !counting) {
		if (send.open)
			on_deliver(addr);
		return;
	}
	t = get_totals();
	if (!t)
		return;
	if (addr == q->main)
		count_enqueue(skb, (__u64)READ(btf, list, qlen) + 1, t, btf, 0);
	else
		count_requeue(t, addr == q->retry, (__u64)READ(btf, list, qlen) + 1);
}

/* kauditd_send_queue(sk, portid, queue, retry_limit, skb_hook, err_hook):
 * the main queue is the one drained with retry_limit 1 (the hold and retry
 * queues use UNICAST_RETRIES), in every tree from 4.18 to 6.18. The hold
 * and retry queues are told apart by err_hook, which only the kprobe
 * variant can read: the verifier refuses fentry programs access to
 * function-pointer arguments ("arg5 type FUNC_PROTO is not a struct" on
 * 6.12). len is the queue's length as the pass starts. */
static __always_inline void on_send_queue(struct sock *sk, struct sk_buff_head *queue, __u32 portid,
					  unsigned int retry_limit, void *err_hook, __u32 len)
{
	struct queue_addrs *q = &qaddr;
	__u64 addr = (__u64)queue, now;
	struct counters *t;
	struct tl_slot *s;

	if (retry_limit == 1) {
		if (!q->main)
			q->main = addr;
	} else if (fn_kauditd_rehold_skb && (__u64)err_hook == fn_kauditd_rehold_skb) {
		if (!q->hold)
			q->hold = addr;
	} else if (fn_kauditd_hold_skb && (__u64)err_hook == fn_kauditd_hold_skb) {
		if (!q->retry)
			q->retry = addr;
	}
	if (!counting)
		return;
	/* Learned once: kauditd, a kernel thread that never exits, is
	 * kauditd_send_queue's only caller (4.18 .. 6.18), so the pid cannot
	 * change; a helper call a pass fewer (issue 14; 6.1 makes three
	 * passes a record). */
	if (kauditd_pid < 0)
		kauditd_pid = (__u32)bpf_get_current_pid_tgid();
	/* An empty hold or retry queue: the pass sends nothing and takes
	 * next to no time, so it is neither timed nor opened (its exit finds
	 * nothing open). A pass walks only to the tail it saw at its start
	 * (skb_peek_tail, 5.10 to 6.18), so what auditd_reset moves to the
	 * hold queue meanwhile, from another task, waits for the next pass;
	 * a move between this read and that peek is missed. Most passes
	 * are such: 6.1's kauditd runs all three every time it wakes, one
	 * record a wake where auditd keeps up (make bench: the pass programs
	 * ran 3.0 times a record there, 1,505 ns a record with fentry). */
	if (retry_limit != 1 && addr != q->main && !len) {
		send.open = 0;
		return;
	}
	/* Without kallsyms data symbols fentry cannot tell the hold queue
	 * from the retry queue (err_hook is unreadable): both count as retry. */
	send.portid = portid;
	send.queue = addr == q->main || retry_limit == 1 ? 0 : addr == q->hold ? 2 : 1;
	now = bpf_ktime_get_ns();
	send.start = now;
	send.mark = now;
	send.open = 1;
	if (addr != q->main)
		return;
	/* kauditd_thread passes (sk ? kauditd_retry_skb : kauditd_hold_skb)
	 * as the main queue's err_hook (4.18 .. 6.18): told from sk, which
	 * fentry can read where it cannot read err_hook. */
	send.hook = sk ? HOOK_RETRY : HOOK_HOLD;
	if (!drain.started) {
		drain.base = (__s64)len - (__s64)enq_main;
		drain.started = 1;
	}
	drain.open = 1;
	/* The depth kauditd found, in the bucket it found it in (a pass can
	 * run for seconds: at its end this depth is long gone). */
	t = get_totals();
	if (!t)
		return;
	/* Without send_exit the pass is counted as it begins (its exit is
	 * not seen). */
	if (!send_exit)
		t->kauditd_passes++;
	/* The pass's start time: one clock read a pass, not two (issue 14). */
	s = tl_get(now / bucket_ns, t);
	if (s && len > s->max_depth)
		s->max_depth = len;
}

/* drain_update recomputes what kauditd drained from audit_queue so far
 * (see on_send_queue_ret) and counts what is new since the last time, in
 * the totals and in s, the slot of now (when not NULL). */
static __always_inline void drain_update(struct counters *t, struct tl_slot *s)
{
	__s64 total = drain.base + (__s64)enq_main - (__s64)qlen_at(qaddr.main);
	__u64 d;

	if (total <= drain.last)
		return;
	d = total - drain.last;
	drain.last = total;
	t->drained += d;
	if (s)
		s->drained += d;
}

/* add_send_ns adds d to the send time of the queue the open pass is over
 * (send.queue: 0 audit_queue, 1 retry, 2 hold). */
static __always_inline void add_send_ns(struct counters *t, __u64 d)
{
	if (send.queue == 0)
		t->send_ns_main += d;
	else if (send.queue == 1)
		t->send_ns_retry += d;
	else
		t->send_ns_hold += d;
}

/* pass_progress accounts the open pass's time up to now without
 * send_exit: since the last call (send.mark). Called by kauditd inside a
 * pass where its netlink_unicast returns (whatever it returned) and where
 * its outermost error hook returns. The pass's time runs to its last send
 * or error hook, not its return: the walk's last few instructions are
 * left out, and an auditd_reset that kauditd runs right after a failed
 * pass adds its requeues' time to that pass (send.open stays set until
 * the next pass begins). */
static __always_inline void pass_progress(struct counters *t, __u64 now)
{
	__u64 d = now - send.mark;

	send.mark = now;
	add_send_ns(t, d);
}

/* drain_one counts one record kauditd took off audit_queue, without
 * send_exit, in the totals and in s, the slot of now (when not NULL):
 * no read of the queue's length a record (issue 14: that read was 160 ns
 * of netlink_unicast's program). kauditd_send_queue's main pass (4.18 ..
 * 6.18, retry_limit 1, err_hook never NULL) hands each record it dequeues
 * to exactly one of: netlink_unicast returning >= 0 (sent); or its
 * err_hook, once, either straight (sk NULL: no auditd, or an earlier
 * record of the pass failed) or after netlink_unicast returned < 0 (the
 * first failure ends unicasts for the pass: ++failed >= 1; no retry).
 * So the main pass's records are counted at netlink_unicast returns >= 0
 * and at exits of the outermost error hook that is the pass's err_hook
 * (send.hook): the kauditd_hold_skb calls of an auditd_reset that kauditd
 * runs after a failed main pass (whose err_hook was kauditd_retry_skb)
 * move retry queue records, not audit_queue's, and are not counted. The
 * count is exact while no run of these programs is missed (recursion or
 * kretprobe misses, which the summary reports); unlike the recomputation
 * from enq_main (drain_update) it has no error for producers between
 * audit_log_end's entry and their skb_queue_tail, and a record counts in
 * the bucket it left kauditd in. User space keeps the exit program
 * (send_exit) where either error hook cannot be attached. */
static __always_inline void drain_one(struct counters *t, struct tl_slot *s)
{
	t->drained++;
	if (s)
		s->drained++;
}

/* Only kauditd dequeues audit_queue, so everything drained so far is what
 * was there, plus what was queued, minus what is left. Recomputing that
 * total at the end of each pass (rather than adding up per-pass deltas)
 * keeps the error to the records being queued at that instant (counted in
 * enq_main, not yet linked), instead of letting it accumulate; with no
 * producer mid-enqueue it is exact. Counted per pass, not per
 * skb_dequeue, so that the cost falls as a pass takes more records. */
static __always_inline void on_send_queue_ret(void)
{
	struct counters *t;
	__u64 now;

	if (!send.open && !drain.open)
		return; /* an empty hold or retry pass, or not counting */
	t = get_totals();
	/* One clock read a pass's end, for its time and the drained bucket
	 * (issue 14: it was read twice). */
	now = bpf_ktime_get_ns();
	if (send.open && kauditd_pid == (__s32)(__u32)bpf_get_current_pid_tgid()) {
		send.open = 0;
		if (t)
			add_send_ns(t, now - send.start);
	}
	if (!drain.open)
		return;
	drain.open = 0;
	if (!t)
		return;
	t->kauditd_passes++;
	drain_update(t, tl_get(now / bucket_ns, t));
}

/* kauditd_hold_skb and kauditd_retry_skb, kauditd's error hooks: only the
 * outermost call of a task is judged, so that a hook calling the other
 * (where a kernel does) counts once. */
static __always_inline void on_hold_skb(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	__u64 now = bpf_ktime_get_ns();

	if (!counting)
		return;
	/* A call of the same task within a second of the outermost entry is
	 * nested in it; older, the outermost's exit was missed (a skipped
	 * fexit or kretprobe), and this call starts afresh rather than be
	 * taken for nested for good. */
	if (hold.tid == id && hold.depth && now - hold.start < 1000000000ULL) {
		hold.depth++;
		return;
	}
	hold.requeued = 0;
	hold.counted = 0;
	hold.depth = 1;
	hold.start = now;
	hold.tid = id;
	if (enqueue_at_log_end) {
		hold.retry_len = qlen_at(qaddr.retry);
		hold.hold_len = qlen_at(qaddr.hold);
	}
}

/* The outermost error hook's exit: with the enqueue at audit_log_end, its
 * move is read from the queues' growth (kauditd_retry_skb queues on the
 * retry queue or counts a loss; kauditd_hold_skb puts -EAGAIN records on
 * the retry queue and others on the hold queue, counts a loss when the
 * queue is full, or frees the record silently without audit=1). A record
 * neither requeued nor counted lost was dropped silently. */
static __always_inline void on_hold_skb_ret(__u32 fn)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct counters *t;

	/* kauditd's pass, before the judging, which an auditd_reset in
	 * another task can take over (hold.tid): the drain must not miss
	 * this record then. kauditd's hooks do not nest (4.18 .. 6.18). */
	if (!send_exit && send.open && counting && kauditd_pid == (__s32)(__u32)id &&
	    !(hold.tid == id && hold.depth > 1)) {
		t = get_totals();
		if (t) {
			__u64 now = bpf_ktime_get_ns();

			pass_progress(t, now);
			if (send.queue == 0 && drain.open && fn == send.hook)
				drain_one(t, tl_get(now / bucket_ns, t));
		}
	}
	if (!hold.tid || hold.tid != id)
		return;
	if (hold.depth > 1) {
		hold.depth--;
		return;
	}
	hold.tid = 0;
	hold.depth = 0;
	t = get_totals();
	if (!t)
		return;
	if (enqueue_at_log_end) {
		__u32 r = qlen_at(qaddr.retry), h = qlen_at(qaddr.hold);

		if (r > hold.retry_len) {
			count_requeue(t, true, r);
			hold.requeued = 1;
		} else if (h > hold.hold_len) {
			count_requeue(t, false, h);
			hold.requeued = 1;
		}
	}
	if (!hold.requeued && !hold.counted)
		t->silent_drops++;
}

/* ---- the consumer's time on and off CPU ---- */

/* consumer_add adds one interval to a thread's time by cause. */
static __always_inline void consumer_add(__u32 tid, __u32 tgid, __s32 cause, __u64 ns, struct counters *t)
{
	struct consumer_key k = {.tid = tid, .cause = cause};
	struct consumer_time *v, nv = {.ns = ns, .count = 1, .tgid = tgid};

	v = bpf_map_lookup_elem(&consumer_times, &k);
	if (v) {
		__sync_fetch_and_add(&v->ns, ns);
		__sync_fetch_and_add(&v->count, 1);
		return;
	}
	if (bpf_map_update_elem(&consumer_times, &k, &nv, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&consumer_times, &k);
		if (v) {
			__sync_fetch_and_add(&v->ns, ns);
			__sync_fetch_and_add(&v->count, 1);
		} else if (t) {
			t->consumer_overflow++;
		}
	}
}

/* syscall_of is the syscall a task going to sleep (or waking) is in, read
 * from its saved user registers: on x86-64 the entry code stores -ENOSYS
 * in ax until the syscall returns and the number in orig_ax (an exception,
 * such as a page fault, leaves the user's ax); arm64's entry sets
 * syscallno to NO_SYSCALL (-1) for everything that is not a syscall. */
static __always_inline __s32 syscall_of(struct task_struct *p)
{
	struct pt_regs *regs;

	if (!have_task_pt_regs)
		return CAUSE_SLEEP_UNKNOWN;
	regs = (struct pt_regs *)bpf_task_pt_regs(p);
	if (!regs)
		return CAUSE_SLEEP_UNKNOWN;
#if defined(__TARGET_ARCH_x86)
	if ((long)regs->ax != -38 /* -ENOSYS */ || (long)regs->orig_ax < 0)
		return CAUSE_NO_SYSCALL;
	return (__s32)regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	if (regs->syscallno < 0)
		return CAUSE_NO_SYSCALL;
	return regs->syscallno;
#else
#error "unsupported architecture"
#endif
}

static __always_inline struct consumer_thread *consumer_thread(__u32 tid, __u32 tgid, bool *fresh,
							       struct counters *t)
{
	struct consumer_thread *th, nt = {.since = consumer_since_ns, .tgid = tgid};

	*fresh = false;
	th = bpf_map_lookup_elem(&consumer_threads, &tid);
	if (th && th->tgid == tgid)
		return th;
	/* A new thread, or a tid reused by another process. */
	*fresh = true;
	if (bpf_map_update_elem(&consumer_threads, &tid, &nt, BPF_ANY)) {
		if (t)
			t->consumer_overflow++;
		return NULL;
	}
	return bpf_map_lookup_elem(&consumer_threads, &tid);
}

/* The consumer's threads (auditd's, by tgid) and kauditd: on CPU, runnable
 * (switched out runnable), or asleep, and then in which syscall (kauditd:
 * sending or idle). A switch costs every other task four compares. Kernel minimum:
 * tp_btf needs 5.5 (ba0e1c8d6ebf, "bpf: Introduce BPF_TRACE_RAW_TP"). */
SEC("tp_btf/sched_switch")
int BPF_PROG(consumer_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__s32 c = consumer_tgid, k = kauditd_pid;
	struct consumer_thread *th;
	struct counters *t;
	bool fresh, kd;
	__u64 now;

	if (prev->tgid != c && next->tgid != c && prev->pid != k && next->pid != k)
		return 0;
	if (!counting || (c < 0 && k < 0))
		return 0;
	now = bpf_ktime_get_ns();
	t = get_totals();

	kd = prev->pid == k;
	if (prev->tgid == c || kd) {
		th = consumer_thread(prev->pid, prev->tgid, &fresh, t);
		if (th) {
			/* Fresh: auditd was on CPU since the start; kauditd
			 * since an unknown moment (its pid is learned while it
			 * runs), so its first run is not counted. */
			if ((fresh && !kd) || (!fresh && th->cause == CAUSE_ON_CPU))
				consumer_add(prev->pid, prev->tgid, CAUSE_ON_CPU,
					     now > th->since ? now - th->since : 0, t);
			/* Preempted, or switched out still runnable: throttled
			 * by its cgroup's CPU quota, or rescheduled on its way
			 * back to user space (the tracepoint's preempt flag is
			 * false there). */
			if (preempt || task_state(prev) == 0)
				th->cause = CAUSE_RUNNABLE;
			else if (kd)
				th->cause = send.open ? CAUSE_KAUDITD_SEND : CAUSE_KAUDITD_IDLE;
			else
				th->cause = syscall_of(prev);
			th->since = now;
		}
	}
	kd = next->pid == k;
	if (next->tgid == c || kd) {
		th = consumer_thread(next->pid, next->tgid, &fresh, t);
		if (th) {
			/* Fresh: asleep since the start, in what it wakes in. */
			if (fresh)
				th->cause = kd ? CAUSE_KAUDITD_IDLE : syscall_of(next);
			if (th->cause != CAUSE_ON_CPU)
				consumer_add(next->pid, next->tgid, th->cause,
					     now > th->since ? now - th->since : 0, t);
			th->cause = CAUSE_ON_CPU;
			th->since = now;
		}
	}
	return 0;
}

/* audit_log_config_change(function_name, new, old, allow_changes): a
 * change of an audit setting, in the task that sent the AUDIT_SET. Its
 * only caller runs under audit_ctl_lock (audit_receive holds it for every
 * message), so the calls never overlap and the slot is claimed with plain
 * loads and stores (an atomic that returns its value needs -mcpu=v3,
 * 5.12+, and the kprobe family keeps to v1). The ns is written last, so
 * that user space, which reads the slots below settings_next, leaves one
 * still being filled (ns 0) for its next read. */
static __always_inline void on_config_change(const char *name, __u32 new_val, __u32 old_val, int allow)
{
	if (!counting)
		return;
	__u32 i = settings_next;
	settings_next = i + 1;
	if (i >= SETTINGS_SLOTS)
		return;
	struct setting_change *c = bpf_map_lookup_elem(&settings_log, &i);
	if (!c)
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	c->tgid = id >> 32;
	c->pid = (__u32)id;
	c->new_val = new_val;
	c->old_val = old_val;
	c->allow = allow;
	c->cgroup_id = bpf_get_current_cgroup_id();
	c->auid = (__u32)-1;
	c->ses = (__u32)-1;
	/* Both are there with CONFIG_AUDIT (CONFIG_AUDITSYSCALL before 5.1). */
	if (bpf_core_field_exists(task->loginuid))
		c->auid = BPF_CORE_READ(task, loginuid.val);
	if (bpf_core_field_exists(task->sessionid))
		c->ses = BPF_CORE_READ(task, sessionid);
	bpf_get_current_comm(c->comm, sizeof(c->comm));
	bpf_probe_read_kernel_str(c->name, sizeof(c->name), name);
	c->ns = bpf_ktime_get_ns();
}

/* ---- fentry/fexit: BPF trampolines, x86-64 5.5+ (fec56f5890d9, "bpf:
 * Introduce BPF trampoline") and arm64 6.0+ (efc9909fdce0, "bpf, arm64:
 * Add bpf trampoline for arm64"); needs vmlinux BTF ---- */

SEC("fentry/audit_log_start")
int BPF_PROG(fentry_audit_log_start, struct audit_context *actx, gfp_t gfp, int type)
{
	on_log_start(actx, type);
	return 0;
}

SEC("fexit/audit_log_start")
int BPF_PROG(fexit_audit_log_start, struct audit_context *actx, gfp_t gfp, int type, void *ret)
{
	on_log_start_ret(ret, actx, type, false);
	return 0;
}

/* Without start_entry (fentry only). add_wait_queue_exclusive is rare
 * outside audit (the scheduler's own waits and most others add their
 * entries inline): one compare a call. */
SEC("fentry/add_wait_queue_exclusive")
int BPF_PROG(fentry_add_wait_queue_exclusive, struct wait_queue_head *wq_head)
{
	if ((__u64)wq_head == backlog_wait_addr)
		on_backlog_wait_join();
	return 0;
}

SEC("fexit/audit_receive")
int BPF_PROG(fexit_audit_receive)
{
	on_receive_ret();
	return 0;
}

SEC("fentry/audit_log_lost")
int BPF_PROG(fentry_audit_log_lost, const char *message)
{
	on_log_lost(message);
	return 0;
}

SEC("fentry/audit_log_config_change")
int BPF_PROG(fentry_audit_log_config_change, char *function_name, __u32 new_val, __u32 old_val, int allow_changes)
{
	on_config_change(function_name, new_val, old_val, allow_changes);
	return 0;
}

SEC("fentry/audit_log_end")
int BPF_PROG(fentry_audit_log_end, struct audit_buffer *ab)
{
	on_log_end(ab, true);
	return 0;
}

SEC("fentry/skb_queue_tail")
int BPF_PROG(fentry_skb_queue_tail, struct sk_buff_head *list, struct sk_buff *newsk)
{
	on_queue_tail(list, newsk, true);
	return 0;
}

/* on_unicast_ret: kauditd handed a record to auditd (netlink_unicast
 * returned its length inside a kauditd_send_queue pass; the pass's
 * multicast copies go through netlink_broadcast). Counted in the bucket
 * of now, where the consumer took it. */
static __always_inline void on_unicast_ret(long ret)
{
	struct counters *t;
	struct tl_slot *s;
	__u64 now;

	if (send_exit && ret < 0)
		return;
	if (!send.open || !counting || kauditd_pid != (__s32)(__u32)bpf_get_current_pid_tgid())
		return;
	t = get_totals();
	if (!t)
		return;
	if (send_exit) {
		count_received(t, 1);
		return;
	}
	/* One clock read and one slot for the record and the pass. A
	 * failed send is counted drained by the error hook that follows
	 * (drain_one). */
	now = bpf_ktime_get_ns();
	pass_progress(t, now);
	if (ret < 0)
		return;
	s = tl_get(now / bucket_ns, t);
	t->received++;
	if (s)
		s->delivered++;
	if (send.queue == 0 && drain.open)
		drain_one(t, s);
}

SEC("fexit/netlink_unicast")
int BPF_PROG(fexit_netlink_unicast, struct sock *ssk, struct sk_buff *skb, __u32 portid, int nonblock, int ret)
{
	on_unicast_ret(ret);
	return 0;
}

SEC("fentry/kauditd_send_queue")
int BPF_PROG(fentry_kauditd_send_queue, struct sock *sk, __u32 portid, struct sk_buff_head *queue,
	     unsigned int retry_limit)
{
	/* A direct load (BTF pointer argument): cheaper than the helper
	 * call bpf_probe_read_kernel the kprobe variant needs. */
	on_send_queue(sk, queue, portid, retry_limit, NULL, queue->qlen);
	return 0;
}

SEC("fentry/schedule_timeout")
int BPF_PROG(fentry_schedule_timeout, long timeout)
{
	on_schedule_timeout(timeout);
	return 0;
}

SEC("fexit/schedule_timeout")
int BPF_PROG(fexit_schedule_timeout, long timeout, long ret)
{
	on_schedule_timeout_ret(ret);
	return 0;
}

SEC("fexit/kauditd_send_queue")
int BPF_PROG(fexit_kauditd_send_queue)
{
	on_send_queue_ret();
	return 0;
}

SEC("fentry/kauditd_hold_skb")
int BPF_PROG(fentry_kauditd_hold_skb)
{
	on_hold_skb();
	return 0;
}

SEC("fexit/kauditd_hold_skb")
int BPF_PROG(fexit_kauditd_hold_skb)
{
	on_hold_skb_ret(HOOK_HOLD);
	return 0;
}

SEC("fentry/kauditd_retry_skb")
int BPF_PROG(fentry_kauditd_retry_skb)
{
	on_hold_skb();
	return 0;
}

SEC("fexit/kauditd_retry_skb")
int BPF_PROG(fexit_kauditd_retry_skb)
{
	on_hold_skb_ret(HOOK_RETRY);
	return 0;
}

/* ---- kprobe/kretprobe: any kernel with CONFIG_KPROBES ---- */

SEC("kprobe/audit_log_start")
int BPF_KPROBE(kprobe_audit_log_start, struct audit_context *actx, gfp_t gfp, int type)
{
	on_log_start(actx, type);
	return 0;
}

SEC("kretprobe/audit_log_start")
int BPF_KRETPROBE(kretprobe_audit_log_start, void *ret)
{
	on_log_start_ret(ret, NULL, 0, true);
	return 0;
}

SEC("kprobe/audit_log_lost")
int BPF_KPROBE(kprobe_audit_log_lost, const char *message)
{
	on_log_lost(message);
	return 0;
}

SEC("kprobe/audit_log_config_change")
int BPF_KPROBE(kprobe_audit_log_config_change, char *function_name, __u32 new_val, __u32 old_val, int allow_changes)
{
	on_config_change(function_name, new_val, old_val, allow_changes);
	return 0;
}

SEC("kprobe/audit_log_end")
int BPF_KPROBE(kprobe_audit_log_end, struct audit_buffer *ab)
{
	on_log_end(ab, false);
	return 0;
}

SEC("kprobe/skb_queue_tail")
int BPF_KPROBE(kprobe_skb_queue_tail, struct sk_buff_head *list, struct sk_buff *newsk)
{
	on_queue_tail(list, newsk, false);
	return 0;
}

SEC("kretprobe/netlink_unicast")
int BPF_KRETPROBE(kretprobe_netlink_unicast, int ret)
{
	on_unicast_ret(ret);
	return 0;
}

SEC("kprobe/kauditd_send_queue")
int BPF_KPROBE(kprobe_kauditd_send_queue, struct sock *sk, __u32 portid, struct sk_buff_head *queue,
	       unsigned int retry_limit)
{
	/* err_hook is the 6th argument; libbpf 1.1's bpf_tracing.h has no
	 * PT_REGS_PARM6, so read the register of each calling convention. */
#if defined(__TARGET_ARCH_x86)
	void *err_hook = (void *)((struct pt_regs *)ctx)->r9;
#elif defined(__TARGET_ARCH_arm64)
	void *err_hook = (void *)((struct user_pt_regs *)ctx)->regs[5];
#else
#error "unsupported architecture"
#endif

	on_send_queue(sk, queue, portid, retry_limit, err_hook, qlen_at((__u64)queue));
	return 0;
}

SEC("kprobe/schedule_timeout")
int BPF_KPROBE(kprobe_schedule_timeout, long timeout)
{
	on_schedule_timeout(timeout);
	return 0;
}

SEC("kretprobe/schedule_timeout")
int BPF_KRETPROBE(kretprobe_schedule_timeout, long ret)
{
	on_schedule_timeout_ret(ret);
	return 0;
}

SEC("kretprobe/kauditd_send_queue")
int BPF_KRETPROBE(kretprobe_kauditd_send_queue)
{
	on_send_queue_ret();
	return 0;
}

SEC("kprobe/kauditd_hold_skb")
int BPF_KPROBE(kprobe_kauditd_hold_skb)
{
	on_hold_skb();
	return 0;
}

SEC("kretprobe/kauditd_hold_skb")
int BPF_KRETPROBE(kretprobe_kauditd_hold_skb)
{
	on_hold_skb_ret(HOOK_HOLD);
	return 0;
}

SEC("kprobe/kauditd_retry_skb")
int BPF_KPROBE(kprobe_kauditd_retry_skb)
{
	on_hold_skb();
	return 0;
}

SEC("kretprobe/kauditd_retry_skb")
int BPF_KRETPROBE(kretprobe_kauditd_retry_skb)
{
	on_hold_skb_ret(HOOK_RETRY);
	return 0;
}
