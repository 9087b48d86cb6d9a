// Package exporter turns live profiles (recording.Options.Snapshot) into
// Prometheus metrics.
//
// The Collector holds the latest snapshot, already reduced to what a scrape
// exposes, behind an atomic pointer: a scrape builds constant metrics from
// it and never touches the BPF maps. Counters count since the exporter
// attached (a restart is a counter reset, which Prometheus handles).
//
// Metrics (all prefixed auditprof_):
//
//	records_total, records_queued_total, records_drained_total  counters
//	records_lost_total{reason}        reason: a loss class (profile.ReasonClass), all six always exported
//	silent_drops_total                records kauditd freed without counting them lost
//	backlog_waits_total               records whose producer slept in the backlog wait
//	backlog_wait_seconds_total        that sleep, as backlog_wait_time_actual counts it
//	kernel_lost_total                 the kernel's own lost counter (AUDIT_GET, since boot): the oracle
//	overflows_total{map}              every profile.Overflows field, by its JSON name
//	backlog_blocked_seconds           histogram of the wall time of audit_log_start calls that slept;
//	                                  le = 2^13 ... 2^35 ns in seconds, the same bounds every scrape
//	backlog_depth                     gauge: the kernel's queue length now (AUDIT_GET backlog)
//	backlog_depth_max                 gauge: the longest queue seen since attaching
//	backlog_limit                     gauge: backlog_limit in force
//	backlog_wait_time_seconds         gauge: backlog_wait_time in force (jiffies / HZ)
//	info{attach,kernel}               gauge, 1
//	setting_changes_total{setting}    changes of an audit setting since attaching (profile.SettingFields,
//	                                  every one always exported)
//	setting_last_change_timestamp_seconds{setting}  gauge: Unix time of its last change, once it changed
//	rule_records_total, rule_lost_total, rule_wait_seconds_total          {key,syscall,arch,comm}
//	process_records_total, process_lost_total, process_wait_seconds_total {comm,cgroup}
//	consumer_records_received_total   records kauditd put on auditd's socket
//	consumer_seconds_total{thread,state}  auditd's time: thread main|others, state on_cpu|runnable|
//	                                  wait|write|sync|lock|other|fault|unknown (a new auditd pid resets it)
//	kauditd_seconds_total{state}      kauditd's time: on_cpu|runnable|send_blocked|idle
//	kauditd_send_seconds_total{queue} kauditd's wall time in passes over queue main|retry|hold
//	consumer_stall_longest_seconds    gauge: the longest stall (records queued, nothing drained) in the
//	                                  snapshot's minute of timeline, one still going included
//	consumer_stall_seconds            histogram of the stalls that ended, each counted once;
//	                                  le = 10 ms x 2^0 ... 2^13 (to 81.92 s)
//
// The consumer series are absent when the consumer is not measured (no
// auditd is registered, or with --consumer sched-switch that program did
// not attach). The
// stall series come from the timeline instead (see stallTracker), and are
// there whenever it is.
//
// The four AUDIT_GET metrics (kernel_lost_total, backlog_depth,
// backlog_limit, backlog_wait_time_seconds) are absent from a scrape whose
// snapshot has no AUDIT_GET reading: the kernel delays AUDIT_GET while the
// backlog is over its limit, and a stale depth would be a wrong one.
//
// Rule series: key is the audit key (several keys joined by ","), "" for
// records with no key; syscall is profile.Rule.SyscallLabel(); comm names
// the program for records with no key only, "" otherwise. Process series
// sum the program rows (profile.ByProgram, every record in one: processes
// too short-lived or too many for the process table included) that share
// comm and cgroup (the cgroup v2 path, "" when unknown); where a profile
// has none (older profiles), its process rows. Unit series sum the same
// program rows by cgroup (ranking.Units): unit is the name views show
// (cron.service, docker-0123456789ab, "cgroup ID" for a cgroup gone before
// it was named, "(unknown)" in netlink mode), cgroup its path. Units are
// few where programs are many, so this family keeps a place for each where
// the process family's places are taken by programs.
//
// Each of the three families exports at most Top label sets plus one series
// whose labels are all "other" (see family): the first label sets to carry
// counts take the places, most records first, and keep them; once the
// places are full, everything else, and the kernel maps' own overflow rows,
// is summed into "other". Every series only grows, and a family's series
// sum to the profile's rows.
//
// Before the first snapshot the Collector exports nothing.
package exporter

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// DefaultTop is the number of label sets per family exported by default.
const DefaultTop = 20

