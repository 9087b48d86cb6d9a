package probe

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"
)

// Mode selects the program family.
type Mode string

const (
	// ModeAuto uses fentry/fexit where the kernel allows it, else kprobes;
	// kprobes first where the kernel preempts kernel code (see planAttach).
	ModeAuto Mode = "auto"
	// ModeFentry needs BPF trampolines (x86-64 5.5+, arm64 6.0+) and the
	// kernel's BTF; lockdown or a security policy may still refuse it.
	ModeFentry Mode = "fentry"
	// ModeKprobe needs CONFIG_KPROBES.
	ModeKprobe Mode = "kprobe"
)

// attachPoint declares one kernel function auditprof hooks. The program
// names follow the pattern <family>_<symbol> (fentry_, fexit_, kprobe_,
// kretprobe_), so the table is all the attacher needs.
type attachPoint struct {
	Symbol   string
	Required bool
	Entry    bool
	Exit     bool
	// Enqueue: the enqueue hook the point belongs to (enqueueAny: both).
	Enqueue enqueueHook
	// PassExit: the exit program is attached only where sendExit says
	// the programs need it (kauditd_send_queue's).
	PassExit bool
	// StartEntry: the entry program is attached only where startEntry
	// says the programs need it (audit_log_start's); Join: the point is
	// attached only where they do not (the hooks that replace it).
	StartEntry bool
	Join       bool
	// What the point measures, for error messages.
	What string
}

// enqueueHook is where enqueues on audit_queue are counted: one of two
// sets of attach points, chosen per kernel before load (chooseEnqueue).
type enqueueHook int

const (
	enqueueAny enqueueHook = iota
	// enqueueLogEnd: audit_log_end's entry, one program run per record;
	// retry and hold queue moves on kauditd's error hooks, and records
	// received where kauditd's netlink_unicast returns.
	enqueueLogEnd
	// enqueueQueueTail: skb_queue_tail, filtered on the queues' addresses,
	// which runs for every AF_UNIX and netlink message of the machine.
	enqueueQueueTail
)

var attachPoints = []attachPoint{
	{Symbol: "audit_log_start", Required: true, Entry: true, Exit: true, StartEntry: true, What: "records, producers, rules and backlog waits"},
	{Symbol: "audit_log_lost", Required: true, Entry: true, What: "lost records and their reasons"},
	{Symbol: "audit_log_end", Required: true, Entry: true, Enqueue: enqueueLogEnd, What: "enqueues, record sizes and queue depth"},
	{Symbol: "skb_queue_tail", Required: true, Entry: true, Enqueue: enqueueQueueTail, What: "enqueues, record sizes and queue depth"},
	{Symbol: "schedule_timeout", Required: true, Entry: true, Exit: true, What: "the backlog wait, in jiffies"},
	{Symbol: "kauditd_send_queue", Entry: true, Exit: true, PassExit: true, What: "kauditd's drain, and queue addresses on kernels without data symbols in kallsyms"},
	{Symbol: "kauditd_hold_skb", Entry: true, Exit: true, What: "records kauditd frees without counting them lost"},
	{Symbol: "kauditd_retry_skb", Entry: true, Exit: true, Enqueue: enqueueLogEnd, What: "records kauditd moves to its retry queue"},
	{Symbol: "netlink_unicast", Exit: true, Enqueue: enqueueLogEnd, What: "records kauditd hands to auditd, when it hands them"},
	// Without audit_log_start's entry (fentry): where a call's backlog wait
	// begins, and audit_receive's penalty sleep, which is not one.
	{Symbol: "add_wait_queue_exclusive", Required: true, Entry: true, Join: true, What: "backlog waits (audit_log_start's fexit alone)"},
	{Symbol: "audit_receive", Required: true, Exit: true, Join: true, What: "audit_receive's penalty sleep, told from backlog waits (audit_log_start's fexit alone)"},
	// A BTF function in Debian's 6.1 and 6.12 (its callers, the AUDIT_SET
	// setters, are inlined); never inlined in Ubuntu's 4.4 to 6.8 builds.
	{Symbol: "audit_log_config_change", Entry: true, What: "who changed the audit settings, and when"},
}

