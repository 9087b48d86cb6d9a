package sizing

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestSparseDemand: a demand that keeps no entries for idle runs
// (Spans) replays, recommends and predicts exactly as the same demand
// with an entry for every bucket, to the bit: the steps the replays skip
// over idle buckets change nothing.
func TestSparseDemand(t *testing.T) {
	stalled, _ := sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 9_800), 2000)
	// kauditd giving up on the stopped consumer: the replay's moves.
	moved, _ := sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 10_500), 2000)
	moved.KauditdSendTimeoutNs = int64(100 * time.Millisecond)
	profiles := map[string]*profile.Profile{
		"day":     sizingtest.Day(0.5, 0.1),
		"idle":    sizingtest.Day(0.2, 0),
		"bursts":  must(sizingtest.Simulate(20_000, sizingtest.Bursts, 5, 5, 64)),
		"stalled": stalled,
		"moved":   moved,
	}
	settings := []Setting{{}, {Limit: 100}, {Limit: 300}, {Limit: 50, WaitJiffies: 5, HZ: 250}, {Limit: 8192, WaitJiffies: 15000, HZ: 250}}
	for name, p := range profiles {
		for _, run := range []int{1, 2, 64} {
			t.Run(fmt.Sprintf("%s/run=%d", name, run), func(t *testing.T) {
				sparse, dense := reconstructWith(t, p, run), reconstructWith(t, p, math.MaxInt)
				if dense.Spans != nil {
					t.Fatal("dense demand with spans")
				}
				if run == 1 && (sparse.Spans == nil || len(sparse.Records) == sparse.Len()) {
					t.Fatalf("no idle bucket left out of %d", sparse.Len())
				}
				if a, b := sparse.TotalRecords(), dense.TotalRecords(); a != b {
					t.Errorf("total records: sparse %v, dense %v", a, b)
				}
				got := sparse.Dense()
				for name, eq := range map[string]bool{
					"records": slices.Equal(got.Records, dense.Records), "burst": slices.Equal(got.Burst, dense.Burst),
					"capacity": slices.Equal(got.Capacity, dense.Capacity), "measured": slices.Equal(got.Measured, dense.Measured),
					"episode": slices.Equal(got.Episode, dense.Episode),
				} {
					if !eq {
						t.Errorf("the sparse demand's %s differ from the dense one's", name)
					}
				}
				for _, s := range settings {
					if a, b := Replay(sparse, s), Replay(dense, s); a != b {
						t.Errorf("%+v: sparse %+v, dense %+v", s, a, b)
					}
					depths := ReplayDepths(dense, s)
					if a := ReplayDepths(sparse, s); !slices.Equal(a, depths) {
						t.Errorf("%+v: depths differ", s)
					}
					// ReplayPeaks is the depths folded, as a chart
					// folds them.
					for _, step := range []int{1, 7, 100} {
						want := make([]float64, (len(depths)+step-1)/step)
						for i, v := range depths {
							want[i/step] = max(want[i/step], v)
						}
						if got := ReplayPeaks(sparse, s, step); !slices.Equal(got, want) {
							t.Errorf("%+v: peaks of %d differ", s, step)
						}
					}
				}
				if a, b := optimistic(sparse), optimistic(dense); Replay(a, Setting{}) != Replay(b, Setting{}) {
					t.Error("optimistic replays differ")
				}
				if a, b := LimitWithout(sparse, 0.3, 1.5), LimitWithout(dense, 0.3, 1.5); a != b {
					t.Errorf("without 30%%: sparse %+v, dense %+v", a, b)
				}
				am, ap := rates(sparse)
				bm, bp := rates(dense)
				if am != bm || ap != bp {
					t.Errorf("rates: sparse %v %v, dense %v %v", am, ap, bm, bp)
				}
				for _, stall := range []time.Duration{0, -1, 300 * time.Millisecond, 2 * time.Second} {
					a, b := recommendWith(t, p, run, stall), recommendWith(t, p, math.MaxInt, stall)
					if name == "moved" && stall == 2*time.Second && (a.Stall == 0 || a.StallMove == 0) {
						t.Errorf("the moved recording's stall %s moves at %s: no moves replayed", a.Stall, a.StallMove)
					}
					// What the report charts: the sized demand with its
					// stall placed.
					place := StallPlace{Stall: a.Stall, At: a.StallAt}
					limit := Setting{Limit: a.BacklogLimit}
					if x, y := ReplayPeaks(PlaceStall(a.Sized, place), limit, 3), ReplayPeaks(PlaceStall(b.Sized, place), limit, 3); !slices.Equal(x, y) {
						t.Errorf("stall %s: the placed stall's depths differ", stall)
					}
					a.Demand, a.Sized, b.Demand, b.Sized = nil, nil, nil, nil
					if fmt.Sprintf("%+v", *a) != fmt.Sprintf("%+v", *b) {
						t.Errorf("stall %s: sparse %+v\ndense %+v", stall, *a, *b)
					}
					for _, s := range settings {
						a, aat := predictWith(t, p, run, s, stall)
						b, bat := predictWith(t, p, math.MaxInt, s, stall)
						if a != b || aat != bat {
							t.Errorf("predict %+v with a stall of %s: sparse %+v at %+v, dense %+v at %+v", s, stall, a, aat, b, bat)
						}
					}
				}
			})
		}
	}
}

func must(p *profile.Profile, _ uint64) *profile.Profile { return p }

