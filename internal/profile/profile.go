// Package profile defines auditprof's recording format (schema_version 2;
// 1, whose timeline is dense arrays, is read too):
// what the kernel's audit backlog did during one recording, per process,
// per audit rule and per time bucket, together with the kernel's own
// counters (AUDIT_GET) read before and after.
//
// Data flows one way: kernel maps (or netlink) -> Profile -> model -> report.
// A Profile is plain data; readers must accept unknown fields.
package profile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/auditprof/auditprof/internal/durable"
)

// SchemaVersion is the version written by this build. Schema 2 (issue 14)
// writes the timeline as rows of its non-empty buckets; everything else is
// as in schema 1, which this build reads too (OldestSchemaVersion).
// Schema 3 (issue 14) names the series that are zero in every bucket in
// the timeline's zero_columns and leaves them out of its rows, which are
// no longer indented: a reader of schema 2 would take them for missing.
const SchemaVersion = 3

// OldestSchemaVersion is the oldest version this build reads.
const OldestSchemaVersion = 1

// Attach modes.
const (
	AttachFentry  = "fentry"
	AttachKprobe  = "kprobe"
	AttachNetlink = "netlink"
)

// Profile is one recording.
type Profile struct {
	SchemaVersion int    `json:"schema_version"`
	Attach        string `json:"attach"`
	// AttachNote says why a weaker mode was used, when one was.
	AttachNote string `json:"attach_note,omitempty"`
	// TaskState is where the programs kept per-call state: "task-storage"
	// (5.12+) or "hash" (the fallback, one hash update and delete per record).
	TaskState     string `json:"task_state,omitempty"`
	KernelRelease string `json:"kernel_release"`
	// HZ is the kernel tick rate, measured; backlog_wait_time and
	// backlog_wait_time_actual are in jiffies of this rate.
	HZ       int    `json:"hz"`
	HZSource string `json:"hz_source,omitempty"`
	// KauditdSendTimeoutNs is how long the recorded kernel's kauditd
	// waits on a send to an auditd that does not read before it moves
	// audit_queue to its retry queue (kernel.KauditdSendTimeout), 0 where
	// it waits until auditd reads or where that is unknown. A replayed
	// stall credits those moves only where it is set (sizing, model.md).
	KauditdSendTimeoutNs int64        `json:"kauditd_send_timeout_ns,omitempty"`
	StartUnixNs          int64        `json:"start_unix_ns"`
	DurationNs           int64        `json:"duration_ns"`
	AuditBefore          *AuditStatus `json:"audit_before"`
	AuditAfter           *AuditStatus `json:"audit_after"`
	// Settings are the audit settings' changes during the recording, in
	// time order (issue 20): AuditBefore was in force until the first.
	// Absent when nothing changed, and from older profiles (a reader that
	// does not know it replays at AuditBefore throughout).
	Settings     []SettingChange `json:"settings,omitempty"`
	AttachPoints []AttachPoint   `json:"attach_points,omitempty"`
	Totals       Totals          `json:"totals"`
	Processes    []Process       `json:"processes"`
	Rules        []Rule          `json:"rules"`
	// ByProgram is the same records by program (ProgramRow): every
	// record in exactly one row. Every mode (netlink builds it from the SYSCALL records); absent from older profiles.
	ByProgram []ProgramRow `json:"by_program,omitempty"`
	// ProcessMinAgeNs is the age a process had to reach before its records
	// got a row of its own in Processes; the records it made younger are
	// in the ShortLived row. 0: every process got a row from its first
	// record (older profiles, and --process-min-age 0).
	ProcessMinAgeNs int64 `json:"process_min_age_ns,omitempty"`
	// LoadedRules are the audit rules loaded when the recording ended
	// (AUDIT_LIST_RULES), in the kernel's order; Rule.Matches points into
	// them. Absent when they could not be read (a note says why).
	LoadedRules []LoadedRule `json:"loaded_rules,omitempty"`
	// WaitHistogramNs is a log2 histogram of the wall time of
	// audit_log_start calls that slept: count of waits <= le ns.
	WaitHistogramNs []HistogramBucket `json:"wait_histogram_ns"`
	Timeline        Timeline          `json:"timeline"`
	// Overflows counts what did not fit in bounded kernel maps; non-zero
	// values mean the per-process or per-rule tables are incomplete (their
	// excess is in the "other" rows), never that totals are.
	Overflows Overflows `json:"overflows"`
	// Netlink is what netlink mode's socket received after the stop and
	// what it missed (attach netlink only): unlike Overflows, its misses
	// make every count short.
	Netlink *NetlinkSocket `json:"netlink,omitempty"`
	// Consumer is what auditd and kauditd did (BPF modes).
	Consumer *Consumer `json:"consumer,omitempty"`
	// Stalls are the consumer's stalls the timeline shows, measured when
	// the profile was written (BPF modes; see Stalls for why readers
	// measure them again).
	Stalls *Stalls `json:"stalls,omitempty"`
	// Checkpoint marks a profile record wrote while it was still counting
	// (record --checkpoint, issue 20): its figures are those of the
	// recording's first DurationNs, and a recording that did not finish
	// leaves its last one. Absent from a finished recording's profile.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Notes say what the recording could not do (e.g. an AUDIT_GET that
	// did not answer in time).
	Notes []string `json:"notes,omitempty"`
	// Programs is what auditprof's own programs cost, from the kernel's BPF
	// statistics (run time needs kernel.bpf_stats_enabled=1).
	Programs []ProgramStats `json:"programs,omitempty"`

	// fromJournal marks a profile ReadJournal made.
	fromJournal bool
}