func progName(mode Mode, exit bool, symbol string) string {
	switch {
	case mode == ModeFentry && !exit:
		return "fentry_" + symbol
	case mode == ModeFentry:
		return "fexit_" + symbol
	case !exit:
		return "kprobe_" + symbol
	default:
		return "kretprobe_" + symbol
	}
}

// ErrNoAttach is returned (wrapped) when neither program family can attach
// to the audit functions of this kernel. Callers fall back to netlink.
var ErrNoAttach = errors.New("BPF cannot attach to the kernel's audit functions here")

// ErrPrivilege is returned (wrapped) when capabilities are missing.
var ErrPrivilege = errors.New("missing privilege")

// DefaultBucket is the timeline's bucket width unless told otherwise, for
// every recorder (BPF and netlink): bpf/backlog.h's DEFAULT_BUCKET_NS, so
// that the programs' placeholder and Go agree.
const DefaultBucket = time.Duration(backlogDefaultsDEFAULT_BUCKET_NS)

// DefaultProcessMinAge is Options.ProcessMinAge unless told otherwise:
// bpf/backlog.h's DEFAULT_PROC_MIN_AGE_NS.
const DefaultProcessMinAge = time.Duration(backlogDefaultsDEFAULT_PROC_MIN_AGE_NS)

// NoProcessMinAge is Options.ProcessMinAge for a row per process from its
// first record (record --process-min-age 0).
const NoProcessMinAge = time.Duration(-1)

// Options configure Open.
type Options struct {
	Mode Mode
	// Bucket is the timeline's bucket width (DefaultBucket when 0). The
	// defaults are enum defaults in bpf/backlog.h.
	Bucket time.Duration
	// TimelineSlots is the ring size per CPU (default 1024): user space
	// must read the timeline at least every TimelineSlots*Bucket/2.
	TimelineSlots uint32
	// MaxProcesses and MaxRules bound the attribution maps (defaults 4096
	// and 1024); the excess goes to an "other" row and is counted.
	MaxProcesses uint32
	MaxRules     uint32
	// MaxPrograms bounds the program table (default 1024): each distinct
	// (comm, parent comm, cgroup, self) takes a row; the excess goes to an
	// "other" row and its records are counted in Overflows.Programs.
	MaxPrograms uint32
	// MaxRulePrograms bounds the rules-by-program table (default 4096):
	// each distinct (rule row, program row) pair takes a row; the excess
	// is counted in Overflows.RulePrograms and is in no rule's Programs.
	MaxRulePrograms uint32
	// ProcessMinAge is the age a process must reach (its group leader's,
	// from its start) before it gets a row of its own in the process
	// table; its records before go to the short-lived row, and are in its
	// program's row from the first. DefaultProcessMinAge when 0;
	// NoProcessMinAge (any negative value) gives every process a row from
	// its first record.
	ProcessMinAge time.Duration
	// SelfTgid is the process whose records, and whose children's, the
	// program table marks as auditprof's own (os.Getpid() when 0).
	SelfTgid uint32
	// TaskState chooses where the per-call state lives: "auto" (task
	// storage where the kernel has it, 5.12+), "task-storage" or "hash".
	TaskState string
	// KeepBuckets, when positive, keeps only the newest KeepBuckets
	// timeline buckets in user space: live views (top, the exporter) run
	// for days and want the recent past, not a series that grows by
	// 100 buckets a second. Zero keeps all (a recording).
	KeepBuckets int
	// SchedSwitch loads consumer_sched_switch, the program that measures
	// auditd's and kauditd's time on and off CPU from every context switch
	// of the machine (record --consumer sched-switch). Without it the
	// program is not loaded and auditd's threads are measured elsewhere
	// (internal/procsample) or not at all; Consumer still gets what the
	// programs on kauditd's path count (received, kauditd's send passes).
	SchedSwitch bool
}

