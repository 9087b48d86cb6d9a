/* SPDX-License-Identifier: GPL-2.0 */
/*
 * backlog.h: what backlog.bpf.c shares with user space. Every struct here is
 * a map key or value, or a global, that internal/probe reads or writes, and
 * every enum a value both sides must agree on. bpf2go generates a Go type
 * for each one named with -type in internal/probe/gen.go (struct foo_bar
 * becomes backlogFooBar; enum foo's element BAR becomes the constant
 * backlogFooBAR), so the Go side copies nothing by hand. The programs'
 * private state (struct task_state) stays in backlog.bpf.c.
 */
#ifndef __BACKLOG_H
#define __BACKLOG_H

/* Lengths of the strings in the maps, and of the wait histogram. */
enum sizes {
	KEY_LEN = 64,    /* of ctx->filterkey: longer keys are cut */
	REASON_LEN = 48, /* of audit_log_lost's message */
	/* reasons' rows: slot 0 stays unused (slot_claim's "none"); the
	 * kernel has 8 messages (4.18 .. 6.18). */
	REASON_SLOTS = 16,
	COMM_LEN = 16,   /* TASK_COMM_LEN */
	EXE_LEN = 32,    /* of the executable's file name: longer names are cut */
	/* wait_hist: slot i counts waits of [2^i, 2^(i+1)) ns; the last
	 * slot takes every longer wait. */
	HIST_SLOTS = 48,
};

/* Sizes user space uses unless told otherwise; it sets every one of them
 * before load, so the values in the object are only placeholders. */
enum defaults {
	DEFAULT_BUCKET_NS = 10000000, /* the timeline's bucket width */
	DEFAULT_TIMELINE_SLOTS = 1024, /* buckets in the ring, per CPU */
	DEFAULT_MAX_PROCS = 4096,      /* process rows; slots 0 and 1 are added */
	DEFAULT_MAX_RULES = 1024,
	DEFAULT_MAX_PROGS = 1024,      /* program slots; slot 0 is added */
	/* (process, program row) pairs remembered to count each process
	 * once per row: an LRU, so exact while fewer are live. */
	DEFAULT_PROG_SEEN = 16384,
	/* (rule, program) pairs; slot 0 is added. */
	DEFAULT_MAX_RULE_PROGS = 4096,
	/* A process gets a row of its own once its group leader is this
	 * old (ns); its records before go to the short-lived row. */
	DEFAULT_PROC_MIN_AGE_NS = 1000000000,
};

/* The process table's reserved slots. */
enum proc_slot {
	PROC_SLOT_OTHER = 0, /* processes that did not fit (proc_overflow) */
	PROC_SLOT_SHORT = 1, /* processes younger than proc_min_age_ns */
	PROC_SLOT_FIRST = 2, /* the first row of a process */
};

/* The attribution tables, as slot_claim numbers them in slot_claims' keys
 * (table << 32 | slot). Shared because user space looks claims up by the
 * same keys (rowsUsed bounds a table's read by its claimed slots): one
 * list, so the two sides cannot number a table differently. */
enum claim_table {
	CLAIM_PROCS = 1,  /* procs */
	CLAIM_RULES,      /* rules */
	CLAIM_PROGS,      /* progs */
	CLAIM_RULE_PROGS, /* rule_progs */
	CLAIM_REASONS,    /* reasons (read whole by user space) */
};

/* rule_key.syscall when it holds no syscall number. */
enum rule_syscall {
	/* The record was not made inside a syscall (no audit_context, or
	 * ctx->major unset: kernel threads, netfilter's xt_AUDIT). */
	SYSCALL_NONE = -1,
	/* Never stored: user space's label for slot 0 of rules, the records
	 * of rules that did not fit. */
	SYSCALL_OTHER = -2,
	/* The record belongs to an io_uring operation, whose opcode
	 * (IORING_OP_*) is in rule_key.uring_op: an io_uring event's records
	 * (ctx->major is 0 there, which read as syscall 0), or the URINGOP
	 * record of an operation run inline in io_uring_enter. 5.16+
	 * (5bd2182d58e9). */
	SYSCALL_URING = -3,
};

/* Addresses of the three kauditd queues. Filled by user space from
 * kallsyms (CONFIG_KALLSYMS_ALL) or learned in kauditd_send_queue. */
