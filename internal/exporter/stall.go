package exporter

import (
	"fmt"
	"math"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing"
)

// Stall histogram bounds: 10 ms (the timeline's bucket) times powers of
// two, up to 81.92 s, beyond the minute of timeline a snapshot holds (a
// stall is measured inside it).
const (
	stallMinBound = 10 * time.Millisecond
	stallBounds   = 14
)

// StallBounds returns the stall histogram's upper bounds in seconds.
func StallBounds() []float64 {
	b := make([]float64, stallBounds)
	for k := range b {
		b[k] = (stallMinBound << k).Seconds()
	}
	return b
}

// stallTracker follows the consumer's stalls from one snapshot to the
// next. A snapshot holds a rolling window of the timeline (the last
// minute), so each one is measured afresh (sizing.FindStalls, as
// recommend measures a recording), and the stalls are counted one by one,
// each once, so that the histogram adds up across snapshots and hosts:
//
//   - a stall is counted once it has ended, when the window goes on past
//     it. One that runs to the window's last bucket may go on (or be a
//     kauditd pass that has not ended yet: BPF counts its drain when it
//     ends), so it waits for a later snapshot: a stall that spans two
//     snapshots is counted in the second;
//   - a stall is counted only if it began where the last one counted
//     ended, or later: windows overlap, and one already counted, seen
//     again (or cut short by the window's start sliding past its
//     beginning), is not counted again.
//
// A stall longer than the window, or begun before the window of a
// snapshot that follows a gap (an --interval longer than the window),
// counts with the part the window holds; one wholly in such a gap is not
// seen.
type stallTracker struct {
	bucketNs int64
	// levels[i] is the queue's length by the counts (records queued less
	// records drained) at the start of bucket from+i, over the last window
	// and at its end: where the next window starts inside it, its start
	// depth is known exactly.
	from   int64
	levels []float64
	// end is the bucket after the last stall counted.
	end int64
	// counts per StallBounds (not cumulative; a stall beyond the last
	// bound is only in count), count and the stalls' total length.
	counts [stallBounds]uint64
	count  uint64
	sumNs  int64
}

func newStallTracker() *stallTracker { return &stallTracker{end: math.MinInt64} }

// stallView is what one snapshot exposes of the stalls.
type stallView struct {
	longest float64  // seconds, in the window, one still going included
	counts  []uint64 // cumulative, per StallBounds
	count   uint64
	sum     float64 // seconds
}

// update measures the snapshot's window and counts the stalls that ended
// in it; nil when the snapshot has no per-bucket queue to measure.
func (s *stallTracker) update(p *profile.Profile) (*stallView, error) {
	t := &p.Timeline
	d := t.Dense() // the probe's dense minute: this indexes the series
	if t.BucketNs <= 0 || len(d.Queued) != t.Len() || len(d.Drained) != t.Len() {
		return nil, nil
	}
	if t.BucketNs != s.bucketNs {
		s.bucketNs, s.levels = t.BucketNs, nil
	}
	first := t.StartNs / t.BucketNs
	depth := s.startDepth(p, first)
	stalls, err := sizing.FindStalls(t, depth)
	if err != nil {
		return nil, fmt.Errorf("finding stalls: %w", err)
	}

	s.from = first
	s.levels = append(s.levels[:0], depth)
	for i := range t.Len() {
		s.levels = append(s.levels, math.Max(0, s.levels[i]+float64(d.Queued[i])-float64(d.Drained[i])))
	}

	v := &stallView{}
	for _, st := range stalls {
		v.longest = math.Max(v.longest, time.Duration(int64(st.Buckets)*t.BucketNs).Seconds())
		begin := first + int64(st.First)
		if st.First+st.Buckets >= t.Len() || begin < s.end {
			continue
		}
		s.end = begin + int64(st.Buckets)
		ns := int64(st.Buckets) * t.BucketNs
		s.count++
		s.sumNs += ns
		for k := range s.counts {
			if time.Duration(ns) <= stallMinBound<<k {
				s.counts[k]++
				break
			}
		}
	}
	v.count, v.sum = s.count, time.Duration(s.sumNs).Seconds()
	v.counts = make([]uint64, stallBounds)
	var cum uint64
	for k, n := range s.counts {
		cum += n
		v.counts[k] = cum
	}
	return v, nil
}

// startDepth is the queue's length by the counts at the start of bucket
// first, the window's, which the drain reconstruction starts from (see
// sizing.FindStalls): from the last window, where it covered that bucket;
// else (the first snapshot, or an --interval longer than the window) from
// the totals: the length before the recording plus what was queued and
// not drained before the window. The totals run a little past the
// window's end (the buckets not yet complete), so that is off by those
// buckets' records.
func (s *stallTracker) startDepth(p *profile.Profile, first int64) float64 {
	if i := first - s.from; s.levels != nil && i >= 0 && i < int64(len(s.levels)) {
		return s.levels[i]
	}
	t := p.Timeline.Dense() // the probe's dense minute: this indexes the series
	d := float64(p.Totals.Queued) - float64(p.Totals.Drained)
	if p.AuditBefore != nil {
		d += float64(p.AuditBefore.Backlog)
	}
	for i := range t.Queued {
		d -= float64(t.Queued[i]) - float64(t.Drained[i])
	}
	return math.Max(0, d)
}