func reconstructWith(t *testing.T, p *profile.Profile, run int) *Demand {
	t.Helper()
	defer func(r int) { minIdleRun = r }(minIdleRun)
	minIdleRun = run
	d, err := Reconstruct(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func recommendWith(t *testing.T, p *profile.Profile, run int, stall time.Duration) *Recommendation {
	t.Helper()
	defer func(r int) { minIdleRun = r }(minIdleRun)
	minIdleRun = run
	r, err := Recommend(p, Options{Stall: stall})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func predictWith(t *testing.T, p *profile.Profile, run int, s Setting, stall time.Duration) (Outcome, StallPlace) {
	t.Helper()
	defer func(r int) { minIdleRun = r }(minIdleRun)
	minIdleRun = run
	o, at, _, err := Predict(p, s, stall)
	if err != nil {
		t.Fatal(err)
	}
	return o, at
}

// sparsify is d (dense) with no entries for runs of at least run buckets
// with no demand, no burst and capacity idle, as Reconstruct leaves them.
func sparsify(d *Demand, idle float64, run int) *Demand {
	c := *d
	c.Buckets, c.IdleCapacity, c.Spans = len(d.Records), idle, []Span{}
	c.Records, c.Burst, c.Capacity, c.Measured, c.Episode = nil, nil, nil, nil, nil
	isIdle := func(i int) bool { return d.Records[i] == 0 && d.Burst[i] == 0 && d.Capacity[i] == idle }
	for i := 0; i < len(d.Records); {
		j := i + 1
		for j < len(d.Records) && isIdle(j) == isIdle(i) {
			j++
		}
		if !isIdle(i) || j-i < run {
			if k := len(c.Spans) - 1; k >= 0 && c.Spans[k].First+c.Spans[k].Len == i {
				c.Spans[k].Len += j - i
			} else {
				c.Spans = append(c.Spans, Span{First: i, Off: len(c.Records), Len: j - i})
			}
			for k := i; k < j; k++ {
				c.Records, c.Burst, c.Capacity = append(c.Records, d.Records[k]), append(c.Burst, d.Burst[k]), append(c.Capacity, d.Capacity[k])
				c.Measured, c.Episode = append(c.Measured, false), append(c.Episode, false)
			}
		}
		i = j
	}
	return &c
}

// TestWorstStallSparse: the sparse stall search picks the start, and
// finds the need, the dense one does, to the bit, including where the
// consumer already takes nothing (idle capacity 0) and no start is
// allowed, and with kauditd's moves.
func TestWorstStallSparse(t *testing.T) {
	for seed := range 300 {
		n := 40 + seed%200
		d := demand(0)
		d.StartDepth = float64(seed % 7)
		idle := []float64{0, 0.3, 5, 17.5}[seed%4]
		x := uint32(seed*2654435761 + 1)
		next := func() uint32 { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return x }
		for range n {
			r := next()
			switch {
			case r%5 < 3: // idle
				d.Records, d.Burst, d.Capacity = append(d.Records, 0), append(d.Burst, 0), append(d.Capacity, idle)
			default:
				d.Records = append(d.Records, float64(r%40))
				d.Burst = append(d.Burst, float64(r%3))
				d.Capacity = append(d.Capacity, []float64{0, idle, float64(r % 23), 3.7}[r/7%4])
			}
		}
		d.Measured, d.Episode = make([]bool, n), make([]bool, n)
		// Two of three get kauditd's moves, as fuzzDemand gives them.
		if seed%3 != 0 {
			f := 1 + seed%5
			d.Moves = Moves{First: f, Keep: seed / 5 % (f + 1), Window: 1 + seed/7%7, HoldLag: seed / 11 % 10}
		}
		for _, run := range []int{1, 2, 5} {
			s := sparsify(d, idle, run)
			for _, stall := range []int{1, 2, 3, 7, n / 2, n - 1, n, n + 3} {
				if stall < 1 {
					continue
				}
				ds, dn := worstStall(d, stall)
				ss, sn := worstStall(s, stall)
				if ds != ss || dn != sn && !(math.IsInf(dn, -1) && math.IsInf(sn, -1)) {
					t.Fatalf("seed %d, run %d, stall %d: sparse %d (%v), dense %d (%v)", seed, run, stall, ss, sn, ds, dn)
				}
			}
		}
	}
}

// TestWorstStallSparseGivesUp: a consumer that takes nothing after a
// stall would have the sparse search step every bucket to the end for
// every start; past its budget it leaves the search to the dense one,
// which bisects. One that drains does not use it up.
func TestWorstStallSparseGivesUp(t *testing.T) {
	const n = 3000
	for _, drain := range []float64{0, 60} {
		d := demand(0, make([]float64, n)...)
		d.Capacity = make([]float64, n)
		d.Measured, d.Episode = make([]bool, n), make([]bool, n)
		for i := range d.Capacity {
			d.Capacity[i] = drain
			if i%100 == 0 {
				d.Records[i] = 50
			}
		}
		d.Moves = Moves{First: 3, Keep: 1, Window: 5, HoldLag: 4}
		s := sparsify(d, drain, 2)
		if _, _, ok := worstStallSparse(s, 20); ok != (drain > 0) {
			t.Errorf("drain %v: the sparse search finished: %v", drain, ok)
		}
		ds, dn := worstStall(d, 20)
		if ss, sn := worstStall(s, 20); ss != ds || sn != dn {
			t.Errorf("drain %v: sparse %d (%v), dense %d (%v)", drain, ss, sn, ds, dn)
		}
	}
}
