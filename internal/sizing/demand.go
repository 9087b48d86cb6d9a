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
	"math/bits"
	"slices"
	"sort"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// ErrTooLittle is returned (wrapped) when a profile cannot support a
// decision: too short, no records, or no timeline (netlink mode).
var ErrTooLittle = errors.New("the profile holds too little to decide")

// Minimums for a decision.
const (
	minDuration = 1e9 // ns of timeline
	minRecords  = 100
	// minBusyBuckets is how many saturated buckets (records from before
	// the bucket still queued at its end) it takes to trust a measured
	// drain rate.
	minBusyBuckets = 5
)

// Demand is what producers asked of the audit queue, bucket by bucket,
// reconstructed from a profile so that it does not depend on the limit in
// force while it was recorded.
type Demand struct {
	BucketNs int64
	// Buckets is how many buckets the demand spans; 0 means
	// len(Records) (a dense demand, as tests build them). See Len.
	Buckets int
	// Spans says which buckets Records, Burst, Capacity, Measured and
	// Episode hold entries for, when not every one; then those series are
	// indexed by entry, not by bucket (Dense gives a demand indexed by
	// bucket, as a test or a chart wants it). A bucket outside every
	// span is idle (no demand, no burst, Capacity IdleCapacity, Measured
	// IdleMeasured, no episode). nil: an entry for every bucket. A day of
	// 10 ms buckets is 8.6 million of them and every dense series costs
	// 69 MB, while a real day is mostly quiet (issue 14).
	Spans []Span
	// IdleCapacity and IdleMeasured are Capacity and Measured in the idle
	// buckets (outside Spans).
	IdleCapacity float64
	IdleMeasured bool
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
	// overload episodes (or, without any, where it was saturated: records
	// from before a bucket still queued at its end).
	DrainRate float64
	// Capacity per bucket is what the consumer can take in it: what it did
	// take where it was saturated (overload episodes, the queue non-empty
	// throughout); elsewhere the pace DrainByLoad gives the bucket's load,
	// never below DrainRate, or what it did take when that was more.
	Capacity []float64
	// Pace is, over the recording's longest stall (from its bucket
	// PaceFrom), what the consumer's pace at each bucket's load gives it
	// (DrainByLoad, never below DrainRate), or what it did take when that
	// was more: Capacity before saturated buckets take what the consumer
	// took. That stall replayed at the consumer's pace (healStall) takes
	// this. Only there: a series over the whole recording would cost 69 MB
	// a day of 10 ms buckets for the few it is read at (issue 14).
	Pace     []float64
	PaceFrom int
	// Measured marks the buckets whose Capacity was measured: in an
	// overload episode, with the queue non-empty, or at a load level
	// measured elsewhere. Elsewhere it is inferred from heavier load.
	Measured []bool
	// Episode marks the buckets of overload episodes, where Capacity is
	// what the consumer took.
	Episode []bool
	// BestDrainRate is the consumer's busiest second, records per second:
	// what it has shown it can take. Where the queue emptied its
	// capacity is unobserved (it had less to take than it could), and
	// lies somewhere between DrainRate and about this.
	BestDrainRate float64
	// DrainByLoad is the consumer's rate measured at each load level
	// where it was saturated (the queue non-empty at both ends of a
	// bucket), lightest load first. Outside overload episodes a bucket's
	// capacity is the rate at its own load level, or the nearest heavier
	// one measured (never below DrainRate): a consumer that competes with
	// the producers for CPU drains faster while they pause, and a replay
	// that gave it only DrainRate then would carry a burst's backlog into
	// the next burst that the consumer had long cleared.
	DrainByLoad []LoadDrain
	// BusyBuckets is how many buckets DrainRate was measured over, and
	// DrainSource which: "full" (overload episodes: the queue at its
	// limit, records lost or waiting), "non-empty" (saturated buckets:
	// records from before the bucket still queued at its end), or
	// "fastest" (too few of those: the fastest bucket seen, a lower bound
	// on what the consumer can take).
	BusyBuckets int
	DrainSource string
	// StartDepth is the queue length when the recording began.
	StartDepth float64
	// Moves is kauditd giving up on a stopped consumer, where the
	// recorded kernel's kauditd does (profile.KauditdSendTimeoutNs): a
	// replayed stall long enough has kauditd move audit_queue to its retry
	// and hold queues, which the replay credits (see Moves). Zero: none.
	Moves Moves
	// stalls are the recording's own (FindStalls), found once here for
	// the pace (paceAsideRow), recommend's summary and healStall.
	stalls []Stall
	// stall is the stall withStall placed: its first bucket and the one
	// after its last (both 0 for none).
	stallStart, stallEnd int
	// AddedSuppressed and AddedBlocked are the records added to the
	// recorded arrivals by the two reconstructions, in total.
	AddedSuppressed float64
	AddedBlocked    float64
	// ProducersAt is how many tasks made records in each bucket
	// (timeline.producers), nil where the profile does not have it: the
	// buckets where it is not 0, in order (none elsewhere), since the
	// series a value per bucket would be 69 MB a day of 10 ms buckets
	// (issue 14). It bounds how many records can sleep in the backlog wait
	// at a time: a producer asleep makes no more until it is let in (see
	// replayWait).
	ProducersAt []ProducerCount
	// Producers stands in for ProducersAt where the profile lacks it:
	// the processes that waited in the backlog wait if any did, otherwise
	// the effective number of processes by their share of records (the
	// inverse Simpson index: two processes with equal shares count 2).
	// Processes that ran one after the other count as if side by side,
	// and threads of one process as one.
	Producers float64
}

