package probe

import (
	"fmt"
	"sort"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/auditrules"
	"github.com/auditprof/auditprof/internal/profile"
)

// Counters are the kernel-side totals, summed over CPUs.
type Counters = backlogCounters

// Totals reads the counters summed over all CPUs (maxima are maxima).
func (p *Probe) Totals() (Counters, error) {
	var per []backlogCounters
	if err := p.coll.Maps["totals"].Lookup(uint32(0), &per); err != nil {
		return Counters{}, fmt.Errorf("reading totals: %w", err)
	}
	var t Counters
	for _, c := range per {
		t.Records += c.Records
		t.Events += c.Events
		t.LostEvents += c.LostEvents
		t.Filtered += c.Filtered
		t.Queued += c.Queued
		t.BytesQueued += c.BytesQueued
		t.Lost += c.Lost
		t.SilentDrops += c.SilentDrops
		t.Waits += c.Waits
		t.WaitJiffies += c.WaitJiffies
		t.BlockedNs += c.BlockedNs
		t.Drained += c.Drained
		t.RetryQueued += c.RetryQueued
		t.HoldQueued += c.HoldQueued
		t.MaxDepth = max(t.MaxDepth, c.MaxDepth)
		t.MaxRetryDepth = max(t.MaxRetryDepth, c.MaxRetryDepth)
		t.MaxHoldDepth = max(t.MaxHoldDepth, c.MaxHoldDepth)
		t.KauditdPasses += c.KauditdPasses
		t.InflightOverflow += c.InflightOverflow
		t.InflightMissing += c.InflightMissing
		// Wraps per CPU: a nested call's miss is counted where it
		// began and taken back where the outer call returned.
		t.ReturnsMissed += c.ReturnsMissed
		t.NestedCalls += c.NestedCalls
		t.ProcOverflow += c.ProcOverflow
		t.ProgOverflow += c.ProgOverflow
		t.RuleOverflow += c.RuleOverflow
		t.RuleProgOverflow += c.RuleProgOverflow
		t.ReasonOverflow += c.ReasonOverflow
		t.TimelineLate += c.TimelineLate
		if c.FirstSerial != 0 && (t.FirstSerial == 0 || c.FirstSerial < t.FirstSerial) {
			t.FirstSerial = c.FirstSerial
		}
		t.LastSerial = max(t.LastSerial, c.LastSerial)
		t.Received += c.Received
		t.SendNsMain += c.SendNsMain
		t.SendNsRetry += c.SendNsRetry
		t.SendNsHold += c.SendNsHold
		t.ConsumerOverflow += c.ConsumerOverflow
		t.TlWrites += c.TlWrites
	}
	return t, nil
}

// MonotonicNow is the clock bpf_ktime_get_ns reads.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// PollTimeline moves finished buckets out of the kernel ring. Call it at
// least every few seconds while recording (the ring spans
// TimelineSlots*Bucket). It returns the totals it read to decide what to
// read, for a caller that shows them (record --progress): one read of
// the totals a second, not two.
func (p *Probe) PollTimeline() (Counters, error) {
	t, err := p.Totals()
	if err != nil {
		return t, err
	}
	// Buckets younger than two bucket widths may still be written to.
	now := MonotonicNow() / uint64(p.opts.Bucket)
	if now < 2 {
		return t, nil
	}
	return t, p.tl.pollUntil(now-2, t.TlWrites+t.Records, MonotonicNow())
}

// Fill writes everything the maps hold into prof. Call it after Detach so
// that the figures are final. prof.HZ must be set: wait times are counted
// in jiffies, as the kernel counts backlog_wait_time_actual.
func (p *Probe) Fill(prof *profile.Profile) error {
	// Up to the bucket in progress at Detach: nothing comes after it.
	return p.fill(prof, MonotonicNow()/uint64(p.opts.Bucket), true)
}

// Snapshot is Fill while counting goes on: the counters so far, and the
// timeline up to the last bucket nothing more can be written to (the
// same bound as PollTimeline). Snapshots are cumulative; the difference of
// two is what happened between them.
func (p *Probe) Snapshot(prof *profile.Profile) error {
	now := MonotonicNow() / uint64(p.opts.Bucket)
	if now < 2 {
		now = 2
	}
	return p.fill(prof, now-2, false)
}

