// Package live turns two cumulative snapshots of a running recording into
// what `auditprof top` shows for the interval between them: the queue's
// depth, rates, and the processes and rules ranked by what they did in
// the interval. Everything here is pure: the command feeds it snapshots
// from recording.Run and the bytes read from the terminal.
package live

import (
	"slices"
	"strconv"
	"strings"

	"github.com/auditprof/auditprof/internal/auditrules"
	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// Options configure Frame.
type Options struct {
	// SortBy ranks the rows by their records, lost records or backlog
	// wait over the interval (default records).
	SortBy string
	// Top bounds the rows of each table (0: all).
	Top int
	// History bounds Depth.History to the newest seconds (0: all the
	// snapshot's timeline holds).
	History int
}

// View is one screen of top, and the JSON object `top --json` prints. Per
// second rates are over the interval (the difference of two snapshots);
// Totals, and the rows' records and lost, are since top started counting.
type View struct {
	// IntervalNs is the time between the two snapshots (since counting
	// started, for the first).
	IntervalNs int64 `json:"interval_ns"`
	// ElapsedNs is the time since counting started.
	ElapsedNs int64 `json:"elapsed_ns"`
	// SortedBy is the sort key of the rows: records, lost or wait.
	SortedBy string `json:"sorted_by"`
	// Attach is the program family counting: fentry or kprobe.
	Attach string `json:"attach"`
	Depth  Depth  `json:"depth"`
	Rates  Rates  `json:"rates"`
	// LostPerSecByReason is the records lost per second in the interval
	// by reason class (profile.ReasonClass), for every class that lost
	// anything since the start.
	LostPerSecByReason map[string]float64 `json:"lost_per_sec_by_reason"`
	Totals             Totals             `json:"totals"`
	// Programs are ranked as Processes are (ties: by comm and parent);
	// ProgramRows is how many there were before --top. Empty in netlink
	// mode.
	Programs    []ProgramRow `json:"programs,omitempty"`
	ProgramRows int          `json:"program_rows,omitempty"`
	// Units are the program rows summed by cgroup (systemd units,
	// containers), ranked as Programs are (ties: by name); UnitRows is
	// how many there were before --top. Empty in netlink mode.
	Units    []UnitRow `json:"units,omitempty"`
	UnitRows int       `json:"unit_rows,omitempty"`
	// Processes are ranked by SortedBy over the interval; ties by the
	// same counter since the start, then records in the interval and since
	// the start, then comm and tgid. Rows with nothing in the interval
	// come after those with something.
	Processes []ProcessRow `json:"processes"`
	// ProcessRows is how many process rows there were before --top.
	ProcessRows int `json:"process_rows"`
	// Rules are the loaded audit rules (auditrules.Groups, as `rules`
	// groups them), ranked as Processes are (ties: then by name).
	Rules []RuleRow `json:"rules"`
	// RuleRows is how many rule rows there were before --top.
	RuleRows int `json:"rule_rows"`
	// Notes say what the snapshot could not do (an AUDIT_GET that did not
	// answer, rules not joined to the loaded ones).
	Notes []string `json:"notes,omitempty"`
}

// Depth is the audit queue's length, in records.
type Depth struct {
	// Now is the kernel's backlog (AUDIT_GET) when the snapshot was
	// taken; null when AUDIT_GET did not answer in time.
	Now *uint32 `json:"now"`
	// Limit is backlog_limit (0: unlimited); null as Now.
	Limit *uint32 `json:"limit"`
	// PeakInterval is the largest depth seen in the interval's timeline
	// buckets; PeakSinceStart the largest since counting started.
	PeakInterval   uint64 `json:"peak_interval"`
	PeakSinceStart uint64 `json:"peak_since_start"`
	// History is the peak depth of each second of the timeline kept
	// (whole seconds of CLOCK_MONOTONIC; the newest may be partial),
	// oldest first.
	History []uint64 `json:"history"`
}

// Rates are per second, over the interval.
type Rates struct {
	// ArrivalsPerSec: records produced (audit_log_start calls past the
	// exclude filter).
	ArrivalsPerSec float64 `json:"arrivals_per_sec"`
	// QueuedPerSec: records put on the audit queue.
	QueuedPerSec float64 `json:"queued_per_sec"`
	// DrainedPerSec: records kauditd took off the queue.
	DrainedPerSec float64 `json:"drained_per_sec"`
	// LostPerSec: records the kernel counted lost.
	LostPerSec float64 `json:"lost_per_sec"`
	// WaitsPerSec: records whose producer slept in the backlog wait.
	WaitsPerSec float64 `json:"waits_per_sec"`
	// WaitSecondsPerSec: seconds producers slept in the backlog wait per
	// second (as backlog_wait_time_actual counts): how many producers
	// were asleep at once, on average.
	WaitSecondsPerSec float64 `json:"wait_seconds_per_sec"`
}

// Totals are since counting started.
type Totals struct {
	Records uint64 `json:"records"`
	Lost    uint64 `json:"lost"`
	Waits   uint64 `json:"waits"`
	WaitNs  uint64 `json:"wait_ns"`
}

// ProcessRow is one thread group. Tgid 0 with comm "other" holds the
// processes that did not fit in the kernel's table; Tgid 0 with
// ShortLived the records of processes too young for a row of their own
// (profile.Process.ShortLived), each in its program's row.
type ProcessRow struct {
	Tgid       uint32 `json:"tgid"`
	Comm       string `json:"comm"`
	ShortLived bool   `json:"short_lived,omitempty"`
	// Cgroup is the cgroup v2 path, when it could be named.
	Cgroup        string  `json:"cgroup,omitempty"`
	RecordsPerSec float64 `json:"records_per_sec"`
	LostPerSec    float64 `json:"lost_per_sec"`
	// WaitNs is the time its producers slept in the backlog wait during
	// the interval; WaitNsTotal since the start.
	WaitNs      uint64 `json:"wait_ns"`
	WaitNsTotal uint64 `json:"wait_ns_total"`
	// Records and Lost are since the start.
	Records uint64 `json:"records"`
	Lost    uint64 `json:"lost"`
}

// RuleRow is one loaded audit rule (or several the kernel cannot tell
// apart), or rows no loaded rule explains: see auditrules.Group.
type RuleRow struct {
	// Rules are the loaded rules' indices (auditctl -l order); empty when
	// no loaded rule matches.
	Rules []int `json:"rules"`
	// Text is the rule as auditctl -l prints it ("" when none matches).
	Text string `json:"text"`
	Key  string `json:"key"`
	// Syscalls are the syscall names seen.
	Syscalls []string `json:"syscalls"`
	// Comm is the program, for records with no key.
	Comm          string  `json:"comm,omitempty"`
	RecordsPerSec float64 `json:"records_per_sec"`
	LostPerSec    float64 `json:"lost_per_sec"`
	// WaitNs is the backlog wait of its records in the interval;
	// WaitNsTotal since the start.
	WaitNs      uint64 `json:"wait_ns"`
	WaitNsTotal uint64 `json:"wait_ns_total"`
	// Records and Lost are since the start.
	Records uint64 `json:"records"`
	Lost    uint64 `json:"lost"`
}

// sub is a counter's growth; counters only grow, but a difference is never
// allowed to wrap.
func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// Frame is what happened between two snapshots of one recording, prev
// taken before cur. For the first interval prev is the zero profile (or
// nil): everything so far.
func Frame(prev, cur *profile.Profile, o Options) View {
	if prev == nil {
		prev = &profile.Profile{}
	}
	if !ranking.Valid(o.SortBy) {
		o.SortBy = ranking.Records
	}
	v := View{
		IntervalNs: max(cur.DurationNs-prev.DurationNs, 0),
		ElapsedNs:  cur.DurationNs,
		SortedBy:   o.SortBy,
		Attach:     cur.Attach,
		Notes:      slices.Compact(slices.Clone(cur.Notes)),
	}
	secs := float64(v.IntervalNs) / 1e9
	rate := func(n uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}

	v.Depth = depth(prev, cur, o.History)

	pt, ct := &prev.Totals, &cur.Totals
	v.Rates = Rates{
		ArrivalsPerSec: rate(sub(ct.Records, pt.Records)),
		QueuedPerSec:   rate(sub(ct.Queued, pt.Queued)),
		DrainedPerSec:  rate(sub(ct.Drained, pt.Drained)),
		LostPerSec:     rate(sub(ct.Lost, pt.Lost)),
		WaitsPerSec:    rate(sub(ct.Waits, pt.Waits)),
	}
	if secs > 0 {
		v.Rates.WaitSecondsPerSec = float64(sub(ct.WaitNs, pt.WaitNs)) / 1e9 / secs
	}
	v.LostPerSecByReason = map[string]float64{}
	prevClass := byClass(pt)
	for class, n := range byClass(ct) {
		if n > 0 {
			v.LostPerSecByReason[class] = rate(sub(n, prevClass[class]))
		}
	}
	v.Totals = Totals{Records: ct.Records, Lost: ct.Lost, Waits: ct.Waits, WaitNs: ct.WaitNs}

	v.Programs, v.ProgramRows = programs(prev, cur, rate, o.SortBy, o.Top)
	v.Units, v.UnitRows = units(prev, cur, rate, o.SortBy, o.Top)
	v.Processes, v.ProcessRows = processes(prev, cur, rate, o.SortBy, o.Top)
	v.Rules, v.RuleRows = rules(prev, cur, rate, o.SortBy, o.Top)
	return v
}

func byClass(t *profile.Totals) map[string]uint64 {
	if t.LostByClass != nil {
		return t.LostByClass
	}
	return profile.LostByClass(t.LostByReason)
}

// depth reads the queue's depth: now from AUDIT_GET, the peaks from the
// timeline buckets cur has and prev had not.
func depth(prev, cur *profile.Profile, history int) Depth {
	d := Depth{PeakSinceStart: cur.Totals.MaxDepth, History: []uint64{}}
	if a := cur.AuditAfter; a != nil {
		now, limit := a.Backlog, a.BacklogLimit
		d.Now, d.Limit = &now, &limit
	}
	tl := &cur.Timeline
	if tl.BucketNs <= 0 {
		return d
	}
	// The timeline keeps a window that moves (StartNs with it): the
	// interval's buckets are those after the last one prev held.
	from := 0
	pt := &prev.Timeline
	if end := pt.StartNs + int64(pt.Len())*pt.BucketNs; pt.Len() > 0 && end > tl.StartNs {
		from = int((end - tl.StartNs + tl.BucketNs - 1) / tl.BucketNs)
	}
	last := int64(0)
	for i, m := range tl.Dense().MaxDepth {
		if i >= from {
			d.PeakInterval = max(d.PeakInterval, m)
		}
		sec := (tl.StartNs + int64(i)*tl.BucketNs) / 1e9
		if i == 0 || sec != last {
			d.History = append(d.History, 0)
			last = sec
		}
		h := &d.History[len(d.History)-1]
		*h = max(*h, m)
	}
	if history > 0 && len(d.History) > history {
		d.History = d.History[len(d.History)-history:]
	}
	return d
}

// rank returns rows in top's order by key (see ranking.CompareInterval),
// the first top (0: all).
func rank[T any](rows []T, keys []ranking.Interval, key string, top int) []T {
	idx := ranking.RankIntervals(keys, key, top)
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out
}

func processes(prev, cur *profile.Profile, rate func(uint64) float64, sortBy string, top int) ([]ProcessRow, int) {
	before := make(map[uint32]profile.Process, len(prev.Processes))
	for _, p := range prev.Processes {
		before[p.Tgid] = p
	}
	var rows []ProcessRow
	var keys []ranking.Interval
	for _, p := range cur.Processes {
		total := ranking.ProcessCounts(p)
		if total.IsZero() {
			continue
		}
		r := ranking.Interval{Delta: total.Since(ranking.ProcessCounts(before[p.Tgid])), Total: total, Name: p.Comm, Tgid: p.Tgid}
		rows = append(rows, ProcessRow{
			Tgid: p.Tgid, Comm: p.Comm, ShortLived: p.ShortLived, Cgroup: p.Cgroup,
			RecordsPerSec: rate(r.Delta.Records), LostPerSec: rate(r.Delta.Lost),
			WaitNs: r.Delta.WaitNs, WaitNsTotal: p.WaitNs,
			Records: p.Records, Lost: p.Lost,
		})
		keys = append(keys, r)
	}
	return rank(rows, keys, sortBy, top), len(rows)
}

// ruleRowID is a (key, syscall, arch) row's identity in the kernel's map
// (comm for records with no key).
type ruleRowID struct {
	key     string
	syscall int32
	arch    string
	comm    string
	uringOp int32
}

func rules(prev, cur *profile.Profile, rate func(uint64) float64, sortBy string, top int) ([]RuleRow, int) {
	// Differences are taken per kernel row, then summed per group: the
	// loaded rules are read again while top runs, and a group's rows may
	// change with them.
	before := make(map[ruleRowID]profile.Rule, len(prev.Rules))
	for _, r := range prev.Rules {
		before[ruleRowID{r.Key, r.Syscall, r.Arch, r.Comm, r.Op()}] = r
	}
	var rows []RuleRow
	var keys []ranking.Interval
	for _, g := range auditrules.Groups(cur) {
		r := ranking.Interval{Total: ranking.Counts{Records: g.Records, Lost: g.Lost, WaitNs: g.WaitNs}}
		if r.Total.IsZero() {
			continue
		}
		for _, i := range g.Rows {
			c := cur.Rules[i]
			r.Delta.Add(ranking.RuleCounts(c).Since(ranking.RuleCounts(before[ruleRowID{c.Key, c.Syscall, c.Arch, c.Comm, c.Op()}])))
		}
		row := RuleRow{
			Rules: g.Rules, Text: g.Text, Key: g.Key, Syscalls: g.Syscalls, Comm: g.Comm,
			RecordsPerSec: rate(r.Delta.Records), LostPerSec: rate(r.Delta.Lost),
			WaitNs: r.Delta.WaitNs, WaitNsTotal: g.WaitNs,
			Records: g.Records, Lost: g.Lost,
		}
		r.Name = row.Name()
		rows = append(rows, row)
		keys = append(keys, r)
	}
	return rank(rows, keys, sortBy, top), len(rows)
}

// Name is how the rule is shown: its loaded rules' numbers and text, or,
// when no loaded rule matches, its key (and program, for no key).
func (r RuleRow) Name() string {
	if r.Text != "" {
		ids := make([]string, len(r.Rules))
		for i, n := range r.Rules {
			ids[i] = "#" + strconv.Itoa(n)
		}
		return strings.Join(ids, ",") + " " + r.Text
	}
	s := "key " + human.Key(r.Key)
	if r.Key == "" {
		s = human.Key(r.Key)
		if r.Comm != "" {
			s += " " + r.Comm
		}
	}
	if len(r.Rules) == 0 {
		s += " (no loaded rule)"
	}
	return s
}