// ProducerCount is how many tasks made records in one bucket.
type ProducerCount struct {
	Bucket int
	Tasks  uint64
}

// Span is a run of buckets a Demand keeps entries for: buckets [First,
// First+Len) are entries [Off, Off+Len) of its per-bucket series.
type Span struct {
	First, Off, Len int
}

// minIdleRun is the shortest run of idle buckets a Demand keeps no
// entries for. Shorter runs are kept: between the buckets of a burst the
// savings would not pay for a span's bookkeeping.
var minIdleRun = 64

// appendSpan adds buckets [first, end) to spans (in order, no Off),
// joined with the last where they touch or overlap; an empty range adds
// nothing.
func appendSpan(spans []Span, first, end int) []Span {
	if first >= end {
		return spans
	}
	if k := len(spans) - 1; k >= 0 && spans[k].First+spans[k].Len >= first {
		spans[k].Len = max(spans[k].Len, end-spans[k].First)
		return spans
	}
	return append(spans, Span{First: first, Len: end - first})
}

// TotalRecords is the demand over every bucket: Records summed, whether
// indexed by entry or by bucket (an idle bucket has none). Outside this
// package the series are read through this or Dense, never indexed: with
// Spans set, Records[i] is not bucket i.
func (d *Demand) TotalRecords() float64 {
	total := 0.0
	for _, v := range d.Records {
		total += v
	}
	return total
}

// Len is how many buckets the demand spans.
func (d *Demand) Len() int {
	if d.Buckets > 0 || d.Spans != nil {
		return d.Buckets
	}
	return len(d.Records)
}

// spans is Spans, or one span over every bucket for a dense demand.
func (d *Demand) spans() []Span {
	if d.Spans != nil {
		return d.Spans
	}
	return []Span{{Len: len(d.Records)}}
}

// Dense is d with an entry for every bucket (d itself when it has): what
// the stall search and a placed stall work on, which index buckets from
// anywhere in the recording.
func (d *Demand) Dense() *Demand {
	if d.Spans == nil {
		return d
	}
	n := d.Len()
	c := *d
	c.Spans, c.Buckets = nil, n
	c.Records, c.Burst = make([]float64, n), make([]float64, n)
	c.Capacity, c.Measured, c.Episode = make([]float64, n), make([]bool, n), make([]bool, n)
	for i := range n {
		c.Capacity[i], c.Measured[i] = d.IdleCapacity, d.IdleMeasured
	}
	for _, sp := range d.Spans {
		copy(c.Records[sp.First:sp.First+sp.Len], d.Records[sp.Off:sp.Off+sp.Len])
		copy(c.Burst[sp.First:sp.First+sp.Len], d.Burst[sp.Off:sp.Off+sp.Len])
		copy(c.Capacity[sp.First:sp.First+sp.Len], d.Capacity[sp.Off:sp.Off+sp.Len])
		copy(c.Measured[sp.First:sp.First+sp.Len], d.Measured[sp.Off:sp.Off+sp.Len])
		copy(c.Episode[sp.First:sp.First+sp.Len], d.Episode[sp.Off:sp.Off+sp.Len])
	}
	return &c
}