// Checkpoint is a checkpoint's place in its recording.
type Checkpoint struct {
	// Seq is 1 for the recording's first checkpoint.
	Seq int `json:"seq"`
	// UnixNs is when it was written (wall clock).
	UnixNs int64 `json:"unix_ns"`
	// EveryNs is the interval between checkpoints (--checkpoint).
	EveryNs int64 `json:"every_ns"`
}

// Unfinished says, for a profile of a recording that had not finished
// (a checkpoint, or a journal read as a profile), that it ended early and
// where; "" for a finished one.
func (p *Profile) Unfinished() string {
	switch {
	case p.Checkpoint != nil:
		c := p.Checkpoint
		return fmt.Sprintf("a checkpoint (the %s, written %s): the recording had not finished; this is its first %s, what came after is not in it",
			ordinal(c.Seq), time.Unix(0, c.UnixNs).UTC().Format("2006-01-02 15:04:05 UTC"), time.Duration(p.DurationNs).Round(time.Millisecond))
	case p.fromJournal:
		return fmt.Sprintf("the journal of a recording that did not finish: its first %s, what came after is not in it", time.Duration(p.DurationNs).Round(time.Millisecond))
	}
	return ""
}

// ordinal is n as "1st", "2nd", "3rd", "12th".
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// ProgramStats is one BPF program's kernel-side statistics.
type ProgramStats struct {
	Name      string `json:"name"`
	RunCount  uint64 `json:"run_count"`
	RunTimeNs uint64 `json:"run_time_ns"`
	// RecursionMisses counts runs the kernel skipped because the program
	// was already running on that CPU: events auditprof did not see.
	RecursionMisses uint64 `json:"recursion_misses"`
}

// AuditStatus is the kernel's AUDIT_GET reply. Times are in jiffies.
type AuditStatus struct {
	Enabled         uint32 `json:"enabled"`
	Failure         uint32 `json:"failure"`
	PID             uint32 `json:"pid"`
	RateLimit       uint32 `json:"rate_limit"`
	BacklogLimit    uint32 `json:"backlog_limit"`
	Lost            uint32 `json:"lost"`
	Backlog         uint32 `json:"backlog"`
	FeatureBitmap   uint32 `json:"feature_bitmap"`
	BacklogWaitTime uint32 `json:"backlog_wait_time"`
	// BacklogWaitTimeActual is nil on kernels before 5.10, whose reply
	// has no such field.
	BacklogWaitTimeActual *uint32 `json:"backlog_wait_time_actual,omitempty"`
}