// jiffiesToNs converts jiffies at hz to ns, whole seconds first: j*1e9
// overflows past 1.8e10 jiffies (10,000 producers asleep for an hour at
// HZ 1000).
func jiffiesToNs(hz int) func(uint64) uint64 {
	h := uint64(hz)
	return func(j uint64) uint64 { return j/h*1_000_000_000 + j%h*1_000_000_000/h }
}

// SpillTimeline hands each bucket the polls read in which something
// happened to fn (record's journal, profile.Journal) instead of keeping
// it: record's memory then stays flat however long it records (issue 14).
// The timeline Fill gives afterwards has its frame (bucket width, start,
// missed buckets) and no series. hz converts wait jiffies as Fill does. An
// error from fn ends the poll that read the bucket with it.
func (p *Probe) SpillTimeline(fn func(profile.Bucket) error, hz int) {
	jns := jiffiesToNs(hz)
	p.tl.spill = func(b backlogTlSlot) error { return fn(p.tl.bucket(b, jns)) }
}

// bucket is slot b as a profile.Bucket, its index counted from the first
// bucket and its wait in ns.
func (r *timelineReader) bucket(b backlogTlSlot, jns func(uint64) uint64) profile.Bucket {
	return profile.Bucket{Index: int64(b.Epoch - r.first), Arrivals: int64(b.Arrivals), Events: b.Events,
		LostEvents: b.LostEvents, Queued: b.Queued, Lost: b.Lost, Drained: b.Drained, MaxDepth: b.MaxDepth,
		Waits: b.Waits, WaitNs: jns(b.WaitJiffies), Producers: b.Producers, Delivered: b.Delivered}
}

// TimelineRead returns the CLOCK_MONOTONIC start of the timeline's first
// bucket and how many buckets the polls have read so far.
func (p *Probe) TimelineRead() (startNs, read int64) {
	return int64(p.tl.first * p.tl.bucketNs), int64(p.tl.next - p.tl.first)
}

// fill reads the maps into prof. whole: the attribution tables are read
// to their last slot (Fill, the profile's final figures) rather than to
// their rows in use (rowsUsed, for the snapshots top and the exporter
// take every refresh): the bound rests on how slot_claim hands out slots,
// and the recording's own figures do not.
func (p *Probe) fill(prof *profile.Profile, lastBucket uint64, whole bool) error {
	if prof.HZ <= 0 {
		return fmt.Errorf("filling profile: HZ is %d", prof.HZ)
	}
	// Whole seconds first: j*1e9 overflows past 1.8e10 jiffies (10,000
	// producers asleep for an hour at HZ 1000).
	jns := jiffiesToNs(prof.HZ)
	t, err := p.Totals()
	if err != nil {
		return err
	}
	if err := p.tl.readUntil(lastBucket); err != nil {
		return err
	}
	prof.Attach = string(p.mode)
	prof.AttachNote = p.note
	prof.TaskState = p.taskState
	prof.ProcessMinAgeNs = int64(p.opts.ProcessMinAge)
	// The kernel's kprobe misses since counting started, while attached
	// (Detach fixes them at the stop).
	p.readProbeMisses()
	prof.AttachPoints = p.points
	prof.Totals = profile.Totals{
		Records:       t.Records,
		Events:        t.Events,
		LostEvents:    t.LostEvents,
		Queued:        t.Queued,
		Lost:          t.Lost,
		LostByReason:  map[string]uint64{},
		SilentDrops:   t.SilentDrops,
		Waits:         t.Waits,
		WaitNs:        jns(t.WaitJiffies),
		BlockedNs:     t.BlockedNs,
		MaxDepth:      t.MaxDepth,
		BytesQueued:   t.BytesQueued,
		Drained:       t.Drained,
		Filtered:      t.Filtered,
		NestedCalls:   t.NestedCalls,
		RetryQueued:   t.RetryQueued,
		HoldQueued:    t.HoldQueued,
		MaxRetryDepth: t.MaxRetryDepth,
		MaxHoldDepth:  t.MaxHoldDepth,
		KauditdPasses: t.KauditdPasses,
		FirstSerial:   t.FirstSerial,
		LastSerial:    t.LastSerial,
	}
	prof.Overflows = profile.Overflows{
		Processes:       t.ProcOverflow,
		Programs:        t.ProgOverflow,
		Rules:           t.RuleOverflow,
		RulePrograms:    t.RuleProgOverflow,
		Reasons:         t.ReasonOverflow,
		Inflight:        t.InflightOverflow,
		InflightMissing: t.InflightMissing,
		ReturnsMissed:   t.ReturnsMissed,
		TimelineLate:    t.TimelineLate,
	}
	for _, pt := range p.points {
		prof.Overflows.ProbeMisses += pt.Missed
	}
	if err := p.fillReasons(prof, t); err != nil {
		return err
	}
	prof.Totals.LostByClass = profile.LostByClass(prof.Totals.LostByReason)
	if err := p.fillProcesses(prof, jns, whole); err != nil {
		return err
	}
	progs, err := p.fillProgramRows(prof, jns, whole)
	if err != nil {
		return err
	}
	ruleAt, err := p.fillRules(prof, jns, whole)
	if err != nil {
		return err
	}
	if err := p.fillRulePrograms(prof, ruleAt, progs, jns, whole); err != nil {
		return err
	}
	if err := p.fillHistogram(prof); err != nil {
		return err
	}
	prof.Timeline = p.tl.timeline(jns)
	if err := p.fillPrograms(prof); err != nil {
		return err
	}
	if err := p.fillConsumer(prof, t); err != nil {
		return err
	}
	prof.SortTables()
	return nil
}

