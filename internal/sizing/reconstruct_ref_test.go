package sizing

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// reconstructRef, drainByLoadRef, overloadDrainRef and recommendRef are
// Reconstruct, drainByLoad, overloadDrain and Recommend as they were
// before Reconstruct skipped the runs of empty buckets (issue 14), kept to
// prove the recommendation unchanged to the bit: they visit every bucket.

// reconstructRef builds the demand of a profile, or says why it cannot.
func reconstructRef(p *profile.Profile) (*Demand, error) {
	// The timeline is read from its rows, the buckets where something
	// happened, in bucket order (rowCursor), never densified: a day of
	// 10 ms buckets is 760 MB dense (issue 14).
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

	d := &Demand{BucketNs: t.BucketNs, Buckets: n}
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
	rows, err := t.Rows()
	if err != nil {
		return nil, fmt.Errorf("reading timeline rows: %w", err)
	}
	delivered := t.Carries("delivered")
	drain, err := anchoredDrain(profile.RowSeq(rows), n, d.StartDepth)
	if err != nil {
		return nil, err
	}
	busy := newBitset(n)
	if d.stalls, err = findStalls(t, profile.RowSeq(rows), d.StartDepth, drain); err != nil {
		return nil, err
	}
	longest := d.longestStall()
	aside := func(row *profile.Bucket, i int) bool { return paceAsideRow(row, delivered, longest, i) }
	// The buckets with a burst, and their bursts; Burst keeps entries
	// only for the buckets the demand keeps (below). A burst needs
	// records queued and a depth seen in its bucket (the depth rose above
	// the level at its start): counted first, so that a day's busy hours,
	// a burst in every bucket, are not copied over and over as they grow.
	bursts := 0
	for r := range rows {
		if rows[r].Queued > 0 && rows[r].MaxDepth > 0 {
			bursts++
		}
	}
	burstAt, burstOf := make([]int, 0, bursts), make([]float64, 0, bursts)
	rc, dc := rowCursor{rows: rows}, drainCursor{d: drain}
	for i := 0; i < n; i++ {
		row, dr := rc.at(i), dc.at(i)
		level := max(0, prev+float64(row.Queued)-dr)
		// A pass's spread drain is an average: the level can read too
		// high where the pass went faster. It cannot be above the
		// depth last seen in the bucket, so not above its max_depth.
		if row.MaxDepth > 0 {
			level = min(level, float64(row.MaxDepth))
		}
		if level < 1e-6 { // what spreading a pass leaves in rounding
			level = 0
		}
		if !aside(row, i) {
			fastest = max(fastest, dr)
		}
		// Saturated: records that were queued when the bucket began
		// were still queued at its end (more left than arrived in it).
		// The queue is served in order, so the consumer had work the
		// whole bucket, and what it took is what it could take. A queue
		// merely non-empty at the end may hold a record that arrived a
		// moment before: a healthy consumer's drain is then the load's,
		// not its capacity (6.12, one record per kauditd pass, read 913
		// records/s where it drained 18,000/s after a stall).
		if prev > 0 && level > float64(row.Queued) {
			busy.set(i)
			if !aside(row, i) {
				busyDrained += dr
				d.BusyBuckets++
			}
		}
		// The depth within the bucket cannot pass its start level plus
		// what was queued in it.
		top := min(float64(row.MaxDepth), prev+float64(row.Queued))
		if b := max(0, top-max(prev, level)); b != 0 {
			burstAt, burstOf = append(burstAt, i), append(burstOf, b)
		}
		prev = level
	}
	fc := rowCursor{rows: rows}
	full := func(i int) bool { row := fc.at(i); return row.Lost > 0 || row.Waits > 0 }
	dc = drainCursor{d: drain}
	fullDrained, fullBuckets, episode := overloadDrainRef(n, dc.at, full)
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

	d.Moves = movesFor(time.Duration(p.KauditdSendTimeoutNs), t.BucketNs)
	d.BestDrainRate = busiestSecondSpans(drain.vals, drain.spans, n, t.BucketNs)
	// Paced: saturated, and not where the pace is set aside.
	rc, dc = rowCursor{rows: rows}, drainCursor{d: drain}
	paced := func(i int) bool { return busy.has(i) && !aside(rc.at(i), i) }
	arrivals := func(i int) int64 { return rc.at(i).Arrivals }
	d.DrainByLoad = drainByLoadRef(n, arrivals, dc.at, paced, bucketSec)
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
	d.Producers = float64(producers)
	if producers == 0 {
		d.Producers = effectiveProducers(p.Processes)
	}
	if t.Carries("producers") {
		count := 0
		for r := range rows {
			if rows[r].Producers > 0 {
				count++
			}
		}
		d.ProducersAt = make([]ProducerCount, 0, count) // not nil: the profile has the series
		for r := range rows {
			if rows[r].Producers > 0 {
				d.ProducersAt = append(d.ProducersAt, ProducerCount{Bucket: int(rows[r].Index), Tasks: rows[r].Producers})
			}
		}
	}
	producers = max(producers, 1)

	// An idle bucket (no arrival, no burst, nothing drained, not
	// saturated, not in an episode) has this capacity; the demand keeps no
	// entry for a run of at least minIdleRun of them (Spans).
	idleRate, idleMeasured := capacityAt(d.DrainByLoad, 0, d.DrainRate)
	d.IdleCapacity, d.IdleMeasured = max(idleRate*bucketSec, 0), idleMeasured
	d.Pace, d.PaceFrom = make([]float64, longest.Buckets), longest.First
	// bucket is what the demand holds for bucket i (its burst aside):
	// its records are arrivals + suppressed + blocked, the records added
	// for lost events and for producers asleep in the wait.
	bucket := func(i int) (arrivals, suppressed, blocked, capacity float64, measured, ep bool) {
		row, dr := rc.at(i), dc.at(i)
		rate, measured := capacityAt(d.DrainByLoad, uint64(max(row.Arrivals, 0)), d.DrainRate)
		capacity = max(rate*bucketSec, dr)
		if k := i - d.PaceFrom; k >= 0 && k < len(d.Pace) {
			d.Pace[k] = capacity
		}
		// Saturated (an overload episode, or the queue non-empty
		// throughout): what the consumer took is what it could take.
		ep = episode.has(i)
		if ep || busy.has(i) {
			capacity, measured = dr, true
		}
		arrivals = float64(max(row.Arrivals, 0))
		suppressed = float64(row.LostEvents) * (d.RecordsPerLostEvent - 1)
		if row.WaitNs > 0 {
			f := min(0.9, float64(row.WaitNs)/(float64(t.BucketNs)*float64(producers)))
			blocked = arrivals * f / (1 - f)
		}
		return arrivals, suppressed, blocked, capacity, measured, ep
	}
	// Which buckets are idle, and the totals the reconstructions added
	// (summed in bucket order, as they always were). The entries are
	// then made in a second pass, once their number is known: appended
	// one at a time, a day's would be copied over and over as they grew.
	idle := newBitset(n)
	nextBurst := 0
	rc, dc = rowCursor{rows: rows}, drainCursor{d: drain}
	for i := 0; i < n; i++ {
		a, suppressed, blocked, capacity, measured, ep := bucket(i)
		d.AddedSuppressed += suppressed
		d.AddedBlocked += blocked
		records := a + suppressed + blocked
		burst := false
		if nextBurst < len(burstAt) && burstAt[nextBurst] == i {
			burst = true
			nextBurst++
		}
		if records == 0 && !burst && !ep && !busy.has(i) && capacity == d.IdleCapacity && measured == d.IdleMeasured {
			idle.set(i)
		}
	}
	var spans []Span
	entries := 0
	for i := 0; i < n; {
		j := i + 1
		for j < n && idle.has(j) == idle.has(i) {
			j++
		}
		// Buckets [i, j) are all idle or all not.
		if !idle.has(i) || j-i < minIdleRun {
			if k := len(spans) - 1; k >= 0 && spans[k].First+spans[k].Len == i {
				spans[k].Len += j - i
			} else {
				spans = append(spans, Span{First: i, Off: entries, Len: j - i})
			}
			entries += j - i
		}
		i = j
	}
	d.Records, d.Burst = make([]float64, entries), make([]float64, entries)
	d.Capacity, d.Measured, d.Episode = make([]float64, entries), make([]bool, entries), make([]bool, entries)
	nextBurst = 0
	rc, dc = rowCursor{rows: rows}, drainCursor{d: drain}
	for _, sp := range spans {
		for i := sp.First; i < sp.First+sp.Len; i++ {
			e := sp.Off + i - sp.First
			a, suppressed, blocked, capacity, measured, ep := bucket(i)
			d.Records[e], d.Capacity[e], d.Measured[e], d.Episode[e] = a+suppressed+blocked, capacity, measured, ep
			for nextBurst < len(burstAt) && burstAt[nextBurst] < i {
				nextBurst++
			}
			if nextBurst < len(burstAt) && burstAt[nextBurst] == i {
				d.Burst[e] = burstOf[nextBurst]
			}
		}
	}
	d.Spans = spans
	switch {
	case len(spans) == 1 && spans[0].First == 0 && spans[0].Len == n:
		d.Spans = nil // every bucket kept: dense
	case spans == nil:
		d.Spans = []Span{} // every bucket idle
	}
	return d, nil
}