// AttachPoint says what was attached where.
type AttachPoint struct {
	Symbol   string `json:"symbol"`
	Program  string `json:"program"`
	Required bool   `json:"required"`
	Attached bool   `json:"attached"`
	Error    string `json:"error,omitempty"`
	// Note says how an attached point is weaker than wanted.
	Note string `json:"note,omitempty"`
	// Missed counts the hits the kernel's kprobe skipped while counting
	// (kprobe mode, kernels 6.7 and later): the probe fired while another
	// kprobe's handler ran on that CPU, or a kretprobe had no free
	// instance. Its program did not run: on audit_log_start, a record not
	// counted.
	Missed uint64 `json:"missed,omitempty"`
}

// Totals over the whole recording.
type Totals struct {
	// Records counts audit_log_start calls that got past the exclude filter.
	Records uint64 `json:"records"`
	// Queued counts records put on the audit queue.
	Queued uint64 `json:"queued"`
	// Lost counts audit_log_lost calls: the kernel's lost counter.
	Lost         uint64            `json:"lost"`
	LostByReason map[string]uint64 `json:"lost_by_reason"`
	// LostByClass groups lost_by_reason (see ReasonClass).
	LostByClass map[string]uint64 `json:"lost_by_class,omitempty"`
	// SilentDrops counts records kauditd freed without counting them lost.
	SilentDrops uint64 `json:"silent_drops"`
	// Events counts an event's first records among Records: SYSCALL, one
	// per syscall event, and an io_uring event's URINGOP (Rule.Events).
	// LostEvents counts the SYSCALL records lost: a lost SYSCALL record
	// ends its event, whose other records are never made (demand the
	// kernel never saw as records); a lost URINGOP does not.
	Events     uint64 `json:"events"`
	LostEvents uint64 `json:"lost_events"`
	// Waits counts records whose producer slept in the backlog wait.
	Waits uint64 `json:"waits"`
	// WaitNs is the time producers slept in the backlog wait, accounted as
	// the kernel accounts backlog_wait_time_actual (whole jiffies of each
	// schedule_timeout, capped at its timeout), converted with HZ.
	WaitNs uint64 `json:"wait_ns"`
	// BlockedNs is the wall time of the audit_log_start calls that slept:
	// it also holds the time a woken producer waited for a CPU.
	BlockedNs   uint64 `json:"blocked_ns"`
	MaxDepth    uint64 `json:"max_depth"`
	BytesQueued uint64 `json:"bytes_queued"`
	Drained     uint64 `json:"drained"`
	// Filtered counts audit_log_start calls stopped by the exclude filter.
	Filtered uint64 `json:"filtered"`
	// NestedCalls counts audit_log_start calls made in an interrupt
	// (softirq) of a task that was itself inside audit_log_start, such as
	// the AUDIT_BPF record of a program freed in an RCU callback: counted
	// like any other, and not taken for a missed return.
	NestedCalls   uint64 `json:"nested_calls,omitempty"`
	RetryQueued   uint64 `json:"retry_queued"`
	HoldQueued    uint64 `json:"hold_queued"`
	MaxRetryDepth uint64 `json:"max_retry_depth"`
	MaxHoldDepth  uint64 `json:"max_hold_depth"`
	// KauditdPasses counts kauditd's passes over the audit queue: drained
	// divided by it is how many records a pass takes.
	KauditdPasses uint64 `json:"kauditd_passes,omitempty"`
	// Delivered counts records seen on the netlink multicast group (netlink
	// mode only).
	Delivered uint64 `json:"delivered,omitempty"`
	// FirstSerial and LastSerial are the lowest and highest audit event
	// serial (the N of msg=audit(TIME:N) in auditd's log) among the
	// syscall events counted whose SYSCALL record was made: `ausearch
	// --event` or a log filter on that range names the recording's
	// events without relying on clocks. 0 when there were none. The
	// kernel's serial is 32 bits: a range that wrapped has last < first.
	FirstSerial uint64 `json:"first_serial,omitempty"`
	LastSerial  uint64 `json:"last_serial,omitempty"`
}

