package sizing

// The dense implementations the row-based ones replaced, kept as the
// reference TestSparseDrain checks them against bit for bit.

import (
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

func spreadPassesRef(t *profile.Timeline, startDepth float64) []float64 {
	t.Dense() // the dense form: this indexes the series (Densify)
	out := make([]float64, t.Len())
	start := -1 // first bucket of the pass in progress
	if startDepth > 0 {
		start = 0
	}
	level := startDepth // what is queued, by the counts: exact at a pass end
	for i := range out {
		level += float64(t.Dense().Queued[i]) - float64(t.Dense().Drained[i])
		if start < 0 && t.Dense().Queued[i] > 0 {
			start = i
		}
		d := float64(t.Dense().Drained[i])
		if d == 0 {
			continue
		}
		first := i
		if start >= 0 && start < i {
			first = start
		}
		per := d / float64(i-first+1)
		for k := first; k <= i; k++ {
			out[k] += per
		}
		start = -1
		if level > 0 {
			start = i + 1
		}
	}
	return out
}

func anchorDrainRef(t *profile.Timeline, startDepth float64, spread []float64) []float64 {
	t.Dense() // the dense form: this indexes the series (Densify)
	n := len(spread)
	// x(k): the drain up to the end of bucket k's last depth reading.
	x := func(k int, queuedK float64) (float64, bool) {
		if t.Dense().MaxDepth[k] == 0 {
			return 0, false
		}
		return startDepth + queuedK - float64(t.Dense().MaxDepth[k]), true
	}
	// Forward, the running total never falling and within the bounds
	// (where noisy bounds cross, the upper wins).
	var queued, counted, total, prev float64
	for i := 0; i < n; i++ {
		queued += float64(t.Dense().Queued[i])
		counted += float64(t.Dense().Drained[i])
		total += spread[i]
		lo := 0.0
		if t.Dense().Drained[i] > 0 {
			lo = counted
		}
		if xi, ok := x(i, queued); ok {
			lo = max(lo, xi)
		}
		hi := startDepth + queued
		if i+1 < n {
			if xn, ok := x(i+1, queued+float64(t.Dense().Queued[i+1])); ok {
				hi = min(hi, xn)
			}
		}
		c := max(total, lo)
		if i > 0 {
			c = max(c, prev)
		}
		prev = min(c, hi)
		spread[i] = prev
	}
	// Backward, so that an upper bound also holds the buckets before it.
	cum := spread
	for i := n - 2; i >= 0; i-- {
		cum[i] = min(cum[i], cum[i+1])
	}
	prev = 0
	for i, c := range cum {
		cum[i] = max(0, c-prev)
		prev = max(prev, c)
	}
	return cum
}

func findStallsRef(t *profile.Timeline, startDepth float64, drained []float64) []Stall {
	t.Dense() // the dense form: this indexes the series (Densify)
	if len(t.Dense().Queued) < t.Len() || len(t.Dense().Drained) < t.Len() {
		return nil
	}
	delivered := len(t.Dense().Delivered) == t.Len()
	if !delivered && drained == nil {
		drained = anchorDrainRef(t, startDepth, spreadPassesRef(t, startDepth))
	}
	took := func(i int) bool {
		if delivered {
			return t.Dense().Delivered[i] > 0
		}
		return drained[i] >= 0.5
	}
	var out []Stall
	run := 0
	for i := range t.Len() {
		queued := at(t.Dense().MaxDepth, i) > 0 || t.Dense().Queued[i] > 0
		// By delivered, a stall goes on through a bucket that saw no
		// arrival and no kauditd pass (so no depth either) until the
		// consumer takes a record: what waits for it is still there, in
		// audit_queue or in kauditd's retry queue.
		if delivered && run > 0 {
			queued = true
		}
		if queued && !took(i) {
			run++
			continue
		}
		if run > 0 {
			out = append(out, Stall{First: i - run, Buckets: run})
		}
		run = 0
	}
	if run > 0 {
		out = append(out, Stall{First: t.Len() - run, Buckets: run})
	}
	return out
}

func drainSpreadRef(t *profile.Timeline) (h float64, seconds int, ok bool) {
	t.Dense() // the dense form: this indexes the series (Densify)
	if t.BucketNs <= 0 {
		return 0, 0, false
	}
	per := int(time.Second / time.Duration(t.BucketNs))
	if per < 1 {
		per = 1
	}
	var rates []float64
	for s := 0; s+per <= t.Len(); s += per {
		var drained uint64
		saturated := true
		for i := s; i < s+per; i++ {
			// Deeper than the bucket's own arrivals: records were left
			// from before, so the consumer had more than it took.
			if i >= len(t.Dense().Arrivals) || at(t.Dense().MaxDepth, i) <= uint64(max(t.Dense().Arrivals[i], 0)) {
				saturated = false
				break
			}
			drained += at(t.Dense().Drained, i)
		}
		if saturated && drained > 0 {
			rates = append(rates, float64(drained))
		}
	}
	return spreadOf(rates)
}