// withEntries is d with an entry for every bucket of [from, to) as well
// (in fresh series, which the caller may change): a stall placed or healed
// there changes the capacity of buckets that may be idle.
func (d *Demand) withEntries(from, to int) *Demand {
	n := d.Len()
	from, to = max(from, 0), min(to, n)
	if d.Spans == nil {
		c := d.Dense()
		cc := *c
		cc.Records, cc.Burst = slices.Clone(c.Records), slices.Clone(c.Burst)
		cc.Capacity, cc.Measured, cc.Episode = slices.Clone(c.Capacity), slices.Clone(c.Measured), slices.Clone(c.Episode)
		return &cc
	}
	// The spans with [from, to) added, joined where they touch.
	var spans []Span
	add := func(first, end int) { spans = appendSpan(spans, first, end) }
	added := false
	for _, sp := range d.Spans {
		if !added && from <= sp.First {
			add(from, to)
			added = true
		}
		add(sp.First, sp.First+sp.Len)
	}
	if !added {
		add(from, to)
	}
	entries := 0
	for k := range spans {
		spans[k].Off = entries
		entries += spans[k].Len
	}
	c := *d
	c.Spans = spans
	c.Records, c.Burst = make([]float64, entries), make([]float64, entries)
	c.Capacity, c.Measured, c.Episode = make([]float64, entries), make([]bool, entries), make([]bool, entries)
	old := entryCursor{spans: d.Spans}
	for _, sp := range spans {
		for i := sp.First; i < sp.First+sp.Len; i++ {
			e := sp.Off + i - sp.First
			if old.bucket(n) != i {
				c.Capacity[e], c.Measured[e] = d.IdleCapacity, d.IdleMeasured
				continue
			}
			o := old.entry()
			c.Records[e], c.Burst[e], c.Capacity[e], c.Measured[e], c.Episode[e] = d.Records[o], d.Burst[o], d.Capacity[o], d.Measured[o], d.Episode[o]
			old.next()
		}
	}
	return &c
}

// entry is the index of bucket i's entry in d's series; i must have one.
func (d *Demand) entry(i int) int {
	if d.Spans == nil {
		return i
	}
	k := sort.Search(len(d.Spans), func(k int) bool { return d.Spans[k].First+d.Spans[k].Len > i })
	return d.Spans[k].Off + i - d.Spans[k].First
}

// paceAsideRow says whether the consumer's pace is not measured in bucket
// i, from its row (delivered: whether the timeline carries Delivered):
// the recording's longest stall, which a stall sized for stands for
// (healStall), and, where the timeline has what reached auditd
// (Delivered), the buckets in which kauditd drained audit_queue into its
// retry queue or sent its retry and hold queues (drained and delivered
// differ): that is kauditd working round a stopped auditd, not the
// consumer's pace. Shorter stalls stay in: a consumer that takes a record
// every other bucket is that slow.
func paceAsideRow(row *profile.Bucket, delivered bool, longest Stall, i int) bool {
	if i >= longest.First && i < longest.First+longest.Buckets {
		return true
	}
	if !delivered {
		return false
	}
	dr, dl := float64(row.Drained), float64(row.Delivered)
	// A record dequeued at a bucket's end may reach the socket in the
	// next: a little slack.
	return math.Abs(dr-dl) > 1+0.05*max(dr, dl)
}

// bitset holds a flag per bucket in a bit: a day of 10 ms buckets in
// 1 MB, where a []bool takes 8.6 MB (issue 14).
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }

// words calls f with each word of bits [from, to) and the mask of the
// bits of the range in it, in order: a run of buckets a word at a time.
func words(from, to int, f func(w int, mask uint64)) {
	for from < to {
		w, lo := from>>6, from&63
		hi := min(to-w<<6, 64) // the range is bits [lo, hi) of word w
		f(w, ^uint64(0)>>(64-(hi-lo))<<lo)
		from = w<<6 + hi
	}
}