// Process is one thread group's share. Tgid 0 with comm "other" holds the
// processes that did not fit in the kernel map; Tgid 0 with ShortLived the
// records of processes younger than Profile.ProcessMinAgeNs when they made
// them (every one of those records is in its program's row).
type Process struct {
	Tgid uint32 `json:"tgid"`
	Comm string `json:"comm"`
	// ShortLived marks the row (Tgid 0, Comm "short-lived") of the records
	// made by processes younger than ProcessMinAgeNs: per-process rows are
	// kept for long-lived processes only, and programs rank the rest.
	ShortLived bool   `json:"short_lived,omitempty"`
	CgroupID   uint64 `json:"cgroup_id,omitempty"`
	// Cgroup is the cgroup v2 path of CgroupID (a container's or a
	// systemd unit's), when it still existed at the end of the recording.
	Cgroup    string `json:"cgroup,omitempty"`
	Records   uint64 `json:"records"`
	Queued    uint64 `json:"queued"`
	Bytes     uint64 `json:"bytes"`
	Lost      uint64 `json:"lost"`
	Waits     uint64 `json:"waits"`
	WaitNs    uint64 `json:"wait_ns"`
	MaxWaitNs uint64 `json:"max_wait_ns"`
	BlockedNs uint64 `json:"blocked_ns"`
}

// Rule.Syscall's values that hold no syscall number: bpf/backlog.h's enum
// rule_syscall (probe's TestRuleSyscallValues checks that they agree).
const (
	// SyscallNone: the record was not made inside a syscall (kernel
	// threads, netfilter's xt_AUDIT, user-space messages).
	SyscallNone = -1
	// SyscallOther: the overflow row, the records of rules that did not
	// fit.
	SyscallOther = -2
	// SyscallUring: the records of an io_uring operation, whose opcode is
	// in UringOp (an io_uring event's records have no syscall: the kernel
	// leaves ctx->major 0).
	SyscallUring = -3
)

// Rule is one (key, syscall) pair. Syscall is SyscallNone when the record
// was not emitted from a syscall; SyscallOther is the overflow row.
type Rule struct {
	// Key is ctx->filterkey: several keys are joined by \x01.
	Key     string `json:"key"`
	Syscall int32  `json:"syscall"`
	// Arch is the syscall's AUDIT_ARCH_* name (x86_64, i386, ...): a
	// number means a different syscall under each.
	Arch string `json:"arch,omitempty"`
	// SyscallName is filled in user space where the number is known.
	SyscallName string `json:"syscall_name,omitempty"`
	// UringOp is the io_uring opcode (IORING_OP_*) of a row whose records
	// belong to an io_uring operation (Syscall is then SyscallUring):
	// what an io_uring rule (`-a always,io_uring -S openat`) filters on.
	// nil for a syscall's records. Kernels since 5.16 (5bd2182d58e9).
	UringOp *int32 `json:"uring_op,omitempty"`
	// UringOpName is the opcode's name ("openat"), where known.
	UringOpName string `json:"uring_op_name,omitempty"`
	// Comm is the producer's name, for records with no key only: keyless
	// rules are told apart by syscall and program.
	Comm string `json:"comm,omitempty"`
	// Matches are the LoadedRules (their Index) this row can have come
	// from: one when the key, syscall and arch single a rule out, several
	// when rules share all three (the kernel does not say which matched),
	// none when no loaded rule explains it.
	Matches []int  `json:"matches,omitempty"`
	Records uint64 `json:"records"`
	// Events counts an event's first records, one per audit event:
	// SYSCALL, or an io_uring event's URINGOP (the URINGOP of an
	// operation run inline in io_uring_enter is part of that syscall's
	// event, and not counted).
	Events uint64 `json:"events"`
	Lost   uint64 `json:"lost"`
	// LostEvents counts the events whose SYSCALL record was lost (a lost
	// URINGOP does not end its event, and counts in Lost only).
	LostEvents uint64 `json:"lost_events"`
	Waits      uint64 `json:"waits"`
	WaitNs     uint64 `json:"wait_ns"`
	// Programs are the programs that fired the rule (the same program key
	// as ByProgram), most records first: their records sum to Records,
	// but for the (rule, program) pairs that did not fit in the kernel's
	// pair table, which belong to no rule (Overflows.RulePrograms counts
	// their records; RuleProgramsAddUp allows exactly that). A row with
	// Overflow is the program table's "other" row. BPF modes.
	Programs []RuleProgram `json:"programs,omitempty"`
}

