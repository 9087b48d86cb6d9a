package sizing

import (
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

func TestLimitWithout(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, bursts, 5, 5.0, 64)
	rec, err := Recommend(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := LimitWithout(rec.Demand, 0, DefaultHeadroom); got.BacklogLimit != rec.BacklogLimit {
		t.Errorf("removing nothing gives %d, Recommend %d", got.BacklogLimit, rec.BacklogLimit)
	}
	if got := LimitWithout(rec.Demand, 1, DefaultHeadroom); got.BacklogLimit != FloorLimit {
		t.Errorf("removing everything gives %d, want the floor %d", got.BacklogLimit, FloorLimit)
	}
	prev := rec.BacklogLimit
	for _, share := range []float64{0.1, 0.3, 0.5, 0.8} {
		got := LimitWithout(rec.Demand, share, DefaultHeadroom)
		if got.BacklogLimit > prev || got.SustainedOverload {
			t.Errorf("without %.0f%%: %+v, after %d for less removed", share*100, got, prev)
		}
		prev = got.BacklogLimit
	}
	// The truth, simulated record by record: the same bursts, thinned.
	thin := func(ms int) float64 { return bursts(ms) * 0.5 }
	_, truePeak := sizingtest.Simulate(10_000, thin, 5, 5.0, 0)
	got := LimitWithout(rec.Demand, 0.5, 1)
	t.Logf("without half: %d, simulated peak %d", got.BacklogLimit, truePeak)
	// Within the replay's error (TestRecommendBursts: 10%) and Tidy's rounding up.
	if float64(got.BacklogLimit) < float64(truePeak)*0.9 || float64(got.BacklogLimit) > float64(truePeak)*1.2 {
		t.Errorf("without half the demand: %d, the simulated peak is %d", got.BacklogLimit, truePeak)
	}
}

func TestLimitWithoutSustained(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, func(int) float64 { return 0.5 }, 4, 1.5, 64)
	rec, err := Recommend(p, Options{})
	if err != nil || !rec.SustainedOverload {
		t.Fatalf("not sustained: %+v %v", rec, err)
	}
	if w := LimitWithout(rec.Demand, 0.1, DefaultHeadroom); !w.SustainedOverload {
		t.Errorf("removing 10%% of a 1.33x overload: %+v", w)
	}
	if w := LimitWithout(rec.Demand, 0.5, DefaultHeadroom); w.SustainedOverload || w.BacklogLimit == 0 {
		t.Errorf("removing half of a 1.33x overload: %+v", w)
	}
}

func TestRuleDemand(t *testing.T) {
	for _, tc := range []struct {
		r    profile.Rule
		want float64
	}{
		{profile.Rule{Records: 50, Events: 10}, 50},
		// 8 events kept with 40 records (5 per event); 2 lost events made
		// 2 records, and 2x4 more were never made.
		{profile.Rule{Records: 42, Events: 10, LostEvents: 2}, 50},
		// No kept event: the fallback per-event count.
		{profile.Rule{Records: 3, Events: 3, LostEvents: 3}, 3 + 3*2},
	} {
		if got := RuleDemand(tc.r, 3); got != tc.want {
			t.Errorf("RuleDemand(%+v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}