struct queue_addrs {
	__u64 main;
	__u64 retry;
	__u64 hold;
};

/* Per CPU, so plain adds: a program is not migrated while it runs, and only
 * a preempting task running the same program on this CPU (PREEMPT kernels)
 * could interleave with it. Atomics are kept for maps shared between CPUs. */
struct counters {
	__u64 records;        /* calls that got past the exclude filter */
	/* Of which an event's first record: AUDIT_SYSCALL, or the
	 * AUDIT_URINGOP of an io_uring event (AUDIT_CTX_URING; a URINGOP
	 * made inline in io_uring_enter belongs to the syscall's event and
	 * is not one). */
	__u64 events;
	/* AUDIT_SYSCALL records lost: their events' other records were never
	 * made (audit_log_exit returns). A lost URINGOP is not counted here:
	 * audit_log_uring returns to audit_log_exit, which makes the event's
	 * other records all the same. */
	__u64 lost_events;
	__u64 filtered;       /* NULL return with no loss: exclude filter, audit off */
	/* enqueues on audit_queue (at audit_log_end's entry: less those
	 * the rate limit freed) */
	__u64 queued;
	__u64 bytes_queued;   /* their real size (head + sk_buff) */
	__u64 lost;           /* audit_log_lost calls */
	__u64 silent_drops;   /* freed in kauditd_hold_skb, not counted in lost */
	__u64 waits;          /* audit_log_start calls that slept */
	__u64 wait_jiffies;   /* their sleep, as backlog_wait_time_actual counts it */
	__u64 blocked_ns;     /* wall time of those calls */
	__u64 drained;        /* dequeues from audit_queue */
	__u64 retry_queued;
	__u64 hold_queued;
	__u64 max_depth;      /* audit_queue length, as the limit sees it */
	__u64 max_retry_depth;
	__u64 max_hold_depth;
	__u64 kauditd_passes;
	/* audit_log_start calls whose per-task state could not be made (task
	 * storage out of memory; in the fallback hash, an insert the LRU
	 * could not make room for): not counted. */
	__u64 inflight_overflow;
	/* audit_log_start returns with no call open in the task's state: the
	 * call began before counting did, its state could not be made
	 * (inflight_overflow), or, in the fallback hash, the LRU evicted the
	 * thread's entry while it was inside the call (more than its
	 * max_entries threads made records meanwhile). */
	__u64 inflight_missing;
	/* audit_log_start calls whose return no program saw: the task began
	 * another with the last still open. Kernels since 5.12 (e21aa341785c,
	 * "bpf: Fix fexit trampoline.") patch a replaced trampoline so that
	 * calls still inside the function return past its fexit programs:
	 * another program attached to or detached from audit_log_start while
	 * a producer was inside. A kretprobe out of instances does the same.
	 * Their records are not counted; a task that makes no later call is
	 * not seen. A call nested in an interrupt of another is not missed:
	 * counted here while it runs, taken back when the outer returns. */
	__u64 returns_missed;
	/* audit_log_start calls made inside another call of the same task,
	 * in an interrupt of it (softirq): both counted (task_state.outer). */
	__u64 nested_calls;
	__u64 proc_overflow;
	__u64 prog_overflow;  /* records of programs that did not fit (slot 0) */
	__u64 rule_overflow;
	/* records of (rule, program) pairs that did not fit (slot 0 of
	 * rule_progs, which no rule owns) */
	__u64 rule_prog_overflow;
	__u64 reason_overflow;
	__u64 timeline_late;
	/* The lowest and highest audit event serial (msg=audit(T:SERIAL))
	 * among the events' first records (SYSCALL, an io_uring event's
	 * URINGOP) counted and made (a lost one has none
	 * yet): what lets a test, or an operator with ausearch, name exactly
	 * the events a recording covers. 0: none. The serial is 32 bits in
	 * the kernel and wraps after 2^32 events. */
	__u64 first_serial;
	__u64 last_serial;
	/* The consumer (consumer_sched_switch and kauditd_send_queue). */
	/* records kauditd queued on auditd's socket: each unicast
	 * (skb_queue_tail), or per pass, the records that left the queue less
	 * those handed to the error hook (audit_log_end) */
	__u64 received;
	__u64 send_ns_main;    /* kauditd's wall time in passes over audit_queue */
	__u64 send_ns_retry;   /* ... over the retry queue */
	__u64 send_ns_hold;    /* ... over the hold queue */
	__u64 consumer_overflow; /* thread or time slots that did not fit */
	/* Timeline slots handed to a writer (tl_get with counters): while
	 * it and records stand still, no bucket changed, and user space's
	 * poll reads none (an idle recording's cost, issue 14). */
	__u64 tl_writes;
};