// RuleProgram is one program's share of one rule's records.
type RuleProgram struct {
	Comm       string `json:"comm"`
	ParentComm string `json:"parent_comm"`
	CgroupID   uint64 `json:"cgroup_id,omitempty"`
	Cgroup     string `json:"cgroup,omitempty"`
	Self       bool   `json:"self,omitempty"`
	Overflow   bool   `json:"overflow,omitempty"`
	Records    uint64 `json:"records"`
	Events     uint64 `json:"events"`
	Lost       uint64 `json:"lost"`
	Waits      uint64 `json:"waits"`
	WaitNs     uint64 `json:"wait_ns"`
}

// LoadedRule is one loaded audit rule.
type LoadedRule struct {
	// Index is its 1-based position in the kernel's list (auditctl -l).
	Index int `json:"index"`
	// Text is the rule as auditctl -l prints it.
	Text string `json:"text"`
	List string `json:"list"`
	Key  string `json:"key,omitempty"`
}

// HistogramBucket counts observations <= Le.
type HistogramBucket struct {
	Le    uint64 `json:"le"`
	Count uint64 `json:"count"`
}

// Overflows counts events that bounded kernel maps could not hold.
type Overflows struct {
	Processes uint64 `json:"processes"`
	// Programs counts the records of programs that did not fit in the
	// program table (its "other" row).
	Programs uint64 `json:"programs,omitempty"`
	Rules    uint64 `json:"rules"`
	// RulePrograms counts the records of (rule, program) pairs that did
	// not fit in the kernel's pair table (each rule's overflow program).
	RulePrograms    uint64 `json:"rule_programs,omitempty"`
	Reasons         uint64 `json:"reasons"`
	Inflight        uint64 `json:"inflight"`
	InflightMissing uint64 `json:"inflight_missing"`
	TimelineLate    uint64 `json:"timeline_late"`
	// RecursionMisses sums the programs' recursion misses: events skipped.
	RecursionMisses uint64 `json:"recursion_misses"`
	// ReturnsMissed counts audit_log_start calls whose return no program
	// saw (the task began another first or, with audit_log_start's fexit
	// alone, ended a buffer whose start it did not see return): records
	// not counted. Kernels
	// since 5.12 (commit e21aa341785c) make calls inside a replaced
	// trampoline return past its fexit programs, so another BPF program
	// attaching to or detaching from audit_log_start during a recording
	// costs the records being made at that instant.
	ReturnsMissed uint64 `json:"returns_missed"`
	// ProbeMisses sums the attach points' Missed: kprobe hits the kernel
	// skipped, each an event the counts are short of.
	ProbeMisses uint64 `json:"probe_misses,omitempty"`
}