// Histogram bounds: powers of two nanoseconds, 2^minBoundExp to
// 2^maxBoundExp (8.192 µs to 34.36 s).
const (
	minBoundExp = 13
	maxBoundExp = 35
)

// Bounds returns the histogram's upper bounds in seconds.
func Bounds() []float64 {
	b := make([]float64, 0, maxBoundExp-minBoundExp+1)
	for e := minBoundExp; e <= maxBoundExp; e++ {
		b = append(b, float64(uint64(1)<<e)/1e9)
	}
	return b
}

const ns = 1e9

type ruleID struct {
	key     string
	syscall int32
	arch    string
	comm    string
	uringOp int32
}

// unitID is a unit's identity: its cgroup's id, or its path where it has
// none, and whether it is the kernel table's overflow row.
type unitID struct {
	cgroupID uint64
	cgroup   string
	overflow bool
}

type procID struct {
	tgid     uint32
	comm     string
	cgroupID uint64
	// A program row's (tgid 0): its parent's comm, auditprof's own, the
	// kernel table's overflow row.
	parent         string
	self, overflow bool
}

// Collector is a prometheus.Collector over the latest snapshot.
type Collector struct {
	mu     sync.Mutex // serialises Update
	rules  *family[ruleID]
	procs  *family[procID]
	units  *family[unitID]
	stalls *stallTracker
	view   atomic.Pointer[view]
}

// view is what one snapshot exposes; it is never changed once published.
type view struct {
	attach, kernel string
	totals         profile.Totals
	lostByClass    map[string]uint64
	overflows      []named
	audit          *profile.AuditStatus
	hz             int
	histCounts     []uint64 // cumulative, per Bounds()
	histCount      uint64
	rules, procs   []series
	units          []series
	consumer       *profile.Consumer
	stalls         *stallView
	// settings: per setting, the changes since attaching and the wall
	// time of the last.
	settings map[string]settingView
}

type settingView struct {
	changes uint64
	lastSec float64
}

type named struct {
	name string
	v    uint64
}

// New returns a Collector exporting at most top label sets per family
// (DefaultTop if top < 1).
func New(top int) *Collector {
	if top < 1 {
		top = DefaultTop
	}
	return &Collector{rules: newFamily[ruleID](4, top), procs: newFamily[procID](2, top),
		units: newFamily[unitID](2, top), stalls: newStallTracker()}
}

// Update publishes a snapshot (a cumulative profile since attaching).
// Snapshots must come from one recording, oldest first. A snapshot whose
// stalls cannot be measured is not published.
func (c *Collector) Update(p *profile.Profile) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := &view{attach: label(p.Attach), kernel: label(p.KernelRelease), totals: p.Totals, hz: p.HZ}
	v.totals.LostByReason, v.totals.LostByClass = nil, nil
	v.lostByClass = map[string]uint64{}
	for _, class := range []string{profile.ClassBacklog, profile.ClassRate, profile.ClassMemory,
		profile.ClassHoldQueue, profile.ClassRetryQueue, profile.ClassOther} {
		v.lostByClass[class] = 0
	}
	byClass := p.Totals.LostByClass
	if byClass == nil {
		byClass = profile.LostByClass(p.Totals.LostByReason)
	}
	for class, n := range byClass {
		v.lostByClass[class] += n
	}
	v.overflows = overflows(p.Overflows)
	if p.AuditAfter != nil {
		a := *p.AuditAfter
		v.audit = &a
	}
	v.histCounts, v.histCount = histogram(p.WaitHistogramNs)
	v.settings = settingsView(p)
	v.consumer = p.Consumer
	var err error
	if v.stalls, err = c.stalls.update(p); err != nil {
		return fmt.Errorf("updating metrics: %w", err)
	}

	rules := make([]row[ruleID], 0, len(p.Rules))
	for _, r := range p.Rules {
		comm := ""
		if r.Key == "" {
			comm = r.Comm
		}
		rules = append(rules, row[ruleID]{
			id:       ruleID{r.Key, r.Syscall, r.Arch, r.Comm, r.Op()},
			labels:   labelSet{label(strings.ReplaceAll(r.Key, "\x01", ",")), label(r.SyscallLabel()), label(r.Arch), label(comm)},
			overflow: r.Syscall == profile.SyscallOther,
			v:        ranking.RuleCounts(r),
		})
	}
	c.rules.update(rules)
	v.rules = c.rules.series()

	procs := make([]row[procID], 0, len(p.Processes))
	for _, pr := range p.ByProgram {
		procs = append(procs, row[procID]{
			id:       procID{comm: pr.Comm, cgroupID: pr.CgroupID, parent: pr.ParentComm, self: pr.Self, overflow: pr.Overflow},
			labels:   labelSet{label(pr.Comm), label(pr.Cgroup)},
			overflow: pr.Overflow,
			v:        ranking.Counts{Records: pr.Records, Lost: pr.Lost, WaitNs: pr.WaitNs},
		})
	}
	if len(p.ByProgram) == 0 {
		for _, pr := range p.Processes {
			procs = append(procs, row[procID]{
				id:       procID{tgid: pr.Tgid, comm: pr.Comm, cgroupID: pr.CgroupID},
				labels:   labelSet{label(pr.Comm), label(pr.Cgroup)},
				overflow: pr.Tgid == 0 && pr.Comm == "other",
				v:        ranking.ProcessCounts(pr),
			})
		}
	}
	c.procs.update(procs)
	v.procs = c.procs.series()

	var units []row[unitID]
	for _, u := range ranking.Units(p, ranking.Records) {
		id := unitID{cgroupID: u.CgroupID, overflow: u.Overflow}
		if u.CgroupID == 0 {
			id.cgroup = u.Cgroup
		}
		units = append(units, row[unitID]{id: id, labels: labelSet{label(u.Name), label(u.Cgroup)},
			overflow: u.Overflow, v: ranking.UnitCounts(u)})
	}
	// No unit series (not even "other") without program rows: older
	// profiles have no cgroup to sum by.
	if len(p.ByProgram) > 0 {
		c.units.update(units)
		v.units = c.units.series()
	}
	c.view.Store(v)
	return nil
}

