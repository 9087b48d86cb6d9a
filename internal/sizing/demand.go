// Package sizing turns a recorded profile into a backlog_limit: it
// reconstructs the demand the audit queue saw, replays it through the
// kernel's queue semantics for any (backlog_limit, backlog_wait_time), and
// finds the smallest limit that loses nothing.
//
// Data flows one way: profile -> Demand -> Replay -> Recommendation.
package sizing

import (
	"errors"
	"fmt"
	"math"

	"github.com/auditprof/auditprof/internal/profile"
)

// ErrTooLittle is returned (wrapped) when a profile cannot support a
// decision: too short, no records, or no timeline (netlink mode).
var ErrTooLittle = errors.New("the profile holds too little to decide")

// Minimums for a decision.
const (
	minDuration = 1e9 // ns of timeline
	minRecords  = 100
	// minBusyBuckets is how many buckets with the queue non-empty at both
	// ends it takes to trust a measured drain rate.
	minBusyBuckets = 5
)

// Demand is what producers asked of the audit queue, bucket by bucket,
// reconstructed from a profile so that it does not depend on the limit in
// force while it was recorded.
type Demand struct {
	BucketNs int64
	// Records per bucket: the records started (lost or not), plus the
	// records of events whose SYSCALL record was lost (audit_log_exit
	// gives up on the event, so they were never started), plus what
	// producers would have started while they slept in the backlog wait.
	Records []float64
	// Burst per bucket: how far the measured depth rose above the levels
	// at the bucket's ends (arrivals within a bucket come in bursts; a
	// per-bucket replay would not see them).
	Burst []float64
	// RecordsPerLostEvent is how many records of demand one lost SYSCALL
	// record stands for (its event's records), learned per rule from the
	// events that were not lost.
	RecordsPerLostEvent float64
	// DemandPerLost is how many records of demand the kernel's lost
	// counter moved by one for: RecordsPerLostEvent for a lost SYSCALL
	// record, 1 for a record lost later in its event, in the mix the
	// recording saw (RecordsPerLostEvent when it lost nothing). A replay
	// counts one lost record per this much demand dropped.
	DemandPerLost float64
	// DrainRate is the consumer's rate, records per second, measured over
	// overload episodes (or, without any, while the queue stayed
	// non-empty).
	DrainRate float64
	// Capacity per bucket is what the consumer can take in it: what it did
	// take during overload episodes (its own pace, which comes in bursts:
	// auditd descheduled, kauditd blocked on a full socket); elsewhere
	// DrainRate, or what it did take when that was more (a consumer that
	// competes with the load for CPU is faster when the load is lighter).
	Capacity []float64
	// Episode marks the buckets of overload episodes, where Capacity is
	// what the consumer took.
	Episode []bool
	// BestDrainRate is the consumer's busiest second, records per second:
	// what it has shown it can take. Outside overload episodes its
	// capacity is unobserved (it had less to take than it could), and
	// lies somewhere between DrainRate and about this.
	BestDrainRate float64
	// BusyBuckets is how many buckets DrainRate was measured over, and
	// DrainSource which: "full" (overload episodes: the queue at its
	// limit, records lost or waiting), "non-empty" (the queue stayed non-empty), or "fastest"
	// (it never stayed non-empty long enough: the fastest bucket seen, a
	// lower bound on what the consumer can take).
	BusyBuckets int
	DrainSource string
	// StartDepth is the queue length when the recording began.
	StartDepth float64
	// AddedSuppressed and AddedBlocked are the records added to the
	// recorded arrivals by the two reconstructions, in total.
	AddedSuppressed float64
	AddedBlocked    float64
}

