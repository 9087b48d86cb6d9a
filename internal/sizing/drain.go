package sizing

import (
	"fmt"
	"iter"

	"github.com/auditprof/auditprof/internal/profile"
)

// rowCursor reads a timeline bucket by bucket from its rows (Timeline.Rows)
// rather than from the dense series, which a day of 10 ms buckets would
// make 760 MB (issue 14). It moves either way, and is cheap for nearby
// buckets: its callers (Reconstruct) walk the buckets in order, looking a
// few ahead or back, which a rowStream cannot.
type rowCursor struct {
	rows []profile.Bucket
	k    int // the first row at or after the bucket last asked for
}

// rowStream reads a timeline's rows (Timeline.All) bucket by bucket,
// forward only: at(i) is bucket i's row (noRow without one), for i never
// less than the one asked before. It pulls one row at a time from the
// pass, which at record's stop reads them from the journal's file (issue
// 14), and holds only the row last read; close ends the pass and gives
// its error.
type rowStream struct {
	next func() (*profile.Bucket, error, bool)
	stop func()
	row  profile.Bucket // the first row at or after the bucket last asked for
	ok   bool           // row is one; false past the last, or at an error
	err  error          // the pass's
}

func newRowStream(rows iter.Seq2[*profile.Bucket, error]) *rowStream {
	s := &rowStream{}
	s.next, s.stop = iter.Pull2(rows)
	s.pull()
	return s
}

// pull reads the next row into s.row.
func (s *rowStream) pull() {
	b, err, ok := s.next()
	switch {
	case !ok:
		s.ok = false
	case err != nil:
		s.ok, s.err = false, err
	default:
		s.row, s.ok = *b, true
	}
}

func (s *rowStream) at(i int) *profile.Bucket {
	for s.ok && int(s.row.Index) < i {
		s.pull()
	}
	if s.ok && int(s.row.Index) == i {
		return &s.row
	}
	return &noRow
}

// close ends the pass and returns its error.
func (s *rowStream) close() error {
	s.stop()
	return s.err
}

// noRow is the values of a bucket without a row: all zero. Never modified.
var noRow profile.Bucket

// at is bucket i's row, noRow for a bucket without one.
func (c *rowCursor) at(i int) *profile.Bucket {
	for c.k > 0 && int(c.rows[c.k-1].Index) >= i {
		c.k--
	}
	for c.k < len(c.rows) && int(c.rows[c.k].Index) < i {
		c.k++
	}
	if c.k < len(c.rows) && int(c.rows[c.k].Index) == i {
		return &c.rows[c.k]
	}
	return &noRow
}

// drain is the timeline's anchored drain (anchorDrain's) over n buckets,
// held only where it can be other than 0: vals[Off:Off+Len] for buckets
// [First, First+Len) of each span, and exactly 0 in every other bucket.
type drain struct {
	n     int
	spans []Span
	vals  []float64
}

// dense is the drain with a value for every bucket.
func (d *drain) dense() []float64 {
	out := make([]float64, d.n)
	for _, sp := range d.spans {
		copy(out[sp.First:sp.First+sp.Len], d.vals[sp.Off:sp.Off+sp.Len])
	}
	return out
}

// drainCursor reads a drain bucket by bucket, either way, as rowCursor.
type drainCursor struct {
	d *drain
	k int // the first span that does not end before the bucket last asked for
}

func (c *drainCursor) at(i int) float64 {
	sp := c.d.spans
	for c.k > 0 && sp[c.k-1].First+sp[c.k-1].Len > i {
		c.k--
	}
	for c.k < len(sp) && sp[c.k].First+sp[c.k].Len <= i {
		c.k++
	}
	if c.k < len(sp) && sp[c.k].First <= i {
		return c.d.vals[sp[c.k].Off+i-sp[c.k].First]
	}
	return 0
}

