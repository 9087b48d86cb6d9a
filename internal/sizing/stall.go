package sizing

import (
	"fmt"
	"iter"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// Stalls is what a recording shows of its consumer stopping (see
// profile.Stalls, which a profile carries for its readers).
type Stalls = profile.Stalls

// StallBin is one bin of Stalls.Histogram.
type StallBin = profile.StallBin

// Stall is one stall: the bucket it began in and how many it lasted.
type Stall struct {
	First, Buckets int
}

// MeasureStalls finds the stalls of a recording. It fails if the
// timeline's rows cannot be read (a journal's, read again from its file).
func MeasureStalls(p *profile.Profile) (Stalls, error) {
	var start float64
	if p.AuditBefore != nil {
		start = float64(p.AuditBefore.Backlog)
	}
	stalls, err := FindStalls(&p.Timeline, start)
	if err != nil {
		return Stalls{}, err
	}
	return summarizeStalls(stalls, p.Timeline.BucketNs), nil
}

// FindStalls lists the stalls of a timeline that began with startDepth
// records queued, in order; a stall still going at its end is the last.
// MeasureStalls sums them up for a recording; the exporter, which sees a
// rolling window of the timeline, counts them one by one.
//
// Where the timeline has what kauditd put on auditd's socket (Delivered),
// that is what the consumer took: a bucket with records queued and nothing
// delivered is stalled. drained would count kauditd's moves to its retry
// queue, which it makes whenever a send to a stopped auditd times out
// (HZ/10): a 2 s SIGSTOP read as stalls of 0.6 s to 1.1 s (TestStall).
// Without it, the drain the replay uses stands in.
func FindStalls(t *profile.Timeline, startDepth float64) ([]Stall, error) {
	return findStalls(t, t.All(), startDepth, nil)
}

// findStalls is FindStalls over t's rows (Timeline.All, or the rows
// Reconstruct holds: profile.RowSeq); drained, when not nil, is the timeline's
// anchored drain (anchoredDrain), which Reconstruct has at hand: without
// Delivered it stands in for what the consumer took. A bucket without a
// row has nothing queued and nothing taken, so it ends a stall, or, by
// delivered, carries one on.
//
// The rows are read in order, once (four times more for the drain), not
// held: at record's stop they come from the journal's file (issue 14).
func findStalls(t *profile.Timeline, rows iter.Seq2[*profile.Bucket, error], startDepth float64, drained *drain) ([]Stall, error) {
	if !t.Carries("queued") || !t.Carries("drained") {
		return nil, nil
	}
	n := t.Len()
	delivered := t.Carries("delivered")
	if !delivered && drained == nil {
		var err error
		if drained, err = anchoredDrain(rows, n, startDepth); err != nil {
			return nil, err
		}
	}
	var dc *drainCursor
	if drained != nil {
		dc = &drainCursor{d: drained}
	}
	var out []Stall
	emit := func(st Stall) { out = append(out, st) }
	s := stallScan{delivered: delivered}
	for row, err := range rows {
		if err != nil {
			return nil, fmt.Errorf("reading timeline rows: %w", err)
		}
		s.row(row, dc, emit)
	}
	s.finish(n, emit)
	return out, nil
}

// stallScan is findStalls' walk over the rows, in order: its state after
// a row is all it needs to go on from there (StallTracker).
type stallScan struct {
	delivered bool // the timeline carries delivered
	run       int  // the buckets of the stall going on
	next      int  // the bucket after the last row
}

// row steps over the buckets without a row before r, then r; dc is the
// anchored drain where the timeline has no delivered. A stall that ends
// goes to emit.
func (s *stallScan) row(r *profile.Bucket, dc *drainCursor, emit func(Stall)) {
	i := int(r.Index)
	s.gap(s.next, i, emit)
	s.next = i + 1
	queued := r.MaxDepth > 0 || r.Queued > 0
	if s.delivered && s.run > 0 {
		queued = true
	}
	took := r.Delivered > 0
	if !s.delivered {
		took = dc.at(i) >= 0.5
	}
	if queued && !took {
		s.run++
		return
	}
	if s.run > 0 {
		emit(Stall{First: i - s.run, Buckets: s.run})
	}
	s.run = 0
}

// gap steps over the buckets [from, to) without a row.
func (s *stallScan) gap(from, to int, emit func(Stall)) {
	if from >= to {
		return
	}
	// By delivered, a stall goes on through a bucket that saw no
	// arrival and no kauditd pass (so no depth either) until the
	// consumer takes a record: what waits for it is still there, in
	// audit_queue or in kauditd's retry queue.
	if s.delivered && s.run > 0 {
		s.run += to - from
		return
	}
	if s.run > 0 {
		emit(Stall{First: from - s.run, Buckets: s.run})
	}
	s.run = 0
}

// finish steps over the buckets after the last row up to n and emits a
// stall still going at the end. It changes the scan: a scan to go on
// from is finished as a copy.
func (s *stallScan) finish(n int, emit func(Stall)) {
	s.gap(s.next, n, emit)
	if s.run > 0 {
		emit(Stall{First: n - s.run, Buckets: s.run})
	}
}

// StallTracker is MeasureStalls for a recording that grows, measured
// again at each of record's checkpoints (issue 14: a checkpoint's cost
// must not grow with the recording). Where the timeline carries
// delivered, a stall is found by a walk over the rows in order whose
// state is a few counters: the tracker keeps it, and the stalls' sums,
// at the last row, and a checkpoint walks only the rows added since.
// Where it does not, the anchored drain that stands in for delivered is
// built over the whole timeline (it spreads each kauditd pass back over
// the buckets it ran in): that is MeasureStalls, in full, each time.
type StallTracker struct {
	valid    bool // scan and sum are at the last row of the last Measure
	bucketNs int64
	scan     stallScan
	sum      stallSum
}

// Measure is MeasureStalls(p): p's timeline is the one of the last
// Measure with the rows added yielded (profile.JournalStep.Added), or,
// where restart is set, one to start over from. A failure makes the next
// start over.
func (k *StallTracker) Measure(p *profile.Profile, added iter.Seq2[*profile.Bucket, error], restart bool) (Stalls, error) {
	t := &p.Timeline
	if !t.Carries("queued") || !t.Carries("drained") || !t.Carries("delivered") {
		k.valid = false
		return MeasureStalls(p)
	}
	rows := added
	if restart || !k.valid || k.bucketNs != t.BucketNs {
		k.scan, k.sum, k.bucketNs = stallScan{delivered: true}, stallSum{}, t.BucketNs
		rows = t.All()
	}
	k.valid = false
	emit := func(st Stall) { k.sum.add(st, t.BucketNs) }
	for row, err := range rows {
		if err != nil {
			return Stalls{}, fmt.Errorf("reading timeline rows: %w", err)
		}
		k.scan.row(row, nil, emit)
	}
	k.valid = true
	scan, sum := k.scan, k.sum.clone()
	scan.finish(t.Len(), func(st Stall) { sum.add(st, t.BucketNs) })
	return sum.stalls(t.BucketNs), nil
}

// summarizeStalls counts stalls, finds the longest (the earliest of
// equals) and bins them by log2 of their length.
func summarizeStalls(stalls []Stall, bucketNs int64) Stalls {
	var sum stallSum
	for _, st := range stalls {
		sum.add(st, bucketNs)
	}
	return sum.stalls(bucketNs)
}

// stallSum is summarizeStalls' sums, added to a stall at a time, in
// order.
type stallSum struct {
	count              int
	longest, longestAt time.Duration
	counts             []int // by log2 of the length
}

func (s *stallSum) add(st Stall, bucketNs int64) {
	s.count++
	if d := time.Duration(int64(st.Buckets) * bucketNs); d > s.longest {
		s.longest, s.longestAt = d, time.Duration(int64(st.First)*bucketNs)
	}
	k := bits.Len(uint(st.Buckets)) - 1
	for len(s.counts) <= k {
		s.counts = append(s.counts, 0)
	}
	s.counts[k]++
}

// clone is a copy that adds without changing s.
func (s stallSum) clone() stallSum {
	s.counts = slices.Clone(s.counts)
	return s
}

func (s stallSum) stalls(bucketNs int64) Stalls {
	out := Stalls{BucketNs: bucketNs, Count: s.count, Longest: s.longest, LongestAt: s.longestAt}
	for k, c := range s.counts {
		out.Histogram = append(out.Histogram, StallBin{Min: time.Duration(int64(1)<<k) * time.Duration(bucketNs),
			Max: time.Duration(int64(2)<<k) * time.Duration(bucketNs), Count: c})
	}
	return out
}

// StallsLine says in one line what a recording shows of its consumer
// stopping: how many stalls, the longest and where it began, and how many
// of each length. recommend's reasoning, record's summary and the report
// print it, so that the three read alike.
func StallsLine(s Stalls) string {
	if s.Count == 0 {
		return "none measured (no bucket with records queued and none taken)"
	}
	bins := make([]string, 0, len(s.Histogram))
	for _, b := range s.Histogram {
		if b.Count > 0 {
			bins = append(bins, fmt.Sprintf("%d of %s-%s", b.Count, b.Min, b.Max))
		}
	}
	intervals := "intervals"
	if s.Count == 1 {
		intervals = "interval"
	}
	return fmt.Sprintf("%d %s with records queued and none taken (to the %s bucket); the longest %s, %s into the recording; by length: %s",
		s.Count, intervals, time.Duration(s.BucketNs), s.Longest, s.LongestAt.Round(time.Millisecond), strings.Join(bins, ", "))
}

func at(v []uint64, i int) uint64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// stallBuckets is how many whole buckets a stall of d covers, rounded up.
func stallBuckets(d time.Duration, bucketNs int64) int {
	if d <= 0 || bucketNs <= 0 {
		return 0
	}
	return int((int64(d) + bucketNs - 1) / bucketNs)
}

// Moves is when, into a stall, kauditd moves records out of audit_queue,
// in buckets from the stall's start (kernel/audit.c kauditd_thread and
// kauditd_send_queue; the same in 5.10.198, Debian 6.1 and 6.12, 6.18),
// for a send timeout T (HZ/10):
//   - its send to the stopped auditd times out (T) and that pass's records
//     go to the retry queue; its next pass tries the retry queue's first
//     record five times (5T), then sends on audit_queue, which times out
//     (T), and every record audit_queue held when that pass began goes to
//     the retry queue (kauditd_retry_skb). So the first move comes seven
//     timeouts after auditd's socket filled (at the stall's start or
//     later), keeping the records queued in its last timeout: First and
//     Keep, rounded to 7.5T and 5.5T (a schedule_timeout can end a jiffy
//     early, and buckets have edges);
//   - from then on it moves again each time it comes round to
//     audit_queue: after five tries of the hold queue's first record when
//     that queue is not empty, five of the retry queue's, and the send
//     that times out. A record waits in audit_queue at most Window
//     buckets after the first move (14T: a cycle of 11T, the timeout
//     before it, and 2T for late timers);
//   - each retry pass moves the retry queue to the hold queue
//     (kauditd_hold_skb, -ECONNREFUSED), bounded by backlog_limit ("kauditd
//     hold queue overflow"). Once it holds two moves, what it holds
//     arrived at least 11T before (HoldLag, 10.5T): at a stall's end it
//     holds at most what arrived before HoldLag buckets from it.
//
// The replay credits this bound, whatever the phase of kauditd's cycle:
// on 6.12 a second move came 6T after the first (the first timeout had
// moved one record, so the hold queue stayed empty), on 6.1 11T (it had
// moved five), model.md. The moved records go to the consumer first
// after the stall (hold and retry are sent before audit_queue).
type Moves struct {
	First, Keep, Window, HoldLag int
	// Timeout is kauditd's send timeout they were derived from.
	Timeout time.Duration
}

// movesFor is Moves for a send timeout t and buckets of bucketNs; zero
// for none.
func movesFor(t time.Duration, bucketNs int64) Moves {
	if t <= 0 || bucketNs <= 0 {
		return Moves{}
	}
	b := func(x float64) float64 { return x * float64(t) / float64(bucketNs) }
	return Moves{First: int(math.Ceil(b(7.5))), Keep: int(math.Floor(b(5.5))),
		Window: int(math.Ceil(b(14))), HoldLag: int(math.Floor(b(10.5))), Timeout: t}
}

// movesIn says whether a stall of n buckets has kauditd's moves: a bucket
// of it after the first.
func (m Moves) movesIn(n int) bool { return m.First > 0 && m.First < n }

// withStall is the demand with the consumer taking nothing in buckets
// [start, start+n), with kauditd's moves where the stall is long enough
// (Demand.Moves).
func withStall(d *Demand, start, n int) *Demand {
	if d.Spans != nil {
		// Entries for the stall's buckets, the rest as they are.
		c := d.withEntries(start, start+n)
		c.stallStart, c.stallEnd = start, min(start+n, c.Len())
		for i := max(start, 0); i < c.stallEnd; i++ {
			c.Capacity[c.entry(i)] = 0
		}
		return c
	}
	c := *d
	c.stallStart, c.stallEnd = start, min(start+n, len(d.Records))
	c.Capacity = make([]float64, len(d.Records))
	bucketCap := d.DrainRate * float64(d.BucketNs) / 1e9
	for i := range c.Capacity {
		switch {
		case i >= start && i < start+n:
		case d.Capacity != nil:
			c.Capacity[i] = d.Capacity[i]
		default:
			c.Capacity[i] = bucketCap
		}
	}
	return &c
}

// stallNeeds returns, for each bucket a stall of n buckets may start in,
// the most room the replay with no limit needs in any bucket when the
// consumer stops there: max_i (level_i + demand_i - capacity_i + burst_i),
// over the buckets with arrivals, which a limit must be at least (less
// one: the kernel's strict >) for Replay to admit everything. It is computed for every start at once, in
// linear time, from the queue's recursion (level' = max(0, level + a - c)):
//   - before the stall nothing changes;
//   - during it the consumer takes nothing, so the level is the level at
//     its start plus the arrivals since;
//   - after it, a queue that started deeper stays the deeper of the two
//     paths: level_j = max(free level_j, level at the stall's end + the
//     net arrivals since), so the need there is the larger of the free
//     replay's and that path's.
//
// Where kauditd moves audit_queue to its retry queue (Demand.MoveAfter,
// at the end of bucket p = s+MoveAfter-1), the stall splits: up to p the
// need is as above; from then on audit_queue holds what arrived since the
// move's keep bucket k, and after the stall the consumer takes the moved
// records first (the retry queue is sent before audit_queue), so
// audit_queue still only grows until the capacity since the stall's end
// covers them, in bucket e'; from e' on it is the total's path, as with no
// move (the records ahead of it are gone).
//
// The worst start is the one with the largest need; stallNeedsBrute and
// FuzzStallNeeds check this against replaying every start.
func stallNeeds(d *Demand, n int) []float64 {
	N := len(d.Records)
	capacity := func(i int) float64 {
		if d.Capacity != nil {
			return d.Capacity[i]
		}
		return d.DrainRate * float64(d.BucketNs) / 1e9
	}
	level := make([]float64, N+1) // free level at the start of each bucket
	need := make([]float64, N)    // free need of each bucket
	pa := make([]float64, N+1)    // prefix sums of arrivals
	px := make([]float64, N+1)    // prefix sums of arrivals less capacity
	inf := math.Inf(-1)
	// Only a bucket with arrivals can drop: one without needs no room.
	needs := func(a, v float64) float64 {
		if a > 0 {
			return v
		}
		return inf
	}
	level[0] = d.StartDepth
	for i, a := range d.Records {
		x := a - capacity(i)
		need[i] = needs(a, level[i]+x+d.Burst[i])
		level[i+1] = max(0, level[i]+x)
		pa[i+1] = pa[i] + a
		px[i+1] = px[i] + x
	}
	prefNeed := make([]float64, N+1) // max need[0..i-1]
	prefNeed[0] = inf
	for i := range N {
		prefNeed[i+1] = max(prefNeed[i], need[i])
	}
	sufNeed := make([]float64, N+1) // max need[i..N-1]
	sufAfter := make([]float64, N+1)
	sufIn := make([]float64, N+1) // max over i >= s of pa[i+1] + burst[i]
	sufNeed[N], sufAfter[N], sufIn[N] = inf, inf, inf
	for i := N - 1; i >= 0; i-- {
		sufNeed[i] = max(sufNeed[i+1], need[i])
		sufAfter[i] = max(sufAfter[i+1], needs(d.Records[i], px[i+1]+d.Burst[i]))
		sufIn[i] = max(sufIn[i+1], needs(d.Records[i], pa[i+1]+d.Burst[i]))
	}
	in := make([]float64, N)
	for i := range in {
		in[i] = needs(d.Records[i], pa[i+1]+d.Burst[i])
	}
	win := windowMax(in, max(n-1, 0)) // win[i]: max in[i-n+1..i]
	mv := d.Moves
	var (
		winFirst []float64 // winFirst[i]: max in[i-First+1..i]
		pc       []float64 // prefix sums of capacity
		inMax    rangeMax  // in
		gMax     rangeMax  // in[i] - pa[i-Window]: the need once records older than Window have gone
	)
	if mv.movesIn(n) {
		winFirst = windowMax(in, mv.First-1)
		pc = make([]float64, N+1)
		for i := range N {
			pc[i+1] = pc[i] + capacity(i)
		}
		inMax = newRangeMax(in)
		g := make([]float64, N)
		for i := range g {
			g[i] = inf
			if i >= mv.Window {
				g[i] = in[i] - pa[i-mv.Window]
			}
		}
		gMax = newRangeMax(g)
	}
	out := make([]float64, N)
	for s := range N {
		if n == 0 {
			out[s] = sufNeed[0]
			continue
		}
		if winFirst != nil && s+mv.First < N {
			out[s] = movedNeed(d, s, n, level[s], pa, px, pc, winFirst, inMax, gMax, prefNeed[s], sufNeed, sufAfter)
			continue
		}
		e := min(s+n, N)
		during := win[e-1]
		if e == N {
			during = sufIn[s]
		}
		m := max(prefNeed[s], level[s]-pa[s]+during)
		if e < N {
			end := level[s] + pa[e] - pa[s]
			m = max(m, max(sufNeed[e], end-px[e]+sufAfter[e]))
		}
		out[s] = m
	}
	return out
}

// movedNeed is stallNeeds' need for a stall of n buckets at s that has
// kauditd's moves (see Moves): in bucket i of it, audit_queue holds
//   - before the first move, the level at s plus the arrivals since;
//   - after it, the arrivals since max(s+Keep, i-Window);
//   - after the stall, the same from e, plus the arrivals until the
//     capacity since e covers the moved records (sent first), in bucket
//     e2; from e2 on it is the total's path, as with no move;
//
// and the hold queue, at the stall's end, what arrived before e-HoldLag
// (plus one: it takes a record while shorter than the limit).
func movedNeed(d *Demand, s, n int, levelS float64, pa, px, pc, winFirst []float64, inMax, gMax rangeMax, before float64, sufNeed, sufAfter []float64) float64 {
	N, mv := len(d.Records), d.Moves
	e := min(s+n, N)
	first := s + mv.First
	m := max(before, levelS-pa[s]+winFirst[first-1])
	slide := max(first, s+mv.Keep+mv.Window) // from here the window slides
	m = max(m, inMax.max(first, min(slide, e))-pa[s+mv.Keep])
	m = max(m, gMax.max(slide, e))
	if h := e - mv.HoldLag; h > s {
		m = max(m, levelS+pa[h]-pa[s]+1)
	}
	k := max(s+mv.Keep, e-mv.Window) // audit_queue at e: the arrivals since k
	moved := levelS + pa[k] - pa[s]
	// e2: the first bucket from e on by whose end the capacity since e
	// covers the moved records.
	e2 := e + sort.Search(N-e, func(i int) bool { return pc[e+i+1]-pc[e] >= moved })
	m = max(m, inMax.max(e, e2)-pa[k])
	if e2 < N {
		total := levelS + pa[e] - pa[s]
		m = max(m, max(sufNeed[e2], total-px[e]+sufAfter[e2]))
	}
	return m
}

// rangeMax answers the largest of v[i:j] in logarithmic time (a segment
// tree); an empty range is -Inf.
type rangeMax struct {
	n    int
	tree []float64
}

func newRangeMax(v []float64) rangeMax {
	r := rangeMax{n: len(v), tree: make([]float64, 2*len(v))}
	copy(r.tree[r.n:], v)
	for i := r.n - 1; i > 0; i-- {
		r.tree[i] = max(r.tree[2*i], r.tree[2*i+1])
	}
	return r
}

func (r rangeMax) max(i, j int) float64 {
	m := math.Inf(-1)
	for i, j = i+r.n, j+r.n; i < j; i, j = i/2, j/2 {
		if i%2 == 1 {
			m = max(m, r.tree[i])
			i++
		}
		if j%2 == 1 {
			j--
			m = max(m, r.tree[j])
		}
	}
	return m
}

// worstStall is the bucket where a stall of n buckets needs the most room
// (the earliest of equals), among the starts stallStarts allows, and that
// need.
func worstStall(d *Demand, n int) (start int, need float64) {
	if d.Spans != nil && n > 0 {
		if start, need, ok := worstStallSparse(d, n); ok {
			return start, need
		}
	}
	// The search reads every bucket's demand and capacity.
	d = d.Dense()
	needs := stallNeeds(d, n)
	allowed := stallStarts(d, n)
	start, need = -1, math.Inf(-1)
	for i, v := range needs {
		if allowed[i] && (start < 0 || v > need) {
			start, need = i, v
		}
	}
	return max(start, 0), need
}

// stallStarts says where a stall of n buckets may start: not where it
// would lengthen a stall the recording already shows (buckets in which
// the replay's consumer takes nothing, as where it took nothing while
// records waited). Placed against such a stall, the two would add up to
// one longer than asked for. A stall inside a recorded one, or covering
// it whole, is allowed. Where no start is allowed, every one is.
func stallStarts(d *Demand, n int) []bool {
	N := len(d.Records)
	zero := make([]bool, N)
	for i := range zero {
		zero[i] = d.Capacity != nil && d.Capacity[i] < 0.5 || d.Capacity == nil && d.DrainRate <= 0
	}
	runStart, runEnd := make([]int, N), make([]int, N) // the zero run holding i: [start, end)
	for i := range N {
		runStart[i] = i
		if zero[i] && i > 0 && zero[i-1] {
			runStart[i] = runStart[i-1]
		}
	}
	for i := N - 1; i >= 0; i-- {
		runEnd[i] = i + 1
		if zero[i] && i+1 < N && zero[i+1] {
			runEnd[i] = runEnd[i+1]
		}
	}
	out := make([]bool, N)
	any := false
	for s := range N {
		e := min(s+n, N)
		left, right := s, e
		if s > 0 && zero[s-1] {
			left = runStart[s-1]
		}
		if e < N && zero[e] {
			right = runEnd[e]
		}
		inside := zero[s] && runEnd[s] >= e
		out[s] = right-left <= n || inside
		any = any || out[s]
	}
	if !any {
		for i := range out {
			out[i] = true
		}
	}
	return out
}

// healStall is d with the consumer taking, over the recorded stall st,
// what its pace gives (Demand.Pace) instead of what it took: the
// recording without that stall. A stall asked for that is at least as
// long stands for it, put at the worst moment instead of added to it.
func healStall(d *Demand, st Stall) *Demand {
	if st.Buckets <= 0 || len(d.Pace) == 0 {
		return d
	}
	if st.First != d.PaceFrom || st.Buckets > len(d.Pace) {
		// Pace is kept over the longest stall only, the one standsFor
		// names.
		panic(fmt.Sprintf("sizing: healStall of the stall at %d (%d buckets), but the pace is kept at %d (%d)", st.First, st.Buckets, d.PaceFrom, len(d.Pace)))
	}
	if d.Spans != nil {
		c := d.withEntries(st.First, st.First+st.Buckets)
		for i := st.First; i < min(st.First+st.Buckets, c.Len()); i++ {
			e := c.entry(i)
			c.Capacity[e] = max(c.Capacity[e], d.Pace[i-st.First])
		}
		return c
	}
	c := *d
	c.Capacity = slices.Clone(d.Capacity)
	if c.Capacity == nil {
		c.Capacity = make([]float64, len(d.Records))
		for i := range c.Capacity {
			c.Capacity[i] = d.DrainRate * float64(d.BucketNs) / 1e9
		}
	}
	for i := st.First; i < min(st.First+st.Buckets, len(c.Capacity)); i++ {
		c.Capacity[i] = max(c.Capacity[i], d.Pace[i-st.First])
	}
	return &c
}

// standsFor is the recording's longest stall when a stall of the given
// length stands for it (it is at least as long), and whether it does.
func standsFor(d *Demand, stall time.Duration) (Stall, bool) {
	longest := d.longestStall()
	if stall <= 0 || longest.Buckets == 0 || time.Duration(int64(longest.Buckets)*d.BucketNs) > stall {
		return Stall{}, false
	}
	return longest, true
}

// StallPlace is a stall the replay put at the worst moment: its length,
// whole buckets, and where it starts in the recording.
type StallPlace struct {
	Stall time.Duration
	At    time.Duration
}

// PlaceStall is d with the consumer taking nothing over p (as stalled
// placed it: a Recommendation's Stall at StallAt, or Predict's place), d
// itself for none: the demand that replay ran on, for replaying it again
// (ReplayPeaks) without searching for the worst moment again.
func PlaceStall(d *Demand, p StallPlace) *Demand {
	n := stallBuckets(p.Stall, d.BucketNs)
	if n == 0 || p.At < 0 {
		return d
	}
	return withStall(d, int(int64(p.At)/d.BucketNs), n)
}

// stalled is d with a stall of length stall at its worst moment (d itself
// for none), and that moment.
func stalled(d *Demand, stall time.Duration) (*Demand, StallPlace) {
	n := stallBuckets(stall, d.BucketNs)
	if n == 0 || d.Len() == 0 {
		return d, StallPlace{}
	}
	start, _ := worstStall(d, n)
	return withStall(d, start, n), StallPlace{Stall: time.Duration(int64(n) * d.BucketNs), At: time.Duration(int64(start) * d.BucketNs)}
}

// drainSpread is the headroom the consumer's measured unevenness calls
// for: over the seconds in which the queue never emptied (every bucket
// deeper than its own arrivals: the consumer was saturated, so what it
// drained is its pace), the mean per-second
// drain over the slowest tenth of them. A consumer that has run that slow
// for a second can run that slow for the peak. It is never below
// DefaultHeadroom, which stands for the replay's own error (a bucket of
// drain per burst, model.md), nor above 2. ok is false with fewer than
// three such seconds. It fails if the timeline's rows cannot be read.
func drainSpread(t *profile.Timeline) (h float64, seconds int, ok bool, err error) {
	if t.BucketNs <= 0 {
		return 0, 0, false, nil
	}
	per := int(time.Second / time.Duration(t.BucketNs))
	if per < 1 {
		per = 1
	}
	// A second counts only if every bucket of it is deeper than its own
	// arrivals, which a bucket without a row (depth 0) is not: so only
	// runs of rows, a whole second of them, are summed, from the rows.
	var rates []float64
	n := t.Len()
	sec, count := -1, 0 // the second being summed, and its buckets so far
	var drained uint64
	for row, err := range t.All() {
		if err != nil {
			return 0, 0, false, fmt.Errorf("reading timeline rows: %w", err)
		}
		i := int(row.Index)
		if i/per != sec {
			sec, count, drained = i/per, 0, 0
		}
		// Deeper than the bucket's own arrivals: records were left
		// from before, so the consumer had more than it took.
		if count < 0 || i != sec*per+count || row.MaxDepth <= uint64(max(row.Arrivals, 0)) {
			count = -1 // not saturated, or a bucket of it had no row
			continue
		}
		drained += row.Drained
		if count++; count == per && (sec+1)*per <= n && drained > 0 {
			rates = append(rates, float64(drained))
		}
	}
	h, seconds, ok = spreadOf(rates)
	return h, seconds, ok, nil
}

// spreadOf is drainSpread's headroom from the saturated seconds' drains:
// their mean over the slowest tenth's, between DefaultHeadroom and 2; ok
// is false with fewer than three. It sorts rates.
func spreadOf(rates []float64) (h float64, seconds int, ok bool) {
	if len(rates) < 3 {
		return 0, len(rates), false
	}
	slices.Sort(rates)
	var mean float64
	for _, r := range rates {
		mean += r
	}
	mean /= float64(len(rates))
	slow := rates[len(rates)/10]
	return min(max(mean/slow, DefaultHeadroom), 2), len(rates), true
}

// stallSteps bounds worstStallSparse's steps of capacity, per bucket.
var stallSteps = 64

// worstStallSparse is worstStall for a sparse demand (Spans), without a
// series of every bucket: it computes stallNeeds' need of every start
// (movedNeed's where kauditd's moves come in the stall) with the same sums
// in the same order, and stallStarts' rule, in one pass over the buckets.
// ok is false where it gave up (below): then the dense search decides. Over an idle
// run nothing arrives, so the prefix sum of arrivals and the maxima over
// the buckets ahead (which only buckets with arrivals raise) do not
// change: those are kept per entry. The level and the prefix sum of net
// arrivals do change there, and are stepped bucket by bucket, as
// stallNeeds' loop steps them.
func worstStallSparse(d *Demand, n int) (start int, need float64, ok bool) {
	N, inf := d.Len(), math.Inf(-1)
	needs := func(a, v float64) float64 {
		if a > 0 {
			return v
		}
		return inf
	}
	// A cursor over the buckets in order: each bucket's arrivals,
	// capacity and burst, its entry (-1 for an idle bucket), and the
	// sums stallNeeds keeps up to it.
	type walk struct {
		spans     []Span
		k, i      int // bucket i, in or before spans[k]
		level, pa float64
		px, pc    float64
	}
	bucket := func(w *walk) (a, c, b float64, e int) {
		for w.k < len(w.spans) && w.i >= w.spans[w.k].First+w.spans[w.k].Len {
			w.k++
		}
		if w.k < len(w.spans) && w.i >= w.spans[w.k].First {
			e = w.spans[w.k].Off + w.i - w.spans[w.k].First
			return d.Records[e], d.Capacity[e], d.Burst[e], e
		}
		return 0, d.IdleCapacity, 0, -1
	}
	step := func(w *walk, a, c float64) {
		x := a - c
		w.level = max(0, w.level+x)
		w.pa += a
		w.px += x
		w.pc += c
		w.i++
	}

	// Forward: each entry's need and prefix sums at its end (what
	// stallNeeds' first loop stores at i and i+1).
	m := len(d.Records)
	needE, paE, pxE := make([]float64, m), make([]float64, m), make([]float64, m)
	fw := walk{spans: d.Spans, level: d.StartDepth}
	for fw.i < N {
		a, c, b, e := bucket(&fw)
		if e >= 0 {
			needE[e] = needs(a, fw.level+(a-c)+b)
		}
		step(&fw, a, c)
		if e >= 0 {
			paE[e], pxE[e] = fw.pa, fw.px
		}
	}
	// Backward over the entries: the suffix maxima (an idle bucket adds
	// -Inf to each, which changes none).
	sufNeed, sufAfter, sufIn := needE, make([]float64, m), make([]float64, m)
	for e, next := m-1, [3]float64{inf, inf, inf}; e >= 0; e-- {
		next[0] = max(next[0], needE[e])
		next[1] = max(next[1], needs(d.Records[e], pxE[e]+d.Burst[e]))
		next[2] = max(next[2], needs(d.Records[e], paE[e]+d.Burst[e]))
		sufNeed[e], sufAfter[e], sufIn[e] = next[0], next[1], next[2]
	}
	// The entry of the first bucket at or after i, m for none.
	type ahead struct{ k int }
	firstFrom := func(c *ahead, i int) int {
		for c.k < len(d.Spans) && d.Spans[c.k].First+d.Spans[c.k].Len <= i {
			c.k++
		}
		if c.k == len(d.Spans) {
			return m
		}
		sp := d.Spans[c.k]
		return sp.Off + max(0, i-sp.First)
	}
	suf := func(v []float64, e int) float64 {
		if e == m {
			return inf
		}
		return v[e]
	}
	// firstEntryFrom is the entry of the first bucket at or after i, m
	// for none.
	firstEntryFrom := func(i int) int {
		k := sort.Search(len(d.Spans), func(k int) bool { return d.Spans[k].First+d.Spans[k].Len > i })
		if k == len(d.Spans) {
			return m
		}
		return d.Spans[k].Off + max(0, i-d.Spans[k].First)
	}
	bucketOf := func(e int) int {
		k := sort.Search(len(d.Spans), func(k int) bool { return d.Spans[k].Off+d.Spans[k].Len > e })
		return d.Spans[k].First + e - d.Spans[k].Off
	}
	// paAt is pa[j], the arrivals before bucket j: what they were after
	// the last entry before it (an idle bucket adds 0), through a cursor
	// that only moves forward.
	type paCursor struct {
		c    entryCursor
		last float64
	}
	paAt := func(p *paCursor, j int) float64 {
		for p.c.bucket(N) < j {
			p.last = paE[p.c.entry()]
			p.c.next()
		}
		return p.last
	}
	// in[i] of each entry, and with moves g[i] = in[i] - pa[i-Window]
	// (stallNeeds' gMax); -Inf for idle buckets.
	mv := d.Moves
	moves := mv.movesIn(n)
	inE, gE := make([]float64, m), []float64(nil)
	for e := range m {
		inE[e] = needs(d.Records[e], paE[e]+d.Burst[e])
	}
	if moves {
		gE = make([]float64, m)
		lag := paCursor{c: entryCursor{spans: d.Spans}}
		for e := range m {
			gE[e] = inf
			if i := bucketOf(e); i >= mv.Window {
				gE[e] = inE[e] - paAt(&lag, i-mv.Window)
			}
		}
	}
	// entryWindow is the largest of vals over the entries of buckets
	// [lo, hi), both of which only move forward (a monotonic deque, as
	// windowMax).
	type entryWindow struct {
		vals []float64
		c    entryCursor
		dq   [][2]int // bucket, entry: decreasing values
	}
	windowMaxOf := func(w *entryWindow, lo, hi int) float64 {
		for b := w.c.bucket(N); b < hi; b = w.c.bucket(N) {
			e := w.c.entry()
			for len(w.dq) > 0 && w.vals[w.dq[len(w.dq)-1][1]] <= w.vals[e] {
				w.dq = w.dq[:len(w.dq)-1]
			}
			w.dq = append(w.dq, [2]int{b, e})
			w.c.next()
		}
		for len(w.dq) > 0 && w.dq[0][0] < lo {
			w.dq = w.dq[1:]
		}
		if len(w.dq) == 0 {
			return inf
		}
		return w.vals[w.dq[0][1]]
	}
	winFirst := entryWindow{vals: inE, c: entryCursor{spans: d.Spans}}
	winKeep := entryWindow{vals: inE, c: entryCursor{spans: d.Spans}}
	winG := entryWindow{vals: gE, c: entryCursor{spans: d.Spans}}
	// With moves, each start steps the capacity on from its stall's end
	// until it covers what was moved: a few buckets where the consumer
	// drains, but every bucket to the end for a consumer that takes
	// nothing. Past this many steps in all, the dense search, which
	// bisects, is the faster.
	budget := stallSteps * (N + 1<<14)
	var paKeep, paH, paK paCursor
	for _, p := range []*paCursor{&paKeep, &paH, &paK} {
		p.c.spans = d.Spans
	}
	// capAt is bucket j's capacity, and its entry's in (-Inf idle),
	// through a cursor over the spans from where it is set.
	capAt := func(c *entryCursor, j int) (float64, float64) {
		if c.bucket(N) == j {
			e := c.entry()
			c.next()
			return d.Capacity[e], inE[e]
		}
		return d.IdleCapacity, inf
	}

	// The zero-capacity runs, for stallStarts' rule.
	type run struct{ first, end int }
	var zeros []run
	zeroAt := func(i int, z bool) {
		if !z {
			return
		}
		if k := len(zeros) - 1; k >= 0 && zeros[k].end == i {
			zeros[k].end++
			return
		}
		zeros = append(zeros, run{i, i + 1})
	}
	idleZero := d.IdleCapacity < 0.5
	prev := 0
	for _, sp := range d.Spans {
		if idleZero && sp.First > prev {
			zeroAt(prev, true)
			zeros[len(zeros)-1].end = sp.First
		}
		for i := sp.First; i < sp.First+sp.Len; i++ {
			zeroAt(i, d.Capacity[sp.Off+i-sp.First] < 0.5)
		}
		prev = sp.First + sp.Len
	}
	if idleZero && N > prev {
		zeroAt(prev, true)
		zeros[len(zeros)-1].end = N
	}
	// runOf is the zero run holding i, through a cursor that only moves
	// forward; ok is false where the capacity is not zero.
	type runCursor struct{ k int }
	runOf := func(c *runCursor, i int) (run, bool) {
		for c.k < len(zeros) && zeros[c.k].end <= i {
			c.k++
		}
		if c.k < len(zeros) && zeros[c.k].first <= i {
			return zeros[c.k], true
		}
		return run{}, false
	}

	// Every start in turn: s walks the starts, ew the stall's ends
	// e = s+n (the window of arrivals during the stall between them).
	type inAt struct {
		i int
		v float64
	}
	var window []inAt // in[i] of the buckets in [s, e), decreasing
	sw := walk{spans: d.Spans, level: d.StartDepth}
	ew := walk{spans: d.Spans, level: d.StartDepth}
	var eAhead, sAhead ahead
	var before, at, after runCursor
	prefNeed := inf
	start, need = -1, inf
	anyStart, anyNeed := -1, inf
	for s := 0; s < N; s++ {
		e := min(s+n, N)
		for ew.i < e {
			a, c, b, _ := bucket(&ew)
			step(&ew, a, c)
			// in[i] = needs(a, pa[i+1]+burst)
			v := needs(a, ew.pa+b)
			for len(window) > 0 && window[len(window)-1].v <= v {
				window = window[:len(window)-1]
			}
			window = append(window, inAt{ew.i - 1, v})
		}
		for len(window) > 0 && window[0].i < s {
			window = window[1:]
		}
		during := inf
		if len(window) > 0 {
			during = window[0].v
		}
		if e == N {
			during = suf(sufIn, firstFrom(&sAhead, s))
		}
		levelS, paSs := sw.level, sw.pa
		var v float64
		if first := s + mv.First; moves && first < N {
			// movedNeed, term by term.
			pas := paSs
			v = max(prefNeed, levelS-pas+windowMaxOf(&winFirst, s, first))
			slide := max(first, s+mv.Keep+mv.Window)
			v = max(v, windowMaxOf(&winKeep, first, min(slide, e))-paAt(&paKeep, s+mv.Keep))
			v = max(v, windowMaxOf(&winG, slide, e))
			if h := e - mv.HoldLag; h > s {
				v = max(v, levelS+paAt(&paH, h)-pas+1)
			}
			k := max(s+mv.Keep, e-mv.Window)
			pak := paAt(&paK, k)
			moved := levelS + pak - pas
			// e2: the first bucket from e on by whose end the capacity
			// since e covers the moved records, the prefix sums of
			// capacity stepped on from e's as stallNeeds sums them
			// (nondecreasing, so the first is what its search finds);
			// and the largest in[] before it.
			e2, pc, most := e, ew.pc, inf
			c := entryCursor{spans: d.Spans, k: ew.k}
			if ew.k < len(d.Spans) {
				c.i = max(0, e-d.Spans[ew.k].First)
			}
			for ; e2 < N; e2++ {
				if budget--; budget < 0 {
					return 0, 0, false
				}
				capacity, in := capAt(&c, e2)
				pc += capacity
				if pc-ew.pc >= moved {
					break
				}
				most = max(most, in)
			}
			v = max(v, most-pak)
			if e2 < N {
				total := levelS + ew.pa - pas
				k2 := firstEntryFrom(e2)
				v = max(v, max(suf(sufNeed, k2), total-ew.px+suf(sufAfter, k2)))
			}
		} else {
			v = max(prefNeed, levelS-paSs+during)
			if e < N {
				end := levelS + ew.pa - paSs
				k := firstFrom(&eAhead, e)
				v = max(v, max(suf(sufNeed, k), end-ew.px+suf(sufAfter, k)))
			}
		}

		// stallStarts: not where it would lengthen a stall the replay
		// already has, unless inside one.
		l, r := s, e
		if s > 0 {
			if z, ok := runOf(&before, s-1); ok {
				l = z.first
			}
		}
		if e < N {
			if z, ok := runOf(&after, e); ok {
				r = z.end
			}
		}
		z, ok := runOf(&at, s)
		inside := ok && z.end >= e
		if r-l <= n || inside {
			if start < 0 || v > need {
				start, need = s, v
			}
		}
		if anyStart < 0 || v > anyNeed {
			anyStart, anyNeed = s, v
		}

		// On to s+1: the need of bucket s joins those before.
		a, c, b, _ := bucket(&sw)
		prefNeed = max(prefNeed, needs(a, sw.level+(a-c)+b))
		step(&sw, a, c)
	}
	if start < 0 {
		// No start allowed: every one is.
		start, need = anyStart, anyNeed
	}
	return max(start, 0), need, true
}