// Reconstruct builds the demand of a profile, or says why it cannot.
func Reconstruct(p *profile.Profile) (*Demand, error) {
	t := &p.Timeline
	n := t.Len()
	if p.Attach == profile.AttachNetlink {
		return nil, fmt.Errorf("%w: it was recorded over netlink, which has no per-bucket queue timeline; record where BPF can attach", ErrTooLittle)
	}
	if t.BucketNs <= 0 || float64(n)*float64(t.BucketNs) < minDuration {
		return nil, fmt.Errorf("%w: %d ms of timeline, need at least %d ms; record longer, under the load to size for",
			ErrTooLittle, int64(n)*max(t.BucketNs, 0)/1e6, int64(minDuration/1e6))
	}
	if p.Totals.Records < minRecords {
		return nil, fmt.Errorf("%w: %d records, need at least %d; record while the audited load runs",
			ErrTooLittle, p.Totals.Records, minRecords)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}

	d := &Demand{BucketNs: t.BucketNs, Records: make([]float64, n), Burst: make([]float64, n)}
	bucketSec := float64(t.BucketNs) / 1e9
	d.RecordsPerLostEvent = recordsPerLostEvent(p)
	d.DemandPerLost = d.RecordsPerLostEvent
	if tot := p.Totals; tot.Lost > 0 && tot.LostEvents <= tot.Lost {
		d.DemandPerLost = (float64(tot.LostEvents)*d.RecordsPerLostEvent + float64(tot.Lost-tot.LostEvents)) / float64(tot.Lost)
	}

	// Measured queue levels, and the drain rate while the queue stayed
	// non-empty from one bucket end to the next.
	if p.AuditBefore != nil {
		d.StartDepth = float64(p.AuditBefore.Backlog)
	}
	prev := d.StartDepth
	var busyDrained, fastest float64
	full := make([]bool, n)
	for i := 0; i < n; i++ {
		level := math.Max(0, prev+float64(t.Queued[i])-float64(t.Drained[i]))
		// Drains are counted when a kauditd pass ends, which may be a
		// bucket after the records left: the level can then read too
		// high. It cannot be above the depth of the bucket's last
		// enqueue, so not above the bucket's max_depth.
		if t.Queued[i] > 0 && t.MaxDepth[i] > 0 {
			level = math.Min(level, float64(t.MaxDepth[i]))
		}
		dr := float64(t.Drained[i])
		fastest = math.Max(fastest, dr)
		if prev > 0 && level > 0 {
			busyDrained += dr
			d.BusyBuckets++
		}
		full[i] = t.Lost[i] > 0 || t.Waits[i] > 0
		d.Burst[i] = math.Max(0, float64(t.MaxDepth[i])-math.Max(prev, level))
		prev = level
	}
	fullDrained, fullBuckets, episode := overloadDrain(t, full)
	switch {
	case fullBuckets >= minBusyBuckets && fullDrained > 0:
		d.DrainRate = fullDrained / (float64(fullBuckets) * bucketSec)
		d.DrainSource, d.BusyBuckets = "full", fullBuckets
	case d.BusyBuckets >= minBusyBuckets && busyDrained > 0:
		d.DrainRate = busyDrained / (float64(d.BusyBuckets) * bucketSec)
		d.DrainSource = "non-empty"
	default:
		d.DrainRate = fastest / bucketSec
		d.DrainSource = "fastest"
	}

	d.Episode = episode
	d.BestDrainRate = busiestSecond(t.Drained, t.BucketNs)
	d.Capacity = make([]float64, n)
	for i := range d.Capacity {
		d.Capacity[i] = math.Max(d.DrainRate*bucketSec, float64(t.Drained[i]))
		if episode[i] {
			d.Capacity[i] = float64(t.Drained[i])
		}
	}

	// Producers blocked in the backlog wait did not start the records they
	// would have started meanwhile. Estimate them from each bucket's own
	// rate: a fraction f of the producers' time blocked means the recorded
	// arrivals are (1-f) of the demand. Producers are counted as the
	// processes that waited (threads of one process count as one, so f,
	// and the demand added, err high).
	producers := 0
	for _, pr := range p.Processes {
		if pr.Waits > 0 {
			producers++
		}
	}
	producers = max(producers, 1)
	for i := 0; i < n; i++ {
		a := float64(max(t.Arrivals[i], 0))
		suppressed := float64(lostEvents(t, i)) * (d.RecordsPerLostEvent - 1)
		d.AddedSuppressed += suppressed
		blocked := 0.0
		if i < len(t.WaitNs) && t.WaitNs[i] > 0 {
			f := math.Min(0.9, float64(t.WaitNs[i])/(float64(t.BucketNs)*float64(producers)))
			blocked = a * f / (1 - f)
		}
		d.AddedBlocked += blocked
		d.Records[i] = a + suppressed + blocked
	}
	return d, nil
}

// busiestSecond is the largest count over any one-second window of
// buckets, as a rate per second (the whole series' rate when it is
// shorter than a second).
func busiestSecond[T uint64 | float64](counts []T, bucketNs int64) float64 {
	per := int(math.Max(1, math.Round(1e9/float64(bucketNs))))
	var window, best float64
	for i, v := range counts {
		window += float64(v)
		if i >= per {
			window -= float64(counts[i-per])
		}
		best = math.Max(best, window)
	}
	return best / (float64(min(per, max(len(counts), 1))) * float64(bucketNs) / 1e9)
}

// episodeGap joins buckets at the limit less than this many buckets apart
// into one overload episode.
const episodeGap = 5

// overloadDrain sums what kauditd drained during overload episodes: from a
// bucket in which records were lost or waited (the queue was at its limit)
// to the last such bucket before the queue had room for episodeGap buckets,
// plus one bucket (a drain is counted when kauditd's pass ends). Within an
// episode the consumer had all it could take, so drained over time is its
// capacity. Counting only the buckets at the limit would not do: kauditd
// drains in passes, and the buckets where a pass landed often had room
// again and lost nothing, so they would be left out and the rate read low
// (by 20% and more against auditd in the VM tests).
func overloadDrain(t *profile.Timeline, full []bool) (drained float64, buckets int, episode []bool) {
	n := len(full)
	episode = make([]bool, n)
	for i := 0; i < n; {
		if !full[i] {
			i++
			continue
		}
		end := i // last bucket at the limit in this episode
		for j := i + 1; j < n && j <= end+episodeGap; j++ {
			if full[j] {
				end = j
			}
		}
		last := min(end+1, n-1)
		for k := i; k <= last; k++ {
			drained += float64(t.Drained[k])
			buckets++
			episode[k] = true
		}
		i = last + 1
	}
	return drained, buckets, episode
}

func lostEvents(t *profile.Timeline, i int) uint64 {
	if i < len(t.LostEvents) {
		return t.LostEvents[i]
	}
	return 0
}

// recordsPerLostEvent: each rule's records per event among the events it
// did not lose, weighted by the events it lost. With no event lost, the
// same over all rules (used when a replay drops demand).
func recordsPerLostEvent(p *profile.Profile) float64 {
	var weighted, lost, recs, evs float64
	for _, r := range p.Rules {
		keptEvents := float64(r.Events) - float64(r.LostEvents)
		keptRecords := float64(r.Records) - float64(r.LostEvents)
		if keptEvents <= 0 || keptRecords < keptEvents {
			continue
		}
		rpe := keptRecords / keptEvents
		weighted += rpe * float64(r.LostEvents)
		lost += float64(r.LostEvents)
		recs += keptRecords
		evs += keptEvents
	}
	switch {
	case lost > 0:
		return weighted / lost
	case evs > 0:
		return recs / evs
	}
	return 1
}