// setRange sets the bits of [from, to).
func (b bitset) setRange(from, to int) {
	words(from, to, func(w int, mask uint64) { b[w] |= mask })
}

// next is the first bit at or after i that is v, n if none before n.
func (b bitset) next(i, n int, v bool) int {
	for i < n {
		w := i >> 6
		x := b[w]
		if !v {
			x = ^x
		}
		if x >>= i & 63; x != 0 {
			return min(i+bits.TrailingZeros64(x), n)
		}
		i = (w + 1) << 6
	}
	return n
}

// eachBucket walks buckets [0, n) in order: bucket(i) for each that has
// a row or a drain held (dr.spans, which hold the rows' buckets too), and
// run(from, to) for each run of buckets between them, which have neither:
// no row, and exactly 0 drained (anchoredDrain). A day of 10 ms buckets
// is 8.6 million of them and a quiet one has a row every few seconds
// (issue 14): its callers do for a run in one step what a bucket at a
// time would do.
func eachBucket(n int, rows []profile.Bucket, dr *drain, bucket func(i int), run func(from, to int)) {
	r, k := 0, 0
	for i := 0; i < n; {
		for r < len(rows) && int(rows[r].Index) < i {
			r++
		}
		for k < len(dr.spans) && dr.spans[k].First+dr.spans[k].Len <= i {
			k++
		}
		next := n
		if r < len(rows) {
			next = min(next, int(rows[r].Index))
		}
		if k < len(dr.spans) {
			next = min(next, max(dr.spans[k].First, i))
		}
		if next > i {
			run(i, next)
			i = next
			continue
		}
		bucket(i)
		i++
	}
}

// overlap is how many buckets of [from, to) are in st.
func overlap(from, to int, st Stall) int {
	return max(0, min(to, st.First+st.Buckets)-max(from, st.First))
}

// longestStall is the recording's longest stall, the earliest of equals
// (as summarizeStalls picks it); zero for none.
func (d *Demand) longestStall() Stall {
	var longest Stall
	for _, st := range d.stalls {
		if st.Buckets > longest.Buckets {
			longest = st
		}
	}
	return longest
}