// The drain the replay works from is built in two steps, which
// anchoredDrain does over the rows (dense_ref_test.go keeps them as they
// were, over the dense series, for reference):
//
// spreadPasses is the timeline's drain with each kauditd pass spread
// evenly over the buckets it ran in. BPF counts a pass's drain when the
// pass ends (kauditd_send_queue returns once audit_queue is empty), so a
// pass that ran through a burst lands in one bucket, seconds after the
// records left, and the queue read from the counts stays full long after
// it emptied. A pass takes the records queued when it began (up to the
// tail it saw) and kauditd sleeps only when the queue is empty, so the
// next pass begins as one ends if records came in meanwhile, and
// otherwise at the next enqueue.
//
// anchorDrain corrects a spread drain with the depths the queue was seen
// at. A pass does not drain evenly: kauditd blocks on auditd's full socket
// (up to 100 ms a record, 5.10+), moves the rest of the pass to the retry
// queue at once, then spends seconds retrying it while audit_queue waits.
// Spread evenly over such a pass, the drain comes too early and the queue
// reads too short (on 6.1 a recording that reached its limit of 15000
// replayed to a peak of 11784).
//
// A bucket k's max_depth is the queue length at one of its enqueues or at
// the start of a pass, and the queue only shrank after the last of them;
// so with X = start + queued up to k - max_depth, the drain up to the end
// of bucket k-1 is at most X and up to the end of k at least X. The spread
// drain, as a running total, is held within those bounds, within what was
// queued (the queue cannot go below 0) and above each pass's count (exact
// when it ended), and kept from falling.
//
// anchoredDrain is anchorDrain(spreadPasses(...)) of a timeline of n
// buckets with the given rows, computed only over the buckets where it
// can differ from the buckets before them, with the same operations in
// the same order, so that every value is the same to the bit. Those are:
//   - the rows;
//   - the passes: a pass's drain spreads back over the buckets it ran in
//     (spreadPasses), which may be empty ones, from its start to the row
//     where it ended; it begins at a row or just after one, and ends at a
//     row, so it covers whole gaps between rows;
//   - the first and the last bucket of each other gap between rows (and
//     before the first and after the last).
//
// Within such a gap nothing is queued, counted or spread, and there is no
// depth reading, so anchorDrain's forward sweep gives its first bucket
// max(total, 0, prev) held below startDepth + queued, and every bucket
// after it the same again (max and min are exact), but for the last,
// whose upper bound may be the next row's depth reading. The backward
// sweep's running minimum then gives the gap's middle buckets the first
// one's value, and the differences there are max(0, v - prev) with prev
// already at least v: exactly 0. Adding the 0 the middle buckets spread
// would leave the running total as it is, so skipping them keeps every
// sum the same.
//
// It reads the rows in order four times (rows), and holds none of them,
// nor the passes; what it holds is the drain (a float64 per kept bucket).
// A pass that fails to read the rows (a journal's, read again from its
// file) fails it.
func anchoredDrain(rows iter.Seq2[*profile.Bucket, error], n int, startDepth float64) (*drain, error) {
	// The kept buckets, as spans in order.
	var spans []Span
	keep := func(first, end int) { spans = appendSpan(spans, max(first, 0), min(end, n)) }
	gap := func(from, to int) { // the empty buckets [from, to)
		if from < to {
			keep(from, from+1)
			keep(to-1, to)
		}
	}
	// spreadPasses' walk over the rows: the passes, and the spread of
	// each (per, over [first, i]). Walked again where they are read
	// rather than held: a day's busy hours have a pass in every bucket.
	// A failure to read the rows ends the passes with it.
	type pass struct {
		first, last int
		per         float64
	}
	passes := func(yield func(pass, error) bool) {
		start := -1
		if startDepth > 0 {
			start = 0
		}
		level := startDepth
		for row, err := range rows {
			if err != nil {
				yield(pass{}, err)
				return
			}
			i := int(row.Index)
			level += float64(row.Queued) - float64(row.Drained)
			if start < 0 && row.Queued > 0 {
				start = i
			}
			if row.Drained == 0 {
				continue
			}
			d := float64(row.Drained)
			first := i
			if start >= 0 && start < i {
				first = start
			}
			if !yield(pass{first, i, d / float64(i-first+1)}, nil) {
				return
			}
			start = -1
			if level > 0 {
				start = i + 1
			}
		}
	}
	// Spans: rows, passes and the ends of the gaps, merged in order.
	nextPass, stopPasses := iter.Pull2(iter.Seq2[pass, error](passes))
	defer stopPasses()
	p, perr, more := nextPass()
	next := 0 // the first bucket not yet kept or skipped
	for row, err := range rows {
		if err != nil {
			return nil, fmt.Errorf("reading timeline rows: %w", err)
		}
		i := int(row.Index)
		for more && perr == nil && p.first <= i {
			gap(next, p.first)
			keep(p.first, p.last+1)
			next = max(next, p.last+1)
			p, perr, more = nextPass()
		}
		if i >= next {
			gap(next, i)
			keep(i, i+1)
			next = i + 1
		}
	}
	if perr != nil {
		return nil, fmt.Errorf("reading timeline rows: %w", perr)
	}
	gap(next, n)
	entries := 0
	for k := range spans {
		spans[k].Off = entries
		entries += spans[k].Len
	}
	vals := make([]float64, entries)
	// spreadPasses: each kept bucket of a pass gets its share (one pass
	// per bucket: the next begins after the last ends).
	c := drainCursor{d: &drain{n: n, spans: spans, vals: vals}}
	for p, err := range passes {
		if err != nil {
			return nil, fmt.Errorf("reading timeline rows: %w", err)
		}
		for k := p.first; k <= p.last; k++ {
			c.at(k)
			sp := spans[c.k]
			vals[sp.Off+k-sp.First] += p.per
		}
	}
	// anchorDrain's forward sweep over the kept buckets; a skipped bucket
	// would repeat the value of the kept one before it.
	rc := newRowStream(rows)
	defer rc.stop()
	var queued, counted, total, prev float64
	for _, sp := range spans {
		for i := sp.First; i < sp.First+sp.Len; i++ {
			e := sp.Off + i - sp.First
			row := rc.at(i)
			queued += float64(row.Queued)
			counted += float64(row.Drained)
			total += vals[e]
			lo := 0.0
			if row.Drained > 0 {
				lo = counted
			}
			if row.MaxDepth != 0 {
				lo = max(lo, startDepth+queued-float64(row.MaxDepth))
			}
			hi := startDepth + queued
			if i+1 < n {
				if nx := rc.at(i + 1); nx.MaxDepth != 0 {
					hi = min(hi, startDepth+(queued+float64(nx.Queued))-float64(nx.MaxDepth))
				}
			}
			c := max(total, lo)
			if i > 0 {
				c = max(c, prev)
			}
			prev = min(c, hi)
			vals[e] = prev
		}
	}
	if err := rc.close(); err != nil {
		return nil, fmt.Errorf("reading timeline rows: %w", err)
	}
	// Backward, the running minimum; then the differences.
	for e := entries - 2; e >= 0; e-- {
		vals[e] = min(vals[e], vals[e+1])
	}
	prev = 0
	for e, c := range vals {
		vals[e] = max(0, c-prev)
		prev = max(prev, c)
	}
	return &drain{n: n, spans: spans, vals: vals}, nil
}

// timelineDrain is the anchored drain of t, from its rows.
func timelineDrain(t *profile.Timeline, startDepth float64) (*drain, error) {
	return anchoredDrain(t.All(), t.Len(), startDepth)
}