// settingsView counts a snapshot's setting changes per setting, with the
// wall time of the last: the change's CLOCK_MONOTONIC time put on the wall
// clock by the two clocks read now.
func settingsView(p *profile.Profile) map[string]settingView {
	out := map[string]settingView{}
	if len(p.Settings) == 0 {
		return out
	}
	var ts unix.Timespec
	wall := time.Now().UnixNano()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return out
	}
	for _, c := range p.Settings {
		sv := out[c.Field]
		sv.changes++
		sv.lastSec = float64(wall-(ts.Nano()-c.MonoNs)) / ns
		out[c.Field] = sv
	}
	return out
}

// label makes a label value of what the kernel gave: program names and
// keys are bytes, label values must be UTF-8 (an invalid one would fail the
// scrape).
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// overflows lists every field of profile.Overflows by its JSON name, so
// that a field added there is exported without a change here.
func overflows(o profile.Overflows) []named {
	rv := reflect.ValueOf(o)
	rt := rv.Type()
	out := make([]named, 0, rt.NumField())
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = rt.Field(i).Name
		}
		out = append(out, named{name, rv.Field(i).Uint()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// histogram maps the profile's log2 buckets (bucket i: values <= Le =
// 2^(i+1)-1 ns, counts not cumulative) onto Bounds(): each bucket is
// counted under the smallest bound >= its Le, so values <= 2^(i+1)-1 fall
// under 2^(i+1) ns; buckets below 2^13 fall under the first bound, buckets
// beyond 2^35 ns only under +Inf. Returns cumulative counts and the total.
func histogram(hist []profile.HistogramBucket) ([]uint64, uint64) {
	counts := make([]uint64, maxBoundExp-minBoundExp+1)
	var total uint64
	for _, b := range hist {
		total += b.Count
		for i := range counts {
			if b.Le <= uint64(1)<<(minBoundExp+i) {
				counts[i] += b.Count
				break
			}
		}
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	return counts, total
}

var (
	ruleLabels = []string{"key", "syscall", "arch", "comm"}
	procLabels = []string{"comm", "cgroup"}
	unitLabels = []string{"unit", "cgroup"}

	descRecords  = desc("records_total", "Records the kernel's audit_log_start made (calls past the exclude filter), since attaching.")
	descQueued   = desc("records_queued_total", "Records put on the kernel's audit queue.")
	descDrained  = desc("records_drained_total", "Records kauditd took off the audit queue.")
	descLost     = desc("records_lost_total", "Records the kernel counted lost (audit_log_lost), by loss class.", "reason")
	descSilent   = desc("silent_drops_total", "Records kauditd freed without counting them lost (no auditd, or audit=1 not on the command line).")
	descWaits    = desc("backlog_waits_total", "Records whose producer slept in the backlog wait.")
	descWaitSec  = desc("backlog_wait_seconds_total", "Time producers slept in the backlog wait, as the kernel's backlog_wait_time_actual counts it.")
	descKLost    = desc("kernel_lost_total", "The kernel's own lost counter (AUDIT_GET lost, since boot).")
	descOverflow = desc("overflows_total", "Events auditprof's bounded kernel maps could not hold (per-rule and per-process rows then go to \"other\"), and events its programs did not see (recursion_misses, returns_missed, probe_misses: the totals are short by that many).", "map")
	descBlocked  = desc("backlog_blocked_seconds", "Wall time of the audit_log_start calls that slept in the backlog wait.")
	descDepth    = desc("backlog_depth", "Records on the kernel's audit queue now (AUDIT_GET backlog).")
	descDepthMax = desc("backlog_depth_max", "The longest audit queue seen since attaching.")
	descLimit    = desc("backlog_limit", "The kernel's backlog_limit in force.")
	descWaitTime = desc("backlog_wait_time_seconds", "The kernel's backlog_wait_time in force.")
	descInfo     = desc("info", "What auditprof is attached with, and to which kernel.", "attach", "kernel")
	descSetChg   = desc("setting_changes_total", "Changes of an audit setting since attaching (backlog_limit, backlog_wait_time, enabled, failure, rate_limit, pid: auditd registering, lost_reset), as the kernel logged them or AUDIT_GET showed them.", "setting")
	descSetLast  = desc("setting_last_change_timestamp_seconds", "When an audit setting last changed since attaching (Unix time).", "setting")
	descRuleRec  = desc("rule_records_total", "Records per audit key, syscall and arch (and program, for records with no key); \"other\" holds the rest.", ruleLabels...)
	descRuleLost = desc("rule_lost_total", "Records lost per audit key, syscall and arch (and program, for records with no key).", ruleLabels...)
	descRuleWait = desc("rule_wait_seconds_total", "Backlog wait per audit key, syscall and arch (and program, for records with no key).", ruleLabels...)
	descProcRec  = desc("process_records_total", "Records per program and cgroup; \"other\" holds the rest.", procLabels...)
	descProcLost = desc("process_lost_total", "Records lost per program and cgroup.", procLabels...)
	descProcWait = desc("process_wait_seconds_total", "Backlog wait per program and cgroup.", procLabels...)
	descUnitRec  = desc("unit_records_total", "Records per cgroup (systemd unit, container), the program rows summed; \"other\" holds the rest.", unitLabels...)
	descUnitLost = desc("unit_lost_total", "Records lost per cgroup (systemd unit, container).", unitLabels...)
	descUnitWait = desc("unit_wait_seconds_total", "Backlog wait per cgroup (systemd unit, container).", unitLabels...)

	descConsRecv = desc("consumer_records_received_total", "Records kauditd put on auditd's netlink socket.")
	descConsSec  = desc("consumer_seconds_total", "auditd's time by thread (main, others) and state: on CPU, runnable (waiting for a CPU), or asleep by what it waited in.", "thread", "state")
	descKauditd  = desc("kauditd_seconds_total", "kauditd's time: on CPU, runnable, asleep sending to auditd (its socket full), idle.", "state")
	descKauditdQ = desc("kauditd_send_seconds_total", "kauditd's wall time in passes over each of its queues.", "queue")
	descStallMax = desc("consumer_stall_longest_seconds", "The longest consumer stall (records queued and none taken, to the timeline's bucket) in the last minute, one still going included.")
	descStalls   = desc("consumer_stall_seconds", "Consumer stalls (records queued and none taken, to the timeline's bucket) that ended, by length; each is counted once, when it has ended.")

	descs = []*prometheus.Desc{descConsRecv, descConsSec, descKauditd, descKauditdQ, descStallMax, descStalls, descRecords, descQueued, descDrained, descLost, descSilent, descWaits, descWaitSec,
		descKLost, descOverflow, descBlocked, descDepth, descDepthMax, descLimit, descWaitTime, descInfo, descSetChg, descSetLast,
		descRuleRec, descRuleLost, descRuleWait, descProcRec, descProcLost, descProcWait, descUnitRec, descUnitLost, descUnitWait}
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("auditprof_"+name, help, labels, nil)
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: constant metrics from the
// latest snapshot, nothing before the first.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	v := c.view.Load()
	if v == nil {
		return
	}
	counter := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, x, labels...)
	}
	gauge := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, labels...)
	}
	t := &v.totals
	counter(descRecords, float64(t.Records))
	counter(descQueued, float64(t.Queued))
	counter(descDrained, float64(t.Drained))
	for class, n := range v.lostByClass {
		counter(descLost, float64(n), class)
	}
	counter(descSilent, float64(t.SilentDrops))
	counter(descWaits, float64(t.Waits))
	counter(descWaitSec, float64(t.WaitNs)/ns)
	for _, o := range v.overflows {
		counter(descOverflow, float64(o.v), o.name)
	}

	bounds := Bounds()
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[b] = v.histCounts[i]
	}
	ch <- prometheus.MustNewConstHistogram(descBlocked, v.histCount, float64(t.BlockedNs)/ns, buckets)

	gauge(descDepthMax, float64(t.MaxDepth))
	if a := v.audit; a != nil {
		counter(descKLost, float64(a.Lost))
		gauge(descDepth, float64(a.Backlog))
		gauge(descLimit, float64(a.BacklogLimit))
		if v.hz > 0 {
			gauge(descWaitTime, float64(a.BacklogWaitTime)/float64(v.hz))
		}
	}
	gauge(descInfo, 1, v.attach, v.kernel)
	for _, f := range profile.SettingFields {
		sv := v.settings[f]
		counter(descSetChg, float64(sv.changes), f)
		if sv.changes > 0 {
			gauge(descSetLast, sv.lastSec, f)
		}
	}

	for _, s := range v.rules {
		counter(descRuleRec, float64(s.v.Records), s.labels...)
		counter(descRuleLost, float64(s.v.Lost), s.labels...)
		counter(descRuleWait, float64(s.v.WaitNs)/ns, s.labels...)
	}
	for _, s := range v.procs {
		counter(descProcRec, float64(s.v.Records), s.labels...)
		counter(descProcLost, float64(s.v.Lost), s.labels...)
		counter(descProcWait, float64(s.v.WaitNs)/ns, s.labels...)
	}
	for _, s := range v.units {
		counter(descUnitRec, float64(s.v.Records), s.labels...)
		counter(descUnitLost, float64(s.v.Lost), s.labels...)
		counter(descUnitWait, float64(s.v.WaitNs)/ns, s.labels...)
	}
	collectConsumer(v.consumer, counter)
	if s := v.stalls; s != nil {
		gauge(descStallMax, s.longest)
		bounds := StallBounds()
		buckets := make(map[float64]uint64, len(bounds))
		for i, b := range bounds {
			buckets[b] = s.counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(descStalls, s.count, s.sum, buckets)
	}
}