func (p *Probe) fillPrograms(prof *profile.Profile) error {
	prof.Programs = nil
	names := make([]string, 0, len(p.coll.Programs))
	for name := range p.coll.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st, err := p.coll.Programs[name].Stats()
		if err != nil {
			return fmt.Errorf("reading statistics of %s: %w", name, err)
		}
		prof.Programs = append(prof.Programs, profile.ProgramStats{Name: name, RunCount: st.RunCount,
			RunTimeNs: uint64(st.Runtime), RecursionMisses: st.RecursionMisses})
		prof.Overflows.RecursionMisses += st.RecursionMisses
	}
	return nil
}

func cString(b []int8) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(b[i])
	}
	return string(out)
}

func (p *Probe) fillReasons(prof *profile.Profile, t Counters) error {
	// Every row, in one batch where the kernel has them; a row in use
	// has its message's address. Two rows can share a text (struct
	// reason_stats): they add up here.
	// The buffers are the probe's (every row is written by the read).
	keys, rows := p.reasonKeys[:], p.reasonRows[:]
	if err := readArray(p.coll.Maps["reasons"], &p.batch, 0, keys, rows); err != nil {
		return fmt.Errorf("reading loss reasons: %w", err)
	}
	for _, r := range rows {
		if r.Msg != 0 && r.Count > 0 {
			prof.Totals.LostByReason[cString(r.Text[:])] += r.Count
		}
	}
	if t.ReasonOverflow > 0 {
		prof.Totals.LostByReason["(reasons that did not fit)"] += t.ReasonOverflow
	}
	return nil
}

func (p *Probe) fillProcesses(prof *profile.Profile, jns func(uint64) uint64, whole bool) error {
	rows, err := tableRows[uint32](p, "procs", "proc_slots", "proc_next", backlogClaimTableCLAIM_PROCS, whole,
		func(v *backlogProcStats) bool { return v.Records > 0 }, uint32(backlogProcSlotPROC_SLOT_SHORT))
	if err != nil {
		return fmt.Errorf("reading processes: %w", err)
	}
	prof.Processes = nil
	for _, r := range rows {
		v := r.v
		row := profile.Process{
			Tgid: v.Tgid, Comm: cString(v.Comm[:]), CgroupID: v.CgroupId,
			Records: v.Records, Queued: v.Queued, Bytes: v.Bytes, Lost: v.Lost,
			Waits: v.Waits, WaitNs: jns(v.WaitJiffies), MaxWaitNs: jns(v.MaxWaitJiffies), BlockedNs: v.BlockedNs,
		}
		switch r.slot {
		case uint32(backlogProcSlotPROC_SLOT_OTHER):
			row.Tgid, row.Comm = 0, "other"
		case uint32(backlogProcSlotPROC_SLOT_SHORT):
			row.Tgid, row.Comm, row.ShortLived = 0, "short-lived", true
		}
		prof.Processes = append(prof.Processes, row)
	}
	return nil
}