struct proc_stats {
	__u32 tgid;
	__u32 pad;
	__u64 records;
	__u64 queued;
	__u64 bytes;
	__u64 lost;
	__u64 waits;
	__u64 wait_jiffies;
	__u64 max_wait_jiffies;
	__u64 blocked_ns;
	__u64 cgroup_id;
	char comm[COMM_LEN];
};

/* A program: what a user can act on, bounded by the number of programs
 * rather than of processes. comm (the task's name, what auditd logs as
 * comm=), the parent's comm (the script or cron job behind a swarm of
 * short processes), the cgroup (systemd unit or container), and self: 1
 * for auditprof's own process and its children. */
struct prog_key {
	char comm[COMM_LEN];
	char parent_comm[COMM_LEN];
	__u64 cgroup_id;
	__u32 self;
	__u32 pad;
};

struct prog_stats {
	struct prog_key key;
	__u64 records;
	__u64 queued;
	__u64 bytes;
	__u64 lost;
	__u64 waits;
	__u64 wait_jiffies;
	__u64 max_wait_jiffies;
	__u64 blocked_ns;
	/* Processes whose records landed in this row, each counted once
	 * (prog_seen): a process that execs or renames itself counts in each
	 * row it makes records in. */
	__u64 processes;
	/* The file name of the executable (mm->exe_file) of the process that
	 * claimed the row, read once at the claim: an interpreter for a
	 * script. Empty for kernel threads. */
	char exe[EXE_LEN];
};

/* A rule is identified as the kernel leaves it in the audit_context: the
 * key (ctx->filterkey, several keys joined by \x01), the syscall number
 * and the syscall's arch (AUDIT_ARCH_*: the number means something else
 * under b32), or, for an io_uring operation's records, its opcode (an
 * io_uring rule, `-a always,io_uring -S openat`, filters on it). Records
 * with no key carry the producer's comm instead (for io_uring, the
 * process's: io-wq workers are named iou-wrk-<pid>), so keyless rules
 * still split by who triggers them. */
struct rule_key {
	char key[KEY_LEN];
	char comm[COMM_LEN];
	__s32 syscall; /* ctx->major, SYSCALL_NONE or SYSCALL_URING */
	__u32 arch;    /* 0 for io_uring */
	__s32 uring_op; /* ctx->uring_op for SYSCALL_URING, else -1 */
	__u32 pad;
};

struct rule_stats {
	struct rule_key key;
	__u64 records;
	__u64 events; /* an event's first records (counters.events) */
	__u64 lost;
	__u64 lost_events;
	__u64 waits;
	__u64 wait_jiffies;
};

/* A (rule, program) pair: the slots of the rule and program rows. */
struct rule_prog_key {
	__u32 rule_slot;
	__u32 prog_slot;
};

/* One program's share of one rule's records. */
struct rule_prog_stats {
	struct rule_prog_key key;
	__u64 records;
	__u64 events; /* an event's first records (counters.events) */
	__u64 lost;
	__u64 waits;
	__u64 wait_jiffies;
};

/* A loss reason's row in reasons, an array: the kernel passes
 * audit_log_lost a string literal (every caller, 3.x .. 6.18), so its
 * address names the reason, and a loss is counted by comparing addresses,
 * with no string read and no hashing (issue 14). text is read once, when
 * the row is claimed; two CPUs seeing a new reason at once can claim two
 * rows with the same text, which user space adds up. msg is written last:
 * a row is in use once it is not 0. */
/* What a loss's reason says about where the kernel lost the record
 * (reason_stats.kind), from its text (kernel/audit.c, 4.18 .. 6.18). */