// consumerStates are the states of consumer_seconds_total, always all
// exported for both threads.
var consumerStates = []string{"on_cpu", "runnable", profile.ConsumerWait, profile.ConsumerWrite, profile.ConsumerSync,
	profile.ConsumerLock, profile.ConsumerOther, profile.ConsumerFault, profile.ConsumerUnknown, profile.ConsumerStopped}

func collectConsumer(c *profile.Consumer, counter func(*prometheus.Desc, float64, ...string)) {
	if c == nil || c.PID == 0 {
		return
	}
	counter(descConsRecv, float64(c.Received))
	for _, thread := range []string{"main", "others"} {
		sum := map[string]uint64{}
		for _, t := range c.Threads {
			if t.Main != (thread == "main") {
				continue
			}
			sum["on_cpu"] += t.OnCPUNs
			sum["runnable"] += t.RunnableNs
			for k, n := range t.OffCPUNs {
				sum[k] += n
			}
		}
		for _, st := range consumerStates {
			counter(descConsSec, float64(sum[st])/ns, thread, st)
		}
	}
	if k := c.Kauditd; k != nil {
		counter(descKauditd, float64(k.OnCPUNs)/ns, "on_cpu")
		counter(descKauditd, float64(k.RunnableNs)/ns, "runnable")
		counter(descKauditd, float64(k.SendBlockedNs)/ns, "send_blocked")
		counter(descKauditd, float64(k.IdleNs)/ns, "idle")
		counter(descKauditdQ, float64(k.SendMainNs)/ns, "main")
		counter(descKauditdQ, float64(k.SendRetryNs)/ns, "retry")
		counter(descKauditdQ, float64(k.SendHoldNs)/ns, "hold")
	}
}
