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