func (o *Options) defaults() {
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	if o.Bucket <= 0 {
		o.Bucket = DefaultBucket
	}
	if o.TimelineSlots == 0 {
		o.TimelineSlots = uint32(backlogDefaultsDEFAULT_TIMELINE_SLOTS)
	}
	if o.MaxProcesses == 0 {
		o.MaxProcesses = uint32(backlogDefaultsDEFAULT_MAX_PROCS)
	}
	if o.MaxRules == 0 {
		o.MaxRules = uint32(backlogDefaultsDEFAULT_MAX_RULES)
	}
	if o.MaxPrograms == 0 {
		o.MaxPrograms = uint32(backlogDefaultsDEFAULT_MAX_PROGS)
	}
	if o.ProcessMinAge == 0 {
		o.ProcessMinAge = DefaultProcessMinAge
	} else if o.ProcessMinAge < 0 {
		o.ProcessMinAge = 0
	}
	if o.MaxRulePrograms == 0 {
		o.MaxRulePrograms = uint32(backlogDefaultsDEFAULT_MAX_RULE_PROGS)
	}
	if o.SelfTgid == 0 {
		o.SelfTgid = uint32(os.Getpid())
	}
	if o.TaskState == "" {
		o.TaskState = TaskStateAuto
	}
}

// Where the per-call state lives: Options.TaskState's values, as
// record's --task-state takes them. The profile's TaskState says which of
// the last two a recording used.
const (
	// TaskStateAuto is task storage where the kernel has it, else the hash.
	TaskStateAuto = "auto"
	// TaskStateStorage is task local storage (5.12+).
	TaskStateStorage = "task-storage"
	// TaskStateHash is the inflight LRU hash, keyed by pid_tgid: the
	// fallback of kernels before 5.12.
	TaskStateHash = "hash"
)

// useTaskStorage keeps the per-call state in task local storage, which
// costs a record no hash update or delete and lets a task cache its process
// and rule slots; tracing programs may use it since 5.12 (commit
// a10787e6d58c, "bpf: Enable task local storage for tracing programs").
// Older kernels get the inflight LRU hash, keyed by pid_tgid, where a
// thread's state stays between calls as in task storage (validated
// against pid reuse by the thread's start time). The map the programs do not use is shrunk (the task storage map is
// made a one-entry array, as old kernels cannot create it; the code that
// uses it is dead once use_task_storage is set and the verifier skips it).
func useTaskStorage(spec *ebpf.CollectionSpec, choice string) error {
	use := false
	switch choice {
	case TaskStateAuto:
		use = features.HaveMapType(ebpf.TaskStorage) == nil &&
			features.HaveProgramHelper(ebpf.Kprobe, asm.FnTaskStorageGet) == nil &&
			features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetCurrentTaskBtf) == nil
	case TaskStateStorage:
		use = true
	case TaskStateHash:
	default:
		return fmt.Errorf("task state must be %s, %s or %s, not %q", TaskStateAuto, TaskStateStorage, TaskStateHash, choice)
	}
	if err := spec.Variables["use_task_storage"].Set(use); err != nil {
		return fmt.Errorf("setting use_task_storage: %w", err)
	}
	if use {
		spec.Maps["inflight"].MaxEntries = 1
		return nil
	}
	ts := spec.Maps["task_states"]
	ts.Type, ts.Flags, ts.MaxEntries = ebpf.Array, 0, 1
	return nil
}

// Probe is a loaded and attached set of programs.
type Probe struct {
	opts   Options
	mode   Mode
	note   string
	coll   *ebpf.Collection
	links  []link.Link
	points []profile.AttachPoint
	// linkPoint is the index in points of each link; missedAtStart each
	// link's kprobe miss count when counting started (probeMissed).
	linkPoint     []int
	missedAtStart []uint64
	tl            timelineReader
	// sweepNote says what sweepKprobeEvents removed, or why it could not.
	sweepNote string
	// taskState is where per-call state lives: "task-storage" or "hash".
	taskState string
	// When counting started and stopped (CLOCK_MONOTONIC ns), and the
	// consumer pids set so far.
	startNs, stopNs uint64
	consumers       []uint32
	consumerSince   uint64
	// batch: which arrays the kernel has batch lookups for, decided once
	// at load (checkBatch); every array read goes by it (readArray).
	batch batchSupport
	// settingsRead is the next settings_log slot to read (SettingEvents).
	settingsRead uint32
	// reasonKeys and reasonRows: fillReasons' buffers, reused by every
	// read (a snapshot a second allocates nothing there). Reads are made
	// by one goroutine at a time, as for tl: the recording's counting
	// loop, then Fill after Detach.
	reasonKeys [backlogSizesREASON_SLOTS]uint32
	reasonRows [backlogSizesREASON_SLOTS]backlogReasonStats
}