// NetlinkSocket is the account of netlink mode's multicast socket.
type NetlinkSocket struct {
	// Missed counts the records kauditd multicast that the socket
	// dropped, its receive buffer full (its drop counter, sk_drops, in
	// /proc/net/netlink): every count of the profile is short by that
	// many records. Overruns counts the ENOBUFS errors that told of them.
	Missed   uint64 `json:"missed"`
	Overruns uint64 `json:"overruns"`
	// AfterStop counts the records received once the recording was
	// stopped, of events begun before the stop, that the kernel still
	// held then (in its queue or the socket's buffer). LeftInQueue is
	// the queue length last read when that drain gave up: records not
	// counted (0 when it finished).
	AfterStop   uint64 `json:"after_stop"`
	LeftInQueue uint32 `json:"left_in_queue"`
}

// ReturnsMissedByUpdates returns the audit_log_start returns missed
// beyond the recursion misses of the program on its return (a skipped
// fexit leaves its call open as well, and is reported as a recursion
// miss): those that trampoline updates by another BPF program cost.
func (p *Profile) ReturnsMissedByUpdates() uint64 {
	var skipped uint64
	for _, pr := range p.Programs {
		if pr.Name == "fexit_audit_log_start" || pr.Name == "kretprobe_audit_log_start" {
			skipped += pr.RecursionMisses
		}
	}
	if p.Overflows.ReturnsMissed <= skipped {
		return 0
	}
	return p.Overflows.ReturnsMissed - skipped
}

// Validate checks a profile's internal consistency.
func (p *Profile) Validate() error {
	var errs []error
	if p.SchemaVersion < OldestSchemaVersion || p.SchemaVersion > SchemaVersion {
		errs = append(errs, fmt.Errorf("schema_version is %d, this auditprof reads %d to %d", p.SchemaVersion, OldestSchemaVersion, SchemaVersion))
	}
	switch p.Attach {
	case AttachFentry, AttachKprobe, AttachNetlink:
	default:
		errs = append(errs, fmt.Errorf("attach is %q, want fentry, kprobe or netlink", p.Attach))
	}
	if p.DurationNs < 0 {
		errs = append(errs, errors.New("duration_ns is negative"))
	}
	if p.HZ < 0 {
		errs = append(errs, errors.New("hz is negative"))
	}
	t := &p.Timeline
	n := t.Len()
	for k, c := range t.columns() {
		if l := t.seriesLen(k); l != n && !(c.optional && l == 0) {
			errs = append(errs, fmt.Errorf("timeline.%s has %d buckets, arrivals has %d", c.name, l, n))
		}
	}
	if n > 0 && t.BucketNs <= 0 {
		errs = append(errs, errors.New("timeline.bucket_ns must be positive"))
	}
	if c := p.Checkpoint; c != nil && (c.Seq < 1 || c.EveryNs <= 0) {
		errs = append(errs, fmt.Errorf("checkpoint: seq %d and every_ns %d must be positive", c.Seq, c.EveryNs))
	}
	var sum uint64
	for _, r := range p.Totals.LostByReason {
		sum += r
	}
	if p.Attach != AttachNetlink && sum > p.Totals.Lost {
		errs = append(errs, fmt.Errorf("lost_by_reason sums to %d, more than totals.lost %d", sum, p.Totals.Lost))
	}
	if err := validateSettings(p.Settings); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// SortTables orders processes and rules the way reports show them:
// most lost first, then most records.
func (p *Profile) SortTables() {
	sort.SliceStable(p.Processes, func(i, j int) bool {
		a, b := p.Processes[i], p.Processes[j]
		if a.Lost != b.Lost {
			return a.Lost > b.Lost
		}
		if a.Records != b.Records {
			return a.Records > b.Records
		}
		return a.Tgid < b.Tgid
	})
	p.sortPrograms()
	p.sortRulePrograms()
	sort.SliceStable(p.Rules, func(i, j int) bool {
		a, b := p.Rules[i], p.Rules[j]
		if a.Records != b.Records {
			return a.Records > b.Records
		}
		if a.Lost != b.Lost {
			return a.Lost > b.Lost
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Syscall != b.Syscall {
			return a.Syscall < b.Syscall
		}
		return a.Op() < b.Op()
	})
}

// Decode reads a profile and validates it. A journal (what record writes
// as it counts, left by a recording that did not finish) reads as the
// profile it holds: see ReadJournal.
func Decode(r io.Reader) (*Profile, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(32)
	if IsJournal(head) {
		return ReadJournal(br)
	}
	if bytes.HasPrefix(head, gzipMagic) {
		// A profile written to a name ending in .gz (WriteFile).
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decompressing profile: %w", err)
		}
		p, err := Decode(zr)
		if err != nil {
			return nil, err
		}
		// The gzip trailer's checksum is checked only at its end.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return nil, fmt.Errorf("decompressing profile: %w", err)
		}
		return p, nil
	}
	dec := json.NewDecoder(br)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("invalid profile: %w", err)
	}
	return &p, nil
}