enum reason_kind {
	/* 0: not known yet. A row's claim writes kind before it publishes
	 * msg, but arm64 may show another CPU msg first (BPF has no store
	 * barrier or load-acquire before 6.15): a loss that finds its row
	 * with kind 0 tells the kind from the text itself. */
	REASON_OTHER = 1,
	/* audit_log_end's "rate limit exceeded": the record its entry
	 * counted as queued was freed instead. */
	REASON_RATE_LIMIT = 2,
	/* audit_log_start's "backlog limit exceeded" and "out of memory in
	 * audit_log_start": the call returns NULL, its record is lost. */
	REASON_START = 3,
};

struct reason_stats {
	__u64 msg;   /* the message's address */
	__u64 count; /* losses with it */
	__u8 kind;   /* enum reason_kind */
	char text[REASON_LEN];
};

struct tl_slot {
	__u64 epoch; /* bucket number: ktime / bucket_ns */
	__u64 arrivals;
	__u64 events;
	__u64 lost_events;
	__u64 queued;
	__u64 lost;
	__u64 drained;
	__u64 max_depth;
	__u64 waits;
	__u64 wait_jiffies;
	/* Tasks that made a record in the bucket, each counted once (with
	 * task storage only: the inflight hash forgets a task between
	 * records, so there it stays 0). */
	__u64 producers;
	/* Records kauditd put on auditd's socket: what the consumer took,
	 * where drained also counts kauditd's moves to its retry queue while
	 * auditd takes nothing. With skb_queue_tail, in the bucket of each
	 * unicast; with audit_log_end, per kauditd_send_queue pass, in the
	 * bucket where the pass ends. */
	__u64 delivered;
};

/* consumer_key.cause: a syscall number (>= 0), or one of these. */
enum consumer_cause {
	CAUSE_ON_CPU = -1,        /* running */
	CAUSE_RUNNABLE = -2,      /* switched out runnable: waiting for a CPU */
	CAUSE_NO_SYSCALL = -3,    /* asleep outside a syscall (a page fault) */
	CAUSE_SLEEP_UNKNOWN = -4, /* asleep, syscall not readable (before 5.15) */
	CAUSE_KAUDITD_SEND = -5,  /* kauditd asleep in kauditd_send_queue:
				   * waiting for room on auditd's socket */
	CAUSE_KAUDITD_IDLE = -6,  /* kauditd asleep outside it: no records */
};

/* Sizes of the consumer's maps: auditd has a few threads (main, flush,
 * plugins), each in a few syscalls. */
enum consumer_sizes {
	CONSUMER_THREADS = 64,
	CONSUMER_TIMES = 1024,
};

/* Time of one consumer thread by cause. */
struct consumer_key {
	__u32 tid;
	__s32 cause;
};

struct consumer_time {
	__u64 ns;
	__u64 count; /* intervals */
	__u32 tgid;
	__u32 pad;
};

/* A consumer thread's state since its last switch: user space closes the
 * open interval when the recording stops. */
struct consumer_thread {
	__u64 since; /* ktime of the last switch (or of the start) */
	__u32 tgid;
	__s32 cause; /* while off CPU; CAUSE_ON_CPU while on */
};

/* settings_log's size, and the longest setting name kept: the kernel's
 * are at most "audit_backlog_wait_time_actual" (31 bytes with its NUL). */
enum settings_sizes {
	SETTINGS_SLOTS = 128,
	SETTING_NAME_LEN = 32,
};

/* One change of an audit setting as the kernel logs it (issue 20):
 * audit_log_config_change(name, new, old, allow_changes), called by every
 * AUDIT_SET setter while audit is enabled, in the sender's task, before
 * the new value is assigned (kernel/audit.c, audit_do_config_change). */
struct setting_change {
	__u64 ns;        /* ktime, the timeline's clock; written last (0: not yet) */
	__u64 cgroup_id; /* the sender's */
	__u32 new_val;
	__u32 old_val;
	__s32 allow;     /* 0: refused (audit locked), nothing assigned */
	__u32 tgid;
	__u32 pid;
	__u32 auid;      /* the sender's loginuid (4294967295: unset) */
	__u32 ses;       /* its session id (4294967295: unset) */
	__u32 pad;
	char comm[COMM_LEN];
	char name[SETTING_NAME_LEN]; /* "audit_backlog_limit", ... */
};

#endif /* __BACKLOG_H */