// drainByLoadRef measures the consumer where it was saturated, by load level:
// arrivals per bucket in powers of two (0, 1, 2-3, 4-7, ...). Levels with
// fewer than minLevelBuckets buckets are left out.
func drainByLoadRef(n int, arrivals func(int) int64, drainedBy func(int) float64, busy func(int) bool, bucketSec float64) []LoadDrain {
	var drained [65]float64
	var buckets [65]int
	for i := range n {
		if busy(i) {
			l := bits.Len64(uint64(max(arrivals(i), 0)))
			drained[l] += drainedBy(i)
			buckets[l]++
		}
	}
	var out []LoadDrain
	for l := range buckets {
		if buckets[l] < minLevelBuckets {
			continue
		}
		ld := LoadDrain{Rate: drained[l] / (float64(buckets[l]) * bucketSec), Buckets: buckets[l]}
		if l > 0 {
			ld.MinArrivals, ld.MaxArrivals = 1<<(l-1), 1<<l-1
		}
		out = append(out, ld)
	}
	return out
}

// overloadDrainRef sums what kauditd drained during overload episodes: from a
// bucket in which records were lost or waited (the queue was at its limit)
// to the last such bucket before the queue had room for episodeGap buckets,
// plus one bucket (a drain is counted when kauditd's pass ends). Within an
// episode the consumer had all it could take, so drained over time is its
// capacity. Counting only the buckets at the limit would not do: kauditd
// drains in passes, and the buckets where a pass landed often had room
// again and lost nothing, so they would be left out and the rate read low
// (by 20% and more against auditd in the VM tests).
func overloadDrainRef(n int, drainedBy func(int) float64, full func(int) bool) (drained float64, buckets int, episode bitset) {
	episode = newBitset(n)
	for i := 0; i < n; {
		if !full(i) {
			i++
			continue
		}
		end := i // last bucket at the limit in this episode
		for j := i + 1; j < n && j <= end+episodeGap; j++ {
			if full(j) {
				end = j
			}
		}
		last := min(end+1, n-1)
		for k := i; k <= last; k++ {
			drained += drainedBy(k)
			buckets++
			episode.set(k)
		}
		i = last + 1
	}
	return drained, buckets, episode
}

// recommendRef is Recommend on the demand the code before built
// (reconstructRef).
func recommendRef(p *profile.Profile, opts Options) (*Recommendation, error) {
	if opts.Headroom != 0 && opts.Headroom < 1 || math.IsNaN(opts.Headroom) || math.IsInf(opts.Headroom, 0) {
		return nil, fmt.Errorf("headroom must be at least 1, not %v", opts.Headroom)
	}
	d, err := reconstructRef(p)
	if err != nil {
		return nil, err
	}
	return recommendFrom(p, d, opts)
}