// Reconstruct builds the demand of a profile, or says why it cannot.
func Reconstruct(p *profile.Profile) (*Demand, error) {
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
	step := func(i int) {
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
	// A run without rows or drain: its first bucket is as any, and the
	// rest repeat it. Nothing arrives, drains or bursts there, so the
	// level stays as the first left it, and so does whether the queue was
	// saturated (prev and level both that level). Their drain, 0, adds
	// nothing to busyDrained nor to fastest, which are not negative.
	// runsPaced counts the saturated buckets of such runs, but where the
	// pace is set aside (the longest stall's), for drainByLoad below.
	runsPaced := 0
	eachBucket(n, rows, drain, step, func(from, to int) {
		step(from)
		if busy.has(from) && !aside(&noRow, from) {
			runsPaced++
		}
		if prev > 0 {
			busy.setRange(from+1, to)
			paced := to - from - 1 - overlap(from+1, to, longest)
			d.BusyBuckets += paced
			runsPaced += paced
		}
	})
	dc = drainCursor{d: drain}
	fullDrained, fullBuckets, episode := overloadDrain(n, dc.at, fullRows(rows))
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
	// Paced: saturated, and not where the pace is set aside. In a run
	// without rows or drain, a paced bucket has no arrivals and drained
	// 0: it counts at the lightest level and adds nothing to its drain
	// (runsPaced of them).
	rc, dc = rowCursor{rows: rows}, drainCursor{d: drain}
	var loads loadDrains
	eachBucket(n, rows, drain, func(i int) {
		if row := rc.at(i); busy.has(i) && !aside(row, i) {
			loads.add(row.Arrivals, dc.at(i))
		}
	}, func(from, to int) {})
	loads.buckets[0] += runsPaced
	d.DrainByLoad = loads.levels(bucketSec)
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
	// unsaturated is what the demand holds for a bucket with this row and
	// drain where the consumer was not saturated (its burst aside): its
	// records are arrivals + suppressed + blocked, the records added for
	// lost events and for producers asleep in the wait.
	unsaturated := func(row *profile.Bucket, dr float64) (arrivals, suppressed, blocked, capacity float64, measured bool) {
		rate, measured := capacityAt(d.DrainByLoad, uint64(max(row.Arrivals, 0)), d.DrainRate)
		capacity = max(rate*bucketSec, dr)
		arrivals = float64(max(row.Arrivals, 0))
		suppressed = float64(row.LostEvents) * (d.RecordsPerLostEvent - 1)
		if row.WaitNs > 0 {
			f := min(0.9, float64(row.WaitNs)/(float64(t.BucketNs)*float64(producers)))
			blocked = arrivals * f / (1 - f)
		}
		return arrivals, suppressed, blocked, capacity, measured
	}
	// bucket is what the demand holds for bucket i (its burst aside).
	bucket := func(i int) (arrivals, suppressed, blocked, capacity float64, measured, ep bool) {
		dr := dc.at(i)
		arrivals, suppressed, blocked, capacity, measured = unsaturated(rc.at(i), dr)
		if k := i - d.PaceFrom; k >= 0 && k < len(d.Pace) {
			d.Pace[k] = capacity
		}
		// Saturated (an overload episode, or the queue non-empty
		// throughout): what the consumer took is what it could take.
		ep = episode.has(i)
		if ep || busy.has(i) {
			capacity, measured = dr, true
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
	// A bucket without a row or drain holds these where the consumer
	// was not saturated; where it was, no records and a capacity of 0
	// measured, which is not idle. Its suppressed and blocked are 0 (0
	// times a number), and adding 0 changes no total, which cannot be
	// -0: a run is added only if they are not.
	ga, gs, gb, gc, gm := unsaturated(&noRow, 0)
	quiet := ga+gs+gb == 0 && gc == d.IdleCapacity && gm == d.IdleMeasured
	eachBucket(n, rows, drain, func(i int) {
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
	}, func(from, to int) {
		if gs != 0 || gb != 0 {
			for range to - from {
				d.AddedSuppressed += gs
				d.AddedBlocked += gb
			}
		}
		for k := max(from, d.PaceFrom); k < min(to, d.PaceFrom+len(d.Pace)); k++ {
			d.Pace[k-d.PaceFrom] = gc
		}
		if quiet {
			words(from, to, func(w int, mask uint64) { idle[w] |= mask &^ (episode[w] | busy[w]) })
		}
	})
	var spans []Span
	entries := 0
	for i := 0; i < n; {
		j := idle.next(i+1, n, !idle.has(i))
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

// effectiveProducers is the inverse Simpson index of the processes'
// shares of records, at least 1.
func effectiveProducers(procs []profile.Process) float64 {
	var sum, sq float64
	for _, pr := range procs {
		r := float64(pr.Records)
		sum += r
		sq += r * r
	}
	if sq == 0 {
		return 1
	}
	return max(1, sum*sum/sq)
}

// LoadDrain is the consumer's rate at one load level: over the buckets in
// which it was saturated and arrivals were within
// [MinArrivals, MaxArrivals] records.
type LoadDrain struct {
	MinArrivals uint64  `json:"min_arrivals"`
	MaxArrivals uint64  `json:"max_arrivals"`
	Rate        float64 `json:"rate"`
	Buckets     int     `json:"buckets"`
}

// minLevelBuckets is how many saturated buckets it takes to trust a load
// level's drain rate: drains are counted per kauditd pass, so one bucket's
// count is lumpy.
const minLevelBuckets = 20

// loadDrains measures the consumer where it was saturated, by load level:
// arrivals per bucket in powers of two (0, 1, 2-3, 4-7, ...). The buckets
// are added in bucket order (add); levels gives the rates, and leaves out
// levels with fewer than minLevelBuckets buckets.
type loadDrains struct {
	drained [65]float64
	buckets [65]int
}

// add counts a saturated bucket with its arrivals and drain.
func (ld *loadDrains) add(arrivals int64, drained float64) {
	l := bits.Len64(uint64(max(arrivals, 0)))
	ld.drained[l] += drained
	ld.buckets[l]++
}

func (ld *loadDrains) levels(bucketSec float64) []LoadDrain {
	drained, buckets := &ld.drained, &ld.buckets
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

// capacityAt is the consumer's rate, records per second, for a bucket
// with the given arrivals outside overload episodes: the rate measured at
// that load level or, unmeasured, at the nearest heavier level measured
// (heavier load leaves the consumer less CPU, so this errs low), and
// floor when there is none or it is less. measured says whether the
// bucket's own level was measured.
func capacityAt(levels []LoadDrain, arrivals uint64, floor float64) (rate float64, measured bool) {
	for _, l := range levels {
		if l.MaxArrivals >= arrivals {
			return max(floor, l.Rate), l.MinArrivals <= arrivals
		}
	}
	return floor, false
}

// busiestSecond is the largest count over any one-second window of
// buckets, as a rate per second (the whole series' rate when it is
// shorter than a second).
func busiestSecond[T uint64 | float64](counts []T, bucketNs int64) float64 {
	per := int(max(1, math.Round(1e9/float64(bucketNs))))
	var window, best float64
	for i, v := range counts {
		window += float64(v)
		if i >= per {
			window -= float64(counts[i-per])
		}
		best = max(best, window)
	}
	return best / (float64(min(per, max(len(counts), 1))) * float64(bucketNs) / 1e9)
}

// busiestSecondSpans is busiestSecond of a series of n buckets whose
// values are held only in spans (vals[Off:Off+Len] for buckets
// [First, First+Len)), zero elsewhere: the same sums in the same order,
// less the zeros (adding or taking away 0 changes no sum, and a window
// that does not change does not change the best).
func busiestSecondSpans(vals []float64, spans []Span, n int, bucketNs int64) float64 {
	per := int(max(1, math.Round(1e9/float64(bucketNs))))
	in, out := entryCursor{spans: spans}, entryCursor{spans: spans} // entering the window, leaving it
	var window, best float64
	for {
		ia, io := in.bucket(n), out.bucket(n)+per
		i := min(ia, io)
		if i >= n {
			break
		}
		if ia == i {
			window += vals[in.entry()]
			in.next()
		}
		if io == i {
			window -= vals[out.entry()]
			out.next()
		}
		best = max(best, window)
	}
	return best / (float64(min(per, max(n, 1))) * float64(bucketNs) / 1e9)
}

// entryCursor walks the buckets spans hold entries for, in order.
type entryCursor struct {
	spans []Span
	k, i  int // bucket spans[k].First+i
}

// bucket is the cursor's bucket, n past the last.
func (c *entryCursor) bucket(n int) int {
	for c.k < len(c.spans) && c.i >= c.spans[c.k].Len {
		c.k, c.i = c.k+1, 0
	}
	if c.k == len(c.spans) {
		return n
	}
	return c.spans[c.k].First + c.i
}

// entry is the index of the cursor's bucket in the demand's series.
func (c *entryCursor) entry() int { return c.spans[c.k].Off + c.i }

func (c *entryCursor) next() { c.i++ }

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
//
// nextFull(i) is the first bucket at the limit at or after i (n or more
// for none), for i never less than the one asked before: the buckets at
// the limit are a few rows among millions of buckets (issue 14).
func overloadDrain(n int, drainedBy func(int) float64, nextFull func(int) int) (drained float64, buckets int, episode bitset) {
	episode = newBitset(n)
	for i := nextFull(0); i < n; i = nextFull(i) {
		end := i // last bucket at the limit in this episode
		for j := nextFull(end + 1); j < n && j <= end+episodeGap; j = nextFull(end + 1) {
			end = j
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

// fullRows is overloadDrain's nextFull over a timeline's rows: the
// buckets at the limit are those where records were lost or waited.
func fullRows(rows []profile.Bucket) func(int) int {
	r := 0
	return func(i int) int {
		for r < len(rows) && (int(rows[r].Index) < i || rows[r].Lost == 0 && rows[r].Waits == 0) {
			r++
		}
		if r == len(rows) {
			return math.MaxInt
		}
		return int(rows[r].Index)
	}
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
