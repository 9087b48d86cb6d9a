package sizing

import (
	"math"
	"slices"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// BPF counts a kauditd pass's drain in the bucket where the pass ends;
// spreadPasses spreads it over the buckets the pass ran in. Worked by hand.
func TestSpreadPasses(t *testing.T) {
	for _, tc := range []struct {
		name            string
		start           float64
		queued, drained []uint64
		want            []float64
	}{
		{name: "one pass through a burst", queued: []uint64{100, 0, 0, 0, 0}, drained: []uint64{0, 0, 0, 0, 100},
			want: []float64{20, 20, 20, 20, 20}},
		// 50 more came in during the first pass, so the second begins
		// as the first ends.
		{name: "back to back", queued: []uint64{50, 0, 50, 0, 0, 0}, drained: []uint64{0, 0, 50, 0, 0, 50},
			want: []float64{50.0 / 3, 50.0 / 3, 50.0 / 3, 50.0 / 3, 50.0 / 3, 50.0 / 3}},
		// The queue emptied: kauditd slept until the next enqueue.
		{name: "asleep between", queued: []uint64{10, 0, 0, 0, 10, 0, 0}, drained: []uint64{0, 10, 0, 0, 0, 0, 10},
			want: []float64{5, 5, 0, 0, 10.0 / 3, 10.0 / 3, 10.0 / 3}},
		{name: "queue not empty at the start", start: 30, queued: []uint64{0, 0, 0}, drained: []uint64{0, 0, 30},
			want: []float64{10, 10, 10}},
		{name: "short passes", queued: []uint64{5, 7, 3}, drained: []uint64{5, 7, 3}, want: []float64{5, 7, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := new(profile.NewTimeline(0, 0, profile.Series{Arrivals: make([]int64, len(tc.queued)), Queued: tc.queued, Drained: tc.drained}))
			got := spreadPassesRef(tl, tc.start)
			for i := range got {
				if !near(got[i], tc.want[i]) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// One pass takes a 1000-record burst over 0.6 s; BPF counts it in the
// bucket where it ends. The replay with no limit peaks where the queue did
// (1000 records less what the pass took meanwhile), and the consumer's
// rate is the pass's own, not that of a queue standing full for 0.6 s.
func TestReconstructLongPass(t *testing.T) {
	const n = 200
	p := &profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: "fentry", HZ: 250, KernelRelease: "test",
		AuditBefore: &profile.AuditStatus{Enabled: 1}}
	tl := &p.Timeline
	tl.BucketNs = 10e6
	tl.Dense().Arrivals, tl.Dense().Events, tl.Dense().LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
	tl.Dense().Queued, tl.Dense().Lost, tl.Dense().Drained, tl.Dense().MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	tl.Dense().Waits, tl.Dense().WaitNs = make([]uint64, n), make([]uint64, n)
	for i := 0; i < 10; i++ {
		tl.Dense().Arrivals[i], tl.Dense().Events[i], tl.Dense().Queued[i] = 100, 100, 100
		tl.Dense().MaxDepth[i] = uint64(100*(i+1)) - uint64(i*1000/60)
	}
	tl.Dense().Drained[59] = 1000
	p.Totals = profile.Totals{Records: 1000, Events: 1000, Queued: 1000, Drained: 1000, MaxDepth: 1000}
	p.Rules = []profile.Rule{{Key: "k", Syscall: 257, Records: 1000, Events: 1000}}
	d, err := Reconstruct(p)
	if err != nil {
		t.Fatal(err)
	}
	o := Replay(d, Setting{})
	if want := 1000 - 10*1000.0/60; o.MaxDepth > 1000 || o.MaxDepth < want-1 {
		t.Errorf("replay peak %.0f, want about %.0f", o.MaxDepth, want)
	}
	if want := 1000 / 0.6; d.DrainSource != "non-empty" || math.Abs(d.DrainRate-want) > want/100 {
		t.Errorf("drain %.0f/s (%s), want %.0f/s", d.DrainRate, d.DrainSource, want)
	}
}

// The depths seen at enqueues place a pass's drain in time. 100 records
// queued (depth 100), 10 more at depth 110 (nothing drained yet), 10 more
// at depth 20 (100 drained since), and the pass counted 120 in bucket 5.
// Spread evenly it would drain 20 a bucket from the start; held to the
// depths, nothing leaves before bucket 2, and by bucket 4 exactly 100 have.
func TestAnchorDrain(t *testing.T) {
	tl := new(profile.NewTimeline(0, 0, profile.Series{
		Arrivals: make([]int64, 6),
		Queued:   []uint64{100, 0, 10, 0, 10, 0},
		MaxDepth: []uint64{100, 0, 110, 0, 20, 0},
		Drained:  []uint64{0, 0, 0, 0, 0, 120},
	}))
	spread := spreadPassesRef(tl, 0)
	for i, want := range []float64{20, 20, 20, 20, 20, 20} {
		if !near(spread[i], want) {
			t.Fatalf("spread %v", spread)
		}
	}
	got := noErr(timelineDrain(tl, 0)).dense() // from the rows, as Reconstruct has it
	for i, want := range []float64{0, 0, 60, 20, 20, 20} {
		if !near(got[i], want) {
			t.Fatalf("anchored %v, want [0 0 60 20 20 20]", got)
		}
	}
}

// TestPaceAside: the consumer's pace is not measured in the recording's
// longest stall, nor, where the timeline has delivered, where kauditd
// moved records to its retry queue (drained, none delivered: bucket 3) or
// sent its retry and hold queues after the stall (delivered, nothing
// drained: 6). A short stall (bucket 8) stays in.
func TestPaceAside(t *testing.T) {
	tl := profile.NewTimeline(10e6, 0, profile.Series{
		Arrivals:  []int64{2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
		Queued:    []uint64{2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
		MaxDepth:  []uint64{1, 2, 4, 6, 2, 4, 1, 1, 2, 1},
		Drained:   []uint64{2, 0, 0, 6, 0, 0, 2, 2, 0, 4},
		Delivered: []uint64{2, 0, 0, 0, 0, 0, 12, 2, 0, 4},
	})
	longest := func() Stall { d := Demand{stalls: noErr(FindStalls(&tl, 0))}; return d.longestStall() }
	got := paceAside(&tl, longest())
	want := []bool{false, true, true, true, true, true, true, false, false, false}
	if !slices.Equal(got, want) {
		t.Errorf("aside %v, want %v", got, want)
	}
	tl.Dense().Delivered = nil // without it: the longest stall by drain, [1, 3)
	want = []bool{false, true, true, false, false, false, false, false, false, false}
	if got := paceAside(&tl, longest()); !slices.Equal(got, want) {
		t.Errorf("without delivered: aside %v, want %v", got, want)
	}
}

// A bucket measures the consumer's rate only when it was saturated: some
// of what was queued when the bucket began was still queued at its end.
// A healthy consumer whose queue holds, at each bucket's end, the record
// that arrived a moment before (one per kauditd pass, as 6.12 runs a
// steady load) drains at the load's rate, which says nothing of what it
// can take: the rate is then the fastest bucket's, a lower bound, not a
// "non-empty" measurement. Held over from bucket to bucket, it is.
func TestDrainSaturated(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		name       string
		left       uint64 // queued at each bucket's end
		wantSource string
		wantRate   float64
	}{
		// 10 arrive and 10 leave a bucket; the last to arrive is left.
		{name: "one just arrived", left: 1, wantSource: "fastest", wantRate: 1000},
		// 15 left at each end: 5 had waited since the bucket before.
		{name: "saturated", left: 15, wantSource: "non-empty", wantRate: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: "fentry", HZ: 250, KernelRelease: "test",
				AuditBefore: &profile.AuditStatus{Enabled: 1, Backlog: uint32(tc.left)}}
			tl := &p.Timeline
			tl.BucketNs = 10e6
			tl.Dense().Arrivals, tl.Dense().Events, tl.Dense().LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
			tl.Dense().Queued, tl.Dense().Lost, tl.Dense().Drained, tl.Dense().MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
			tl.Dense().Waits, tl.Dense().WaitNs = make([]uint64, n), make([]uint64, n)
			for i := range n {
				tl.Dense().Arrivals[i], tl.Dense().Events[i], tl.Dense().Queued[i], tl.Dense().Drained[i] = 10, 10, 10, 10
				tl.Dense().MaxDepth[i] = tc.left + 9
			}
			p.Totals = profile.Totals{Records: 10 * n, Events: 10 * n, Queued: 10 * n, Drained: 10 * n, MaxDepth: tc.left + 9}
			p.Rules = []profile.Rule{{Key: "k", Syscall: 257, Records: 10 * n, Events: 10 * n}}
			d, err := Reconstruct(p)
			if err != nil {
				t.Fatal(err)
			}
			if d.DrainSource != tc.wantSource || !near(d.DrainRate, tc.wantRate) {
				t.Errorf("drain %.0f/s (%s), want %.0f/s (%s)", d.DrainRate, d.DrainSource, tc.wantRate, tc.wantSource)
			}
		})
	}
}

// paceAside is paceAsideRow of every bucket of a timeline: the tests'
// view (Reconstruct asks bucket by bucket, issue 14).
func paceAside(t *profile.Timeline, longest Stall) []bool {
	t.Dense() // the dense form: this indexes the series (Densify)
	aside := make([]bool, t.Len())
	for i := range aside {
		aside[i] = paceAsideAt(t, longest, i)
	}
	return aside
}

// paceAsideAt is paceAside of bucket i alone: Reconstruct asks it bucket
// by bucket rather than keep a series of 8.6 million a day (issue 14).
// t is dense (its callers Densify it: this runs for every bucket).
func paceAsideAt(t *profile.Timeline, longest Stall, i int) bool {
	delivered := len(t.Dense().Delivered) == t.Len()
	row := profile.Bucket{Drained: at(t.Dense().Drained, i)}
	if delivered {
		row.Delivered = t.Dense().Delivered[i]
	}
	return paceAsideRow(&row, delivered, longest, i)
}
