// Package sizingtest simulates audit queues record by record, to make
// profiles with a known truth for the sizing model's tests.
package sizingtest

import (
	"math"

	"github.com/auditprof/auditprof/internal/profile"
)

// Workload drives Simulate: events per millisecond at millisecond ms.
type Workload func(ms int) float64

// Simulate is a record-by-record queue, independent of Replay's per-bucket
// arithmetic: events of k records arrive back to back; a record is queued
// while the queue is not above limit (0: unlimited), else lost, and a lost
// first record (SYSCALL) ends its event; the consumer takes drainPerMs
// records each millisecond. It returns the profile it would record and the
// deepest the queue got.
func Simulate(ms int, w Workload, k int, drainPerMs float64, limit uint32) (*profile.Profile, uint64) {
	return SimulateConsumer(ms, w, k, func(float64) float64 { return drainPerMs }, limit)
}

// Consumer is the records a millisecond the consumer takes while the
// workload makes load events a millisecond: a consumer that shares CPUs
// with the producers is slower while they run.
type Consumer func(load float64) float64

// SimulateConsumer is Simulate with a consumer whose pace follows the load.
func SimulateConsumer(ms int, w Workload, k int, drain Consumer, limit uint32) (*profile.Profile, uint64) {
	return SimulateLimits(ms, w, k, drain, func(int) uint32 { return limit })
}

// SimulateLimits is SimulateConsumer with the backlog_limit in force at
// each millisecond: an operator who changes it mid-recording (issue 20).
// Each change is in the profile's Settings, at the millisecond it took
// effect, seen by the kernel as auditctl's.
func SimulateLimits(ms int, w Workload, k int, drain Consumer, limitAt func(ms int) uint32) (*profile.Profile, uint64) {
	const bucketMs = 10
	n := ms / bucketMs
	limit := limitAt(0)
	p := &profile.Profile{SchemaVersion: 1, Attach: "fentry", HZ: 250, KernelRelease: "sim", DurationNs: int64(ms) * 1e6,
		AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: limit}}
	t := &p.Timeline
	s := t.Dense()
	t.BucketNs = bucketMs * 1e6
	s.Arrivals, s.Events, s.LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
	s.Queued, s.Lost, s.Drained, s.MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	s.Waits, s.WaitNs = make([]uint64, n), make([]uint64, n)
	var q, peak uint64
	var evAcc, drAcc float64
	for m := 0; m < ms; m++ {
		b := m / bucketMs
		if b >= n {
			break
		}
		if l := limitAt(m); l != limit {
			p.Settings = append(p.Settings, profile.SettingChange{MonoNs: t.StartNs + int64(m)*1e6, Field: profile.SettingBacklogLimit,
				Old: uint64(limit), New: uint64(l), Seen: profile.SeenKernel, By: &profile.SettingSender{Tgid: 812, PID: 812, Comm: "auditctl", Ses: 3}})
			limit = l
		}
		load := w(m)
		evAcc += load
		for ; evAcc >= 1; evAcc-- {
			s.Events[b]++
			for r := 0; r < k; r++ {
				s.Arrivals[b]++
				if limit > 0 && q > uint64(limit) {
					s.Lost[b]++
					if r == 0 {
						s.LostEvents[b]++
						break
					}
					continue
				}
				q++
				s.Queued[b]++
				s.MaxDepth[b] = max(s.MaxDepth[b], q)
				peak = max(peak, q)
			}
		}
		drAcc += drain(load)
		for ; drAcc >= 1 && q > 0; drAcc-- {
			q--
			s.Drained[b]++
		}
		if q == 0 {
			drAcc = math.Min(drAcc, 1)
		}
	}
	var rule profile.Rule
	rule.Key, rule.Syscall = "load", 257
	for i := 0; i < n; i++ {
		rule.Records += uint64(s.Arrivals[i])
		rule.Events += s.Events[i]
		rule.Lost += s.Lost[i]
		rule.LostEvents += s.LostEvents[i]
		p.Totals.Queued += s.Queued[i]
		p.Totals.Drained += s.Drained[i]
		p.Totals.MaxDepth = max(p.Totals.MaxDepth, s.MaxDepth[i])
	}
	p.Totals.Records, p.Totals.Events, p.Totals.Lost, p.Totals.LostEvents = rule.Records, rule.Events, rule.Lost, rule.LostEvents
	p.Totals.BytesQueued = p.Totals.Queued * 2304
	p.Totals.LostByReason = map[string]uint64{"backlog limit exceeded": rule.Lost}
	p.Rules = []profile.Rule{rule}
	p.Processes = []profile.Process{{Tgid: 100, Comm: "load", Records: rule.Records, Lost: rule.Lost}}
	return p, peak
}

// Bursts: 300 ms at 3 events a millisecond every 2 s, 0.05 between.
func Bursts(ms int) float64 {
	if ms%2000 < 300 {
		return 3
	}
	return 0.05
}

// StoppedFor is a consumer taking drainPerMs records each millisecond but
// nothing in milliseconds (from, to], as a consumer stopped there (auditd
// sent SIGSTOP) would. SimulateConsumer asks it once a millisecond, in
// order; each call to StoppedFor makes a fresh one.
func StoppedFor(drainPerMs float64, from, to int) Consumer {
	ms := 0
	return func(float64) float64 {
		ms++
		if ms > from && ms <= to {
			return 0
		}
		return drainPerMs
	}
}

// Day is a long recording of 10 ms buckets for benchmarks of the tools
// over hours (issue 14: recommend, validate and report over 24 hours
// within 5 s): an idle host making 4 records every 5 s, drained in the next
// bucket, and busyHours in the middle where 30 to 80 records arrive each
// bucket and the consumer takes at most 60. Its counts are consistent
// (queued = drained + what is left), not a simulation of a kernel.
func Day(hours, busyHours float64) *profile.Profile {
	n := int(hours * 360_000)
	p := &profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: "fentry", KernelRelease: "day", HZ: 250,
		DurationNs: int64(n) * 1e7, AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: 8192, BacklogWaitTime: 15000},
		AuditAfter: &profile.AuditStatus{Enabled: 1, BacklogLimit: 8192, BacklogWaitTime: 15000},
		Totals:     profile.Totals{LostByReason: map[string]uint64{}}}
	t := &p.Timeline
	s := t.Dense()
	t.BucketNs, t.StartNs = 1e7, 5e9
	s.Arrivals, s.Events, s.LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
	s.Queued, s.Lost, s.Drained, s.MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	s.Waits, s.WaitNs, s.Producers, s.Delivered = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	busyFrom, busyTo := n/2-int(busyHours*180_000), n/2+int(busyHours*180_000)
	var depth uint64
	tot := &p.Totals
	for i := 0; i < n; i++ {
		var a uint64
		if i%500 == 0 {
			a = 4
		}
		if i >= busyFrom && i < busyTo {
			a = 30 + uint64(i%100)/2
		}
		s.Arrivals[i], s.Queued[i] = int64(a), a
		if a > 0 {
			s.Events[i], s.Producers[i] = 1+a/4, 1
			tot.Events += 1 + a/4
		}
		depth += a
		s.MaxDepth[i] = depth
		tot.MaxDepth = max(tot.MaxDepth, depth)
		d := min(depth, 60)
		s.Drained[i], s.Delivered[i] = d, d
		depth -= d
		tot.Records += a
		tot.Queued += a
		tot.Drained += d
	}
	tot.BytesQueued = tot.Queued * 2560
	return p
}