// fillProgramRows reads the program table (prog_slots, progs); slot 0 is
// the row of the programs that did not fit. It returns the rows read by
// slot, for fillRulePrograms.
func (p *Probe) fillProgramRows(prof *profile.Profile, jns func(uint64) uint64, whole bool) (map[uint32]backlogProgStats, error) {
	rows, err := tableRows[backlogProgKey](p, "progs", "prog_slots", "prog_next", backlogClaimTableCLAIM_PROGS, whole,
		func(v *backlogProgStats) bool { return v.Records > 0 })
	if err != nil {
		return nil, fmt.Errorf("reading programs: %w", err)
	}
	prof.ByProgram = nil
	bySlot := make(map[uint32]backlogProgStats, len(rows))
	for _, r := range rows {
		v := r.v
		bySlot[r.slot] = v
		row := profile.ProgramRow{
			Comm: cString(v.Key.Comm[:]), ParentComm: cString(v.Key.ParentComm[:]), CgroupID: v.Key.CgroupId,
			Self: v.Key.Self != 0, Exe: cString(v.Exe[:]), Processes: v.Processes,
			Records: v.Records, Queued: v.Queued, Bytes: v.Bytes, Lost: v.Lost,
			Waits: v.Waits, WaitNs: jns(v.WaitJiffies), MaxWaitNs: jns(v.MaxWaitJiffies), BlockedNs: v.BlockedNs,
		}
		if r.slot == 0 {
			row.Comm, row.ParentComm, row.CgroupID, row.Self, row.Overflow = "other", "", 0, false, true
		}
		prof.ByProgram = append(prof.ByProgram, row)
	}
	return bySlot, nil
}

// fillRules reads the rule table, and returns the index in prof.Rules of
// each rule slot read.
func (p *Probe) fillRules(prof *profile.Profile, jns func(uint64) uint64, whole bool) (map[uint32]int, error) {
	rows, err := tableRows[backlogRuleKey](p, "rules", "rule_slots", "rule_next", backlogClaimTableCLAIM_RULES, whole,
		func(v *backlogRuleStats) bool { return v.Records > 0 })
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	prof.Rules = nil
	at := map[uint32]int{}
	for _, r := range rows {
		v := r.v
		row := profile.Rule{
			Key: cString(v.Key.Key[:]), Syscall: v.Key.Syscall, Comm: cString(v.Key.Comm[:]),
			Arch: auditrules.ArchName(v.Key.Arch), SyscallName: auditrules.SyscallName(v.Key.Syscall, v.Key.Arch),
			Records: v.Records, Events: v.Events, Lost: v.Lost, LostEvents: v.LostEvents, Waits: v.Waits, WaitNs: jns(v.WaitJiffies),
		}
		if v.Key.Syscall == syscallInt32(backlogRuleSyscallSYSCALL_URING) {
			op := v.Key.UringOp
			row.UringOp, row.UringOpName, row.Arch, row.SyscallName = &op, auditrules.UringOpName(op), "", ""
		}
		if r.slot == 0 {
			row.Key, row.Syscall = "", syscallInt32(backlogRuleSyscallSYSCALL_OTHER)
		}
		at[r.slot] = len(prof.Rules)
		prof.Rules = append(prof.Rules, row)
	}
	return at, nil
}

// fillRulePrograms reads the rules-by-program table into each rule's
// Programs, the program's key copied from its program row (progs, by slot;
// slot 0: the programs that did not fit, "other"). The pairs that did not
// fit (slot 0 of rule_progs) belong to no rule: their records are
// Overflows.RulePrograms and in no rule's Programs.
func (p *Probe) fillRulePrograms(prof *profile.Profile, ruleAt map[uint32]int, progs map[uint32]backlogProgStats,
	jns func(uint64) uint64, whole bool) error {
	rows, err := tableRows[backlogRuleProgKey](p, "rule_progs", "rule_prog_slots", "rule_prog_next", backlogClaimTableCLAIM_RULE_PROGS, whole,
		func(v *backlogRuleProgStats) bool { return v.Records > 0 })
	if err != nil {
		return fmt.Errorf("reading rules by program: %w", err)
	}
	for _, r := range rows {
		v := r.v
		i, ok := ruleAt[v.Key.RuleSlot]
		if r.slot == 0 || !ok {
			// The pairs that did not fit, or a pair of a rule row
			// with no record (claimed as counting stopped).
			continue
		}
		pg, ok := progs[v.Key.ProgSlot]
		if !ok {
			// The program's row was read before this pair counted
			// its first record.
			if err := p.coll.Maps["progs"].Lookup(v.Key.ProgSlot, &pg); err != nil {
				return fmt.Errorf("reading rules by program: %w", err)
			}
			progs[v.Key.ProgSlot] = pg
		}
		row := profile.RuleProgram{
			Comm: cString(pg.Key.Comm[:]), ParentComm: cString(pg.Key.ParentComm[:]), CgroupID: pg.Key.CgroupId,
			Self: pg.Key.Self != 0, Records: v.Records, Events: v.Events, Lost: v.Lost, Waits: v.Waits,
			WaitNs: jns(v.WaitJiffies),
		}
		if v.Key.ProgSlot == 0 {
			row.Comm, row.ParentComm, row.CgroupID, row.Self, row.Overflow = "other", "", 0, false, true
		}
		prof.Rules[i].Programs = append(prof.Rules[i].Programs, row)
	}
	return nil
}