// Mode returns the family in use.
func (p *Probe) Mode() Mode { return p.mode }

// Note says why auto mode did not use fentry, if it did not, and when the
// family in use may miss events (fentry on a kernel that preempts kernel
// code, or whose preemption model is unknown). Print it before counting.
func (p *Probe) Note() string { return p.note }

// AttachPoints reports what was attached.
func (p *Probe) AttachPoints() []profile.AttachPoint { return p.points }

// Preflight checks the privileges BPF tracing needs and returns one error
// naming everything missing. Since 5.8 CAP_BPF and CAP_PERFMON suffice;
// CAP_SYS_ADMIN covers both everywhere.
func Preflight() error {
	eff, err := kernel.EffectiveCaps()
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	missing := kernel.Missing(eff,
		[]kernel.Cap{kernel.CapBPF, kernel.CapSysAdmin},
		[]kernel.Cap{kernel.CapPerfmon, kernel.CapSysAdmin},
		[]kernel.Cap{kernel.CapAuditControl},
	)
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s: run as root, or grant them (e.g. setcap cap_bpf,cap_perfmon,cap_audit_control,cap_audit_read,cap_syslog+ep auditprof)",
			ErrPrivilege, strings.Join(missing, ", "))
	}
	return nil
}

// queueSymbols are the kauditd queues' data symbols, in kallsyms only with
// CONFIG_KALLSYMS_ALL.
var queueSymbols = []string{"audit_queue", "audit_retry_queue", "audit_hold_queue"}

// kernelSymbols looks up the attach points, the functions and queues the
// programs compare pointers with, and whether audit_log_end has a .part
// clone (clones).
func kernelSymbols() (syms map[string]uint64, clones map[string]bool, err error) {
	names := append([]string{"kauditd_rehold_skb", "audit_backlog_wait"}, queueSymbols...)
	for _, ap := range attachPoints {
		names = append(names, ap.Symbol)
	}
	return kernel.KallsymsClones([]string{"audit_log_end"}, names...)
}

// Open checks privileges, chooses the program family, loads and attaches.
func Open(opts Options) (*Probe, error) {
	opts.defaults()
	if err := Preflight(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("removing memlock limit: %w", err)
	}
	syms, clones, err := kernelSymbols()
	if errors.Is(err, kernel.ErrKallsymsRestricted) {
		return nil, fmt.Errorf("%w: %w", ErrPrivilege, err)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := syms["audit_log_start"]; !ok {
		return nil, fmt.Errorf("%w: audit_log_start is not in /proc/kallsyms: the kernel was built without CONFIG_AUDIT", ErrNoAttach)
	}

	pl := planAttach(opts.Mode, preemptionModel())
	var notes []string
	if pl.why != "" {
		notes = append(notes, pl.why)
	}
	for _, m := range pl.modes {
		if err := probeMode(m); err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", m, err))
			continue
		}
		p, err := load(opts, m, syms, clones)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", m, err))
			continue
		}
		if c := pl.caveat[m]; c != "" {
			notes = append(notes, c)
		}
		if p.sweepNote != "" {
			notes = append(notes, p.sweepNote)
		}
		if syms["audit_queue"] == 0 {
			notes = append(notes, noKallsymsAllNote)
		}
		p.note = strings.Join(notes, "; ")
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoAttach, strings.Join(notes, "; "))
}

// noKallsymsAllNote is the attach note of a kernel whose kallsyms has no
// data symbols (built without CONFIG_KALLSYMS_ALL): the programs learn the
// queues' addresses from kauditd_send_queue's arguments at kauditd's first
// pass after attaching, and an enqueue before it is not matched to a queue.
const noKallsymsAllNote = "queue addresses learned from kauditd_send_queue (no audit_queue in /proc/kallsyms: a kernel without CONFIG_KALLSYMS_ALL): records queued before kauditd's first pass after the start are not seen on the queue, so queued, bytes and depth start from that pass; lost, records and waits are not affected"