// ReadFile reads and validates the profile at path.
func ReadFile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	defer f.Close()
	p, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Encode writes the profile as indented JSON, its timeline one row per
// line: encoding/json would give every value of every row a line of its
// own (schema 1's dense arrays so written took 36 MB an hour at 10 ms
// buckets, issue 14). The rows are written as they are encoded, a chunk
// at a time (encodeChunk), not gathered whole first: at the stop of a
// recording with busy hours they are tens of MB.
func (p *Profile) Encode(w io.Writer) error {
	cp := *p
	cp.Timeline = Timeline{placeholder: true}
	doc, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return err
	}
	key := []byte("\n  \"timeline\": " + timelinePlaceholder)
	at := bytes.Index(doc, key)
	if at < 0 {
		return errors.New("encoding profile: the timeline's place not found")
	}
	at += len(key) - len(timelinePlaceholder)
	if _, err := w.Write(doc[:at]); err != nil {
		return err
	}
	rest, err := p.Timeline.encodeJSON(make([]byte, 0, encodeChunk+4096), "  ", w)
	if err != nil {
		return err
	}
	rest = append(rest, doc[at+len(timelinePlaceholder):]...)
	rest = append(rest, '\n')
	_, err = w.Write(rest)
	return err
}

// gzipMagic begins a gzip stream (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// WriteFile writes the profile atomically and durably (renameio: a synced
// temporary file renamed over path; then path's directory synced),
// streaming it into the temporary file. A reader
// never sees half a file, and a failed write leaves what was at path. A
// path ending in .gz gets the same JSON gzipped, which Decode reads as
// well: a day's rows of busy buckets shrink by an order of magnitude or
// more (issue 14).
func (p *Profile) WriteFile(path string) error {
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o644), renameio.WithExistingPermissions())
	if err != nil {
		return fmt.Errorf("writing profile: %w", err)
	}
	defer f.Cleanup()
	bw := bufio.NewWriterSize(f, 64<<10)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	if err := p.Encode(w); err != nil {
		return fmt.Errorf("encoding profile: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compressing profile: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing profile: %w", err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing profile: %w", err)
	}
	// The rename is in the directory: a checkpoint must survive a power
	// cut, not only the recorder's death (TestPowerCut).
	return durable.SyncDir(path)
}

// Op is the row's io_uring opcode, -1 for a syscall's row: with Key,
// Syscall, Arch and Comm, what tells the kernel's rows apart.
func (r Rule) Op() int32 {
	if r.UringOp == nil {
		return -1
	}
	return *r.UringOp
}

// SyscallLabel names the row's syscall for people: its name where known,
// else what the number stands for.
func (r Rule) SyscallLabel() string {
	switch {
	case r.SyscallName != "":
		return r.SyscallName
	case r.UringOp != nil && r.UringOpName != "":
		return "io_uring " + r.UringOpName
	case r.UringOp != nil:
		return fmt.Sprintf("io_uring op %d", *r.UringOp)
	case r.Syscall == SyscallUring:
		return "io_uring"
	case r.Syscall == SyscallNone:
		return "(not a syscall)"
	case r.Syscall == SyscallOther:
		return "(other rules)"
	}
	return fmt.Sprintf("syscall %d", r.Syscall)
}