// syscallInt32 is a rule_syscall value as rule_key.syscall holds it.
// clang-14 writes BTF enums without their sign (BTF's signed flag came with
// LLVM 15), so bpf2go types the negative values as their uint32 bit
// pattern; converted at run time, the pattern wraps back to the value.
func syscallInt32(v backlogRuleSyscall) int32 { return int32(v) }

func (p *Probe) fillHistogram(prof *profile.Profile) error {
	prof.WaitHistogramNs = nil
	counts, err := p.sumPerCPU(p.coll.Maps["wait_hist"])
	if err != nil {
		return fmt.Errorf("reading wait histogram: %w", err)
	}
	for slot, n := range counts {
		slot := uint32(slot)
		if n == 0 {
			continue
		}
		// Slot i holds [2^i, 2^(i+1)) ns.
		le := uint64(1)<<(slot+1) - 1
		if slot == uint32(backlogSizesHIST_SLOTS)-1 {
			le = ^uint64(0)
		}
		prof.WaitHistogramNs = append(prof.WaitHistogramNs, profile.HistogramBucket{Le: le, Count: n})
	}
	return nil
}

// timelineReader turns the per-CPU ring into a contiguous series.
type timelineReader struct {
	m        *ebpf.Map
	bucketNs uint64
	slots    uint32
	first    uint64 // first epoch of the recording
	next     uint64 // next epoch to read
	// buckets holds the buckets read in which something happened, by
	// epoch; the others, from first to next, were empty. An idle hour
	// then costs a few kilobytes, not 360,000 slots of 96 bytes (issue
	// 14: a recording's memory flat in its duration while quiet).
	buckets []backlogTlSlot
	// A poll's slots and their per-CPU values, reused from poll to
	// poll; ncpu: possible CPUs.
	keys []uint32
	per  []backlogTlSlot
	ncpu int
	// batch is the Probe's batchSupport (readArray), nil: none.
	batch *batchSupport
	marks []pollMark // the last polls' writes, newest last
	// spill, when set, takes the buckets read in which something
	// happened, instead of buckets (Probe.SpillTimeline).
	spill  func(backlogTlSlot) error
	missed uint64
	keep   int // newest buckets kept, 0 for all
}

func newTimelineReader(m *ebpf.Map, bucketNs uint64, slots uint32, batch *batchSupport) timelineReader {
	now := MonotonicNow() / bucketNs
	return timelineReader{m: m, bucketNs: bucketNs, slots: slots, first: now, next: now, batch: batch}
}

// pollMark is what a poll saw: the ring's writes (writes, from the
// totals) as of at ns.
type pollMark struct{ ns, writes uint64 }

// pollUntil is readUntil for the once-a-second poll, which skips the
// lookups when nothing was written since before the first bucket to read
// began: writes (tl_writes + records, read before readAt, a CLOCK_MONOTONIC
// time taken after that read) equal to a mark taken no later than that
// bucket's start means no program touched the ring since, so every bucket
// to read is empty. An idle recording then reads one map entry a second.
func (r *timelineReader) pollUntil(last, writes, readAt uint64) error {
	quiet := false
	for _, m := range r.marks {
		if m.writes == writes && m.ns <= r.next*r.bucketNs {
			quiet = true
		}
	}
	r.marks = append(r.marks, pollMark{readAt, writes})
	if len(r.marks) > 4 {
		r.marks = r.marks[len(r.marks)-4:]
	}
	if !quiet || r.m == nil || last < r.next {
		return r.readUntil(last)
	}
	r.next = last + 1
	r.trim()
	return nil
}