// collectionSpec returns the spec with only this family's programs, for
// the functions this kernel has, and the variables and map sizes set.
func collectionSpec(opts Options, mode Mode, syms map[string]uint64, enq enqueueHook) (*ebpf.CollectionSpec, []profile.AttachPoint, error) {
	spec, err := loadBacklog()
	if err != nil {
		return nil, nil, err
	}

	var kspec *btf.Spec
	if mode == ModeFentry {
		if kspec, err = btf.LoadKernelSpec(); err != nil {
			return nil, nil, fmt.Errorf("loading kernel BTF: %w", err)
		}
	}
	// Keep only this family's programs, of this enqueue hook, and only for
	// functions that exist: a missing optional function is reported, a
	// missing required one is an error naming every one missing.
	want := map[string]attachPoint{}
	var points []profile.AttachPoint
	var missing []string
	have := func(symbol string) bool {
		if mode == ModeFentry {
			var fn *btf.Func
			return kspec.TypeByName(symbol, &fn) == nil
		}
		_, ok := syms[symbol]
		return ok
	}
	passExit := sendExit(enq, opts, have("kauditd_hold_skb") && have("kauditd_retry_skb"))
	withEntry := startEntry(mode, syms, have, enq)
	for _, ap := range attachPoints {
		if ap.Enqueue != enqueueAny && ap.Enqueue != enq {
			continue
		}
		if ap.Join && withEntry {
			continue
		}
		present := have(ap.Symbol)
		for _, exit := range []bool{false, true} {
			if (exit && !ap.Exit) || (!exit && !ap.Entry) || (exit && ap.PassExit && !passExit) ||
				(!exit && ap.StartEntry && !withEntry) {
				continue
			}
			name := progName(mode, exit, ap.Symbol)
			pt := profile.AttachPoint{Symbol: ap.Symbol, Program: name, Required: ap.Required}
			if !present {
				pt.Error = "function not found in this kernel"
				if ap.Required {
					missing = append(missing, ap.Symbol+" ("+ap.What+")")
				}
			} else {
				want[name] = ap
			}
			points = append(points, pt)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("required kernel functions missing: %s", strings.Join(missing, ", "))
	}
	// The consumer's program is a BTF tracepoint in both families: it
	// needs no trampoline and no kprobe. It runs on every context switch
	// of the machine (docs/bench.md): only when asked for.
	if opts.SchedSwitch {
		want[consumerProgram] = attachPoint{}
		points = append(points, profile.AttachPoint{Symbol: "sched_switch", Program: consumerProgram})
	}
	for name := range spec.Programs {
		if _, ok := want[name]; !ok {
			delete(spec.Programs, name)
		}
	}

	for name, v := range map[string]any{
		"bucket_ns":             uint64(opts.Bucket),
		"proc_min_age_ns":       uint64(opts.ProcessMinAge),
		"timeline_slots":        opts.TimelineSlots,
		"fn_kauditd_hold_skb":   syms["kauditd_hold_skb"],
		"fn_kauditd_rehold_skb": syms["kauditd_rehold_skb"],
		"enqueue_at_log_end":    enq == enqueueLogEnd,
		"send_exit":             passExit,
		"start_entry":           withEntry,
		"backlog_wait_addr":     syms["audit_backlog_wait"],
		"have_task_pt_regs":     features.HaveProgramHelper(ebpf.Kprobe, asm.FnTaskPtRegs) == nil, // shared by tracing programs; no probe for those
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	sizeMaps(spec, opts)
	for name, v := range map[string]uint32{"proc_slots_max": opts.MaxProcesses + procFirst, "rule_slots_max": opts.MaxRules + 1,
		"prog_slots_max": opts.MaxPrograms + 1, "rule_prog_slots_max": opts.MaxRulePrograms + 1,
		"self_tgid": opts.SelfTgid} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	if err := useTaskStorage(spec, opts.TaskState); err != nil {
		return nil, nil, err
	}
	return spec, points, nil
}

// startEntry says whether audit_log_start's entry program is needed: with
// kprobes (a kretprobe has only the return value: its entry keeps the
// arguments), and with fentry where what replaces it cannot be used:
// audit_backlog_wait's address (a data symbol: CONFIG_KALLSYMS_ALL) to
// tell a backlog wait's add_wait_queue_exclusive, audit_receive to tell
// its penalty sleep, and the enqueue at audit_log_end, where a buffer
// whose start's return fexit missed shows (returns_missed). Without it,
// fexit opens the call from its arguments and a record costs one program
// run less (issue 14).
func startEntry(mode Mode, syms map[string]uint64, have func(string) bool, enq enqueueHook) bool {
	return mode != ModeFentry || enq != enqueueLogEnd || syms["audit_backlog_wait"] == 0 ||
		!have("add_wait_queue_exclusive") || !have("audit_receive")
}

// sendExit says whether kauditd_send_queue's exit program is needed: with
// the enqueue on skb_queue_tail (the exit closes the pass that on_deliver
// and the queue-address learning look at), or for the consumer's
// sched_switch program (kauditd sending or idle: send.open). Otherwise the
// programs account a pass as it goes, at kauditd's netlink_unicast returns
// and error hook exits (bpf/backlog.bpf.c, pass_progress), and a pass runs
// one program instead of two (issue 14: 6.1's kauditd makes three passes a
// wake). The drain is then counted one record at a time at those points
// (drain_one), which needs both error hooks (hooks: kauditd_hold_skb and
// kauditd_retry_skb can be attached): a main pass's records that fail, or
// meet no auditd, reach only the error hook.
func sendExit(enq enqueueHook, opts Options, hooks bool) bool {
	return enq != enqueueLogEnd || opts.SchedSwitch || !hooks
}

// chooseEnqueue picks the enqueue hook: audit_log_end where counting at
// its entry is exact, else skb_queue_tail (bpf/backlog.bpf.c's header says
// which kernels get which). At audit_log_end's entry the record is
// ab->skb, and it is queued on audit_queue unless the rate limit frees it,
// so all of these must hold:
//   - the kernel's BTF has audit_log_end(struct audit_buffer *, ...) and
//     struct audit_buffer has skb and no skb_list: with skb_list (6.18;
//     Ubuntu's LSM stacking patches since 5.19) one buffer holds several
//     skbs, each queued by __audit_log_end;
//   - kallsyms has no audit_log_end.part.* (Ubuntu 5.19 to 6.8): audit.c's
//     own callers call that body directly and a probe on the name misses
//     their records;
//   - kallsyms has audit_queue, audit_retry_queue and audit_hold_queue
//     (CONFIG_KALLSYMS_ALL): the depth is read at audit_queue's address,
//     and the retry and hold queues' moves are read from their lengths.
func chooseEnqueue(kspec *btf.Spec, syms map[string]uint64, clones map[string]bool) enqueueHook {
	for _, name := range queueSymbols {
		if syms[name] == 0 {
			return enqueueQueueTail
		}
	}
	if clones["audit_log_end"] || syms["audit_log_end"] == 0 {
		return enqueueQueueTail
	}
	var fn *btf.Func
	if kspec.TypeByName("audit_log_end", &fn) != nil {
		return enqueueQueueTail
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok || len(proto.Params) == 0 {
		return enqueueQueueTail
	}
	ptr, ok := btf.UnderlyingType(proto.Params[0].Type).(*btf.Pointer)
	if !ok {
		return enqueueQueueTail
	}
	st, ok := btf.UnderlyingType(ptr.Target).(*btf.Struct)
	if !ok || st.Name != "audit_buffer" {
		return enqueueQueueTail
	}
	skb := false
	for _, m := range st.Members {
		switch m.Name {
		case "skb":
			skb = true
		case "skb_list":
			return enqueueQueueTail
		}
	}
	if !skb {
		return enqueueQueueTail
	}
	return enqueueLogEnd
}

// kernelEnqueue is chooseEnqueue for the running kernel: skb_queue_tail
// where its BTF cannot be read (kprobes load there only without CO-RE
// relocations to resolve, which these programs have: a formality).
func kernelEnqueue(syms map[string]uint64, clones map[string]bool) enqueueHook {
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		return enqueueQueueTail
	}
	return chooseEnqueue(kspec, syms, clones)
}

func load(opts Options, mode Mode, syms map[string]uint64, clones map[string]bool) (_ *Probe, err error) {
	spec, points, err := collectionSpec(opts, mode, syms, kernelEnqueue(syms, clones))
	if err != nil {
		return nil, err
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{})
	if err != nil && spec.Programs[consumerProgram] != nil {
		// The consumer's program is optional: the rest must not fail with it.
		cerr := unwrapVerifier(err)
		delete(spec.Programs, consumerProgram)
		coll, err = ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{})
		for i := range points {
			if points[i].Program == consumerProgram {
				points[i].Error = fmt.Sprintf("loading: %v", cerr)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading programs: %w", unwrapVerifier(err))
	}
	p := &Probe{opts: opts, mode: mode, coll: coll, taskState: TaskStateHash}
	if spec.Maps["task_states"].Type == ebpf.TaskStorage {
		p.taskState = TaskStateStorage
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	// Data symbols are in kallsyms only with CONFIG_KALLSYMS_ALL; without
	// them the programs learn the addresses from kauditd_send_queue.
	q := backlogQueueAddrs{Main: syms["audit_queue"], Retry: syms["audit_retry_queue"], Hold: syms["audit_hold_queue"]}
	if err := coll.Variables["qaddr"].Set(q); err != nil {
		return nil, fmt.Errorf("initialising queue addresses: %w", err)
	}
	// Asked once, before anything is attached: after this an error from
	// a batch read is a failed read, not a kernel without them.
	if p.batch, err = checkBatch(coll.Maps["rules"], coll.Maps["wait_hist"]); err != nil {
		return nil, err
	}

	if mode == ModeKprobe {
		switch n, err := sweepKprobeEvents(); {
		case err != nil:
			p.sweepNote = fmt.Sprintf("kprobe events an auditprof that did not exit left in tracefs may remain: %v", err)
		case n > 0:
			p.sweepNote = fmt.Sprintf("removed %d kprobe events an auditprof that did not exit (killed) left in tracefs", n)
		}
	}

	// Order does not matter: nothing is counted until setCounting turns
	// every counter on at once, after the last attach.
	for i := range points {
		pt := &points[i]
		prog := coll.Programs[pt.Program]
		if prog == nil {
			continue
		}
		l, note, err := attach(mode, pt.Program, pt.Symbol, prog)
		pt.Note = note
		if err != nil {
			if pt.Required {
				return nil, fmt.Errorf("attaching %s to %s: %w", pt.Program, pt.Symbol, err)
			}
			pt.Error = err.Error()
			continue
		}
		pt.Attached = true
		p.links = append(p.links, l)
		p.linkPoint = append(p.linkPoint, i)
	}
	p.points = points
	p.tl = newTimelineReader(coll.Maps["timeline"], uint64(opts.Bucket), opts.TimelineSlots, &p.batch)
	p.tl.keep = opts.KeepBuckets
	if err := p.setCounting(true); err != nil {
		return nil, err
	}
	return p, nil
}

// setCounting starts or stops every counter at one instant, so that they
// all cover the same interval however long attaching takes.
func (p *Probe) setCounting(on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	if on {
		p.missedAtStart = make([]uint64, len(p.links))
		for i, l := range p.links {
			p.missedAtStart[i] = probeMissed(l)
		}
	}
	now := MonotonicNow()
	if on {
		p.startNs = now
		if err := p.coll.Variables["consumer_since_ns"].Set(now); err != nil {
			return fmt.Errorf("switching counters: %w", err)
		}
	} else {
		p.stopNs = now
	}
	if err := p.coll.Variables["counting"].Set(v); err != nil {
		return fmt.Errorf("switching counters: %w", err)
	}
	return nil
}

// probeMissed is the kernel's count of hits a kprobe or kretprobe link
// skipped (0 for other links, and before 6.7, which added it to the link's
// info, bpf_link_info.perf_event.kprobe.missed): the probe fired while
// another kprobe's handler ran on that CPU, as when an interrupt's softirq
// makes an audit record while one of auditprof's kprobe programs runs, or
// a kretprobe found no free instance. The program then never ran, so
// neither its count nor its recursion_misses shows it.
func probeMissed(l link.Link) uint64 {
	info, err := l.Info()
	if err != nil {
		return 0
	}
	if pe := info.PerfEvent(); pe != nil {
		if k := pe.Kprobe(); k != nil {
			return k.Missed
		}
	}
	return 0
}

// readProbeMisses sets each attached point's Missed: its link's kprobe
// misses since counting started (probeMissed).
func (p *Probe) readProbeMisses() {
	for i, l := range p.links {
		if i < len(p.missedAtStart) {
			p.points[p.linkPoint[i]].Missed = probeMissed(l) - p.missedAtStart[i]
		}
	}
}

// Detach stops counting and removes every link; the maps stay readable
// until Close.
func (p *Probe) Detach() error {
	var errs []error
	if p.coll != nil && len(p.links) > 0 {
		if err := p.setCounting(false); err != nil {
			errs = append(errs, err)
		}
		p.readProbeMisses()
	}
	for _, l := range p.links {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	p.links = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detaching programs: %w", err)
	}
	return nil
}

// Close detaches and frees everything. Nothing is pinned, so nothing stays.
func (p *Probe) Close() error {
	err := p.Detach()
	if p.coll != nil {
		p.coll.Close()
		p.coll = nil
	}
	return err
}

func unwrapVerifier(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%+v", ve)
	}
	return err
}

// procFirst is the first slot of procs a process row can take: slot 0 is
// "other" (the table was full), slot 1 the short-lived row.
const procFirst = uint32(backlogProcSlotPROC_SLOT_FIRST)

// sizeMaps sets the bounded maps' sizes from opts (defaults applied).
func sizeMaps(spec *ebpf.CollectionSpec, opts Options) {
	spec.Maps["timeline"].MaxEntries = opts.TimelineSlots
	// Slot 0 of each attribution array is "other"; slot 1 of procs the
	// short-lived row.
	spec.Maps["proc_slots"].MaxEntries = opts.MaxProcesses
	spec.Maps["procs"].MaxEntries = opts.MaxProcesses + procFirst
	spec.Maps["rule_slots"].MaxEntries = opts.MaxRules
	spec.Maps["rules"].MaxEntries = opts.MaxRules + 1
	spec.Maps["prog_slots"].MaxEntries = opts.MaxPrograms
	spec.Maps["progs"].MaxEntries = opts.MaxPrograms + 1
	spec.Maps["rule_prog_slots"].MaxEntries = opts.MaxRulePrograms
	spec.Maps["rule_progs"].MaxEntries = opts.MaxRulePrograms + 1
	spec.Maps["slot_claims"].MaxEntries = opts.MaxProcesses + opts.MaxRules + opts.MaxPrograms + opts.MaxRulePrograms + 4 +
		uint32(backlogSizesREASON_SLOTS)
}

// MapSize is one attribution map's size: its key and value bytes times
// its entries, before the kernel's own per-element overhead.
type MapSize struct {
	Name               string
	KeySize, ValueSize uint32
	MaxEntries         uint32
	Bytes              uint64
}

// attributionMaps are the maps whose size the attribution tables set.
var attributionMaps = []string{"proc_slots", "procs", "prog_slots", "progs", "prog_seen", "rule_slots", "rules",
	"rule_prog_slots", "rule_progs", "slot_claims", "inflight"}

// MapMemory returns the attribution maps' sizes with opts (zero values:
// the defaults), from the map specs: what a recording with those options
// holds in keys and values. inflight is the hash fallback's (with task
// storage it is shrunk to one entry).
func MapMemory(opts Options) ([]MapSize, error) {
	opts.defaults()
	spec, err := loadBacklog()
	if err != nil {
		return nil, fmt.Errorf("loading the programs' spec: %w", err)
	}
	sizeMaps(spec, opts)
	var out []MapSize
	for _, name := range attributionMaps {
		m := spec.Maps[name]
		out = append(out, MapSize{Name: name, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries,
			Bytes: uint64(m.KeySize+m.ValueSize) * uint64(m.MaxEntries)})
	}
	return out, nil
}
