package sizing

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// randomTimeline is a dense timeline of n buckets, mostly empty, with runs
// of activity: enqueues, passes that drain, depth readings, losses and
// waits, and (with delivered) what reached auditd, with a stopped consumer
// now and then.
func randomTimeline(r *rand.Rand, n int, delivered bool) *profile.Timeline {
	t := &profile.Timeline{BucketNs: 1e7}
	t.Dense().Arrivals, t.Dense().Events, t.Dense().LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
	t.Dense().Queued, t.Dense().Lost, t.Dense().Drained, t.Dense().MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	t.Dense().Waits, t.Dense().WaitNs = make([]uint64, n), make([]uint64, n)
	if delivered {
		t.Dense().Delivered = make([]uint64, n)
	}
	depth := uint64(r.IntN(3))
	active, stopped := false, false
	for i := range n {
		if r.IntN(40) == 0 {
			active = !active
		}
		if r.IntN(60) == 0 {
			stopped = !stopped
		}
		if !active && depth == 0 {
			continue
		}
		var a uint64
		if active && r.IntN(3) > 0 {
			a = uint64(r.IntN(20))
		}
		t.Dense().Arrivals[i], t.Dense().Queued[i] = int64(a), a
		depth += a
		if a > 0 || r.IntN(4) == 0 {
			t.Dense().MaxDepth[i] = depth + uint64(r.IntN(2))
		}
		if a > 15 {
			t.Dense().Lost[i], t.Dense().Waits[i], t.Dense().WaitNs[i], t.Dense().LostEvents[i] = 1, 2, 3e5, 1
		}
		if !stopped && r.IntN(3) == 0 {
			d := min(depth, uint64(r.IntN(30)))
			t.Dense().Drained[i] = d
			depth -= d
			if delivered {
				t.Dense().Delivered[i] = d
			}
		}
	}
	return t
}

// sparseCopy is t in the sparse form, as a decoded file has it.
func sparseCopy(tb testing.TB, t *profile.Timeline) *profile.Timeline {
	tb.Helper()
	b, err := t.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	var s profile.Timeline
	if err := s.UnmarshalJSON(b); err != nil {
		tb.Fatal(err)
	}
	return &s
}

func sameBits(a, b []float64) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	return -1
}

// drainCases are the timelines the sparse drain is checked on: the
// sizingtest recordings and random ones.
func drainCases(t *testing.T) []*profile.Profile {
	var out []*profile.Profile
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 3, 4, 64)
	out = append(out, p)
	p, _ = sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 3, sizingtest.StoppedFor(5, 3000, 5000), 0)
	out = append(out, p)
	out = append(out, sizingtest.Day(0.2, 0.05))
	r := rand.New(rand.NewPCG(1, 2))
	for k := range 300 {
		q := &profile.Profile{Timeline: *randomTimeline(r, 1+r.IntN(3000), k%2 == 0)}
		if k%3 == 0 {
			q.AuditBefore = &profile.AuditStatus{Backlog: uint32(r.IntN(5))}
		}
		out = append(out, q)
	}
	return out
}

func startDepthOf(p *profile.Profile) float64 {
	if p.AuditBefore != nil {
		return float64(p.AuditBefore.Backlog)
	}
	return 0
}

// TestSparseDrain: the drain and the stalls from a timeline's rows are
// those of the dense series, to the bit, on dense and sparse timelines.
func TestSparseDrain(t *testing.T) {
	for k, p := range drainCases(t) {
		dense := &p.Timeline
		start := startDepthOf(p)
		want := anchorDrainRef(dense, start, spreadPassesRef(dense, start))
		for _, tl := range []*profile.Timeline{dense, sparseCopy(t, dense)} {
			got := noErr(timelineDrain(tl, start))
			if i := sameBits(got.dense(), want); i >= 0 {
				t.Fatalf("case %d: drain differs at bucket %d of %d", k, i, len(want))
			}
			if got, want := busiestSecondSpans(got.vals, got.spans, got.n, tl.BucketNs), busiestSecond(want, dense.BucketNs); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("case %d: busiest second %v, want %v", k, got, want)
			}
			if got, want := noErr(FindStalls(tl, start)), findStallsRef(dense, start, nil); !slices.Equal(got, want) {
				t.Fatalf("case %d: stalls %v, want %v", k, got, want)
			}
			h, s, ok, err := drainSpread(tl)
			if err != nil {
				t.Fatal(err)
			}
			wh, ws, wok := drainSpreadRef(dense)
			if math.Float64bits(h) != math.Float64bits(wh) || s != ws || ok != wok {
				t.Fatalf("case %d: drain spread %v %d %v, want %v %d %v", k, h, s, ok, wh, ws, wok)
			}
		}
	}
}

// TestReconstructRows: the demand, recommendation and stalls of a
// recording read back from a file (its rows) are those of the dense
// recording it was written from.
func TestReconstructRows(t *testing.T) {
	for k, dense := range drainCases(t)[:3] {
		var buf bytes.Buffer
		if err := dense.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		rows, err := profile.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Reconstruct(dense)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Reconstruct(rows)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: the demand from the rows differs from the dense one", k)
		}
		for _, stall := range []time.Duration{-1, 0, time.Second} {
			want, err := Recommend(dense, Options{Stall: stall})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Recommend(rows, Options{Stall: stall})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("case %d, stall %v: the recommendation from the rows differs from the dense one", k, stall)
			}
		}
		if got, want := noErr(MeasureStalls(rows)), noErr(MeasureStalls(dense)); !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: stalls %+v, want %+v", k, got, want)
		}
	}
}

// TestSlidingMaxSparse: slidingMax over a series held as its non-zero
// values (Demand.ProducersAt) gives what it gives over the dense series,
// with the jumps a replay over idle buckets makes.
func TestSlidingMaxSparse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		n := 1 + r.IntN(2000)
		v := make([]uint64, n)
		var sparse []ProducerCount
		every := []int{1, 5, 50, 300}[r.IntN(4)] // dense to far apart
		for i := range v {
			if r.IntN(every) == 0 {
				v[i] = uint64(1 + r.IntN(9))
				sparse = append(sparse, ProducerCount{Bucket: i, Tasks: v[i]})
			}
		}
		w := r.IntN(20) * r.IntN(20)
		dense, rows := slidingMax{v: v, w: w}, slidingMax{sparse: sparse, w: w}
		for i := 0; i < n; i += 1 + r.IntN(3)*r.IntN(30) {
			if got, want := rows.at(i), dense.at(i); got != want {
				t.Fatalf("at(%d) over %d buckets, window %d: %d, want %d", i, n, w, got, want)
			}
		}
	}
}