func (r *timelineReader) readUntil(last uint64) error {
	if r.m == nil || last < r.next {
		return nil
	}
	// Buckets older than the ring are gone; count them, never invent them.
	if span := last - r.next + 1; span > uint64(r.slots) {
		lostSpan := span - uint64(r.slots)
		r.missed += lostSpan
		r.next += lostSpan
	}
	// Only the slots of the buckets to read: a poll a second at 10 ms
	// buckets reads 100 of the ring's 1,024 slots, and an idle
	// recording's cost is this read (issue 14). One batch lookup per run
	// of consecutive slots (two where the buckets wrap round the ring;
	// one per batchRows slots of a longer run), into slices reused from
	// poll to poll; one lookup a slot where the kernel has no batch
	// lookup on per-CPU arrays (readArray).
	for e := r.next; e <= last; {
		from := uint32(e % uint64(r.slots))
		n := int(min(last-e+1, uint64(r.slots-from)))
		per, err := r.readSlots(from, n)
		if err != nil {
			return fmt.Errorf("reading timeline: %w", err)
		}
		for k := range n {
			if err := r.take(e, per[k*r.ncpu:(k+1)*r.ncpu]); err != nil {
				r.next = e // read again next time: what was handed over is not
				return err
			}
			e++
		}
	}
	r.next = last + 1
	r.trim()
	return nil
}

// readSlots returns the per-CPU values of n consecutive slots from slot
// from: n times ncpu values, slot by slot.
func (r *timelineReader) readSlots(from uint32, n int) ([]backlogTlSlot, error) {
	if r.ncpu == 0 {
		ncpu, err := ebpf.PossibleCPU()
		if err != nil {
			return nil, err
		}
		r.ncpu = ncpu
	}
	if len(r.keys) < n {
		r.keys, r.per = make([]uint32, n), make([]backlogTlSlot, n*r.ncpu)
	}
	per := r.per[:n*r.ncpu]
	if err := readArray(r.m, r.batch, from, r.keys[:n], per); err != nil {
		return nil, err
	}
	return per, nil
}

// take adds bucket e's per-CPU values (its ring slot's) to the buckets
// read.
func (r *timelineReader) take(e uint64, cpus []backlogTlSlot) error {
	var b backlogTlSlot
	overwritten := false
	for _, s := range cpus {
		switch {
		case s.Epoch == e:
			b.Arrivals += s.Arrivals
			b.Events += s.Events
			b.LostEvents += s.LostEvents
			b.Queued += s.Queued
			b.Lost += s.Lost
			b.Drained += s.Drained
			b.MaxDepth = max(b.MaxDepth, s.MaxDepth)
			b.Waits += s.Waits
			b.WaitJiffies += s.WaitJiffies
			b.Producers += s.Producers // a task counts once, on one CPU
			b.Delivered += s.Delivered
		case s.Epoch > e:
			overwritten = true
		}
	}
	if overwritten {
		r.missed++
	}
	b.Epoch = e
	if b == (backlogTlSlot{Epoch: e}) {
		return nil
	}
	if r.spill != nil {
		return r.spill(b)
	}
	r.buckets = append(r.buckets, b)
	return nil
}

// trim keeps the newest buckets of a live reader (keep > 0).
func (r *timelineReader) trim() {
	if r.keep <= 0 || r.next-r.first <= uint64(r.keep) {
		return
	}
	r.first = r.next - uint64(r.keep)
	drop := 0
	for drop < len(r.buckets) && r.buckets[drop].Epoch < r.first {
		drop++
	}
	if drop > 0 {
		r.buckets = append(r.buckets[:0:0], r.buckets[drop:]...)
	}
}

func (r *timelineReader) timeline(jns func(uint64) uint64) profile.Timeline {
	t := profile.Timeline{
		BucketNs:      int64(r.bucketNs),
		StartNs:       int64(r.first * r.bucketNs),
		MissedBuckets: r.missed,
	}
	if r.spill != nil {
		return t // the series are in the journal
	}
	n := int(r.next - r.first)
	s := t.Dense()
	s.Arrivals = make([]int64, n)
	s.Events = make([]uint64, n)
	s.LostEvents = make([]uint64, n)
	s.Queued = make([]uint64, n)
	s.Lost = make([]uint64, n)
	s.Drained = make([]uint64, n)
	s.MaxDepth = make([]uint64, n)
	s.Waits = make([]uint64, n)
	s.WaitNs = make([]uint64, n)
	s.Producers = make([]uint64, n)
	s.Delivered = make([]uint64, n)
	counted, delivered := false, false
	for _, b := range r.buckets {
		t.SetBucket(r.bucket(b, jns))
		counted = counted || b.Producers > 0
		delivered = delivered || b.Delivered > 0
	}
	if !counted {
		s.Producers = nil // not counted (the inflight hash), or no record
	}
	if !delivered {
		s.Delivered = nil // no auditd, or its socket not found
	}
	return t
}
