package sizing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// sameRecommendation fails t unless Recommend and recommendRef (every
// bucket visited) give the same recommendation, or the same error.
func sameRecommendation(t *testing.T, name string, p *profile.Profile, opts Options) {
	t.Helper()
	got, gerr := Recommend(p, opts)
	want, werr := recommendRef(p, opts)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("%s: error %v, the reference's %v", name, gerr, werr)
	}
	if gerr != nil {
		return
	}
	if reflect.DeepEqual(got, want) {
		return
	}
	// Say where: the demands field by field, then the rest.
	for _, pair := range [][2]*Demand{{got.Demand, want.Demand}, {got.Sized, want.Sized}} {
		g, w := reflect.ValueOf(pair[0]).Elem(), reflect.ValueOf(pair[1]).Elem()
		for f := range g.NumField() {
			if !reflect.DeepEqual(g.Field(f).Interface(), w.Field(f).Interface()) {
				t.Errorf("%s: Demand.%s differs from the reference's", name, g.Type().Field(f).Name)
			}
		}
	}
	got.Demand, got.Sized, want.Demand, want.Sized = nil, nil, nil, nil
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	t.Fatalf("%s: recommendation differs from the reference's:\n%s\nwant\n%s", name, gj, wj)
}

// sameDemand fails t unless Reconstruct and reconstructRef give the same
// demand (unexported fields too), or the same error.
func sameDemand(t *testing.T, name string, p *profile.Profile) {
	t.Helper()
	got, gerr := Reconstruct(p)
	want, werr := reconstructRef(p)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("%s: error %v, the reference's %v", name, gerr, werr)
	}
	if gerr != nil || reflect.DeepEqual(got, want) {
		return
	}
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for f := range g.NumField() {
		if !reflect.DeepEqual(g.Field(f).Interface(), w.Field(f).Interface()) {
			t.Errorf("%s: Demand.%s differs from the reference's", name, g.Type().Field(f).Name)
		}
	}
}

// decoded is p written to a file and read back: only its rows.
func decoded(t *testing.T, p *profile.Profile) *profile.Profile {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestRecommendSkipsIdleRuns: Reconstruct skips the runs of buckets
// without rows or drain (issue 14), and the recommendation is the same to
// the bit as visiting every bucket gives, on the days of the benchmarks
// (a file's rows and the dense form) and the sizing tests' workloads.
func TestRecommendSkipsIdleRuns(t *testing.T) {
	// stallDay is BenchmarkRecommendDayStall's day.
	stallDay := func(hours, busy float64) *profile.Profile {
		p := sizingtest.Day(hours, busy)
		for i := p.Timeline.Len() / 2; i < p.Timeline.Len()/2+50; i++ {
			p.Timeline.Dense().Delivered[i] = 0
		}
		p.KauditdSendTimeoutNs = int64(100 * time.Millisecond)
		return p
	}
	same := func(name string, p *profile.Profile, opts ...Options) {
		for _, form := range []struct {
			name string
			p    *profile.Profile
		}{{"dense", p}, {"rows", decoded(t, p)}} {
			for _, o := range opts {
				sameRecommendation(t, fmt.Sprintf("%s/%s/%+v", name, form.name, o), form.p, o)
			}
		}
	}
	all := []Options{{}, {Stall: -1}, {Stall: 2 * time.Second, Headroom: 1.5, MemoryBudget: 1 << 20}}
	// The benchmarks' days, whole, in the form each benchmark has them:
	// every form and option would take a minute here.
	if !testing.Short() {
		same("day idle", sizingtest.Day(24, 0), Options{})
		busy := decoded(t, sizingtest.Day(24, 2))
		sameRecommendation(t, "day busy/rows", busy, Options{})
		sameRecommendation(t, "day stall/dense", stallDay(24, 2), Options{Stall: -1})
	}
	// Shorter days with every option.
	same("3h idle", sizingtest.Day(3, 0), all...)
	same("3h busy", sizingtest.Day(3, 0.25), all...)
	same("3h stall", stallDay(3, 0.25), all...)
	same("half-hour", sizingtest.Day(0.5, 0.1), all...)

	steady := func(int) float64 { return 0.25 }
	twoBursts := func(ms int) float64 {
		if ms >= 1000 && ms < 1300 || ms >= 6000 && ms < 6300 {
			return 3
		}
		return 0.05
	}
	sims := map[string]*profile.Profile{}
	sim := func(p *profile.Profile, _ uint64) *profile.Profile { return p }
	sims["bursts"] = sim(sizingtest.Simulate(20_000, sizingtest.Bursts, 5, 5, 64))
	sims["bursts-3k"] = sim(sizingtest.Simulate(3_000, sizingtest.Bursts, 5, 5, 64))
	sims["bursts-unlimited"] = sim(sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5.0, 0))
	sims["bursts-k3"] = sim(sizingtest.Simulate(10_000, sizingtest.Bursts, 3, 4, 64))
	sims["steady"] = sim(sizingtest.Simulate(8_000, steady, 5, 5, 5000))
	sims["flat"] = sim(sizingtest.Simulate(5_000, func(int) float64 { return 1.5 }, 5, 5, 64))
	sims["thin"] = sim(sizingtest.Simulate(10_000, func(ms int) float64 { return sizingtest.Bursts(ms) * 0.5 }, 5, 5.0, 0))
	sims["half"] = sim(sizingtest.Simulate(10_000, func(int) float64 { return 0.5 }, 4, 1.5, 64))
	sims["sparse"] = sim(sizingtest.Simulate(3_000, func(int) float64 { return 0.2 }, 5, 5, 64))
	sims["stopped"] = sim(sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 9_800), 2000))
	sims["stopped-long"] = sim(sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 10_500), 2000))
	sims["stopped-unlimited"] = sim(sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 3, sizingtest.StoppedFor(5, 3000, 5000), 0))
	sims["steady-stopped"] = sim(sizingtest.SimulateConsumer(8_000, steady, 5, sizingtest.StoppedFor(5, 3000, 5000), 5000))
	sims["limits"] = sim(sizingtest.SimulateLimits(10_000, twoBursts, 5, func(float64) float64 { return 5 }, func(ms int) uint32 {
		if ms < 4000 {
			return 300
		}
		return 20000
	}))
	for name, p := range sims {
		same(name, p, all...)
	}
}

// randomSparse is a recording of n buckets with clusters of rows far
// apart: the queue left non-empty across a gap, drained late or never
// (a stall to the end), lost and waited records, delivered short of
// drained, a start depth: what a run skipped must carry over.
func randomSparse(rng *rand.Rand, n int) *profile.Profile {
	p := &profile.Profile{SchemaVersion: 1, Attach: "fentry", HZ: 250, KernelRelease: "rand", DurationNs: int64(n) * 1e7,
		AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: 64, Backlog: uint32(rng.Intn(3) * rng.Intn(50))}}
	t := &p.Timeline
	s := t.Dense()
	t.BucketNs = 1e7
	s.Arrivals, s.Events, s.LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
	s.Queued, s.Lost, s.Drained, s.MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	s.Waits, s.WaitNs = make([]uint64, n), make([]uint64, n)
	if rng.Intn(2) == 0 {
		s.Producers, s.Delivered = make([]uint64, n), make([]uint64, n)
	}
	depth := uint64(p.AuditBefore.Backlog)
	tot := &p.Totals
	tot.LostByReason = map[string]uint64{}
	stopAt := n
	if rng.Intn(3) == 0 {
		stopAt = n/2 + rng.Intn(n/2) // the consumer stops for good
	}
	for c := rng.Intn(40) + 5; c > 0; c-- {
		i := rng.Intn(n)
		noDrain := rng.Intn(4) == 0 // the cluster leaves its records queued
		for l := rng.Intn(30) + 1; l > 0 && i < n; l-- {
			a := uint64(rng.Intn(3) * rng.Intn(40))
			b := profile.Bucket{Index: int64(i), Arrivals: int64(a), Queued: a, Events: a / 3}
			depth += a
			if rng.Intn(5) > 0 {
				b.MaxDepth = depth - uint64(rng.Intn(int(min(depth, 5))+1))
			}
			if i < stopAt && !noDrain && rng.Intn(3) > 0 {
				b.Drained = uint64(rng.Intn(int(depth) + 1))
				depth -= b.Drained
			}
			if rng.Intn(8) == 0 {
				b.Lost, b.LostEvents = uint64(rng.Intn(5)+1), uint64(rng.Intn(2))
			}
			if rng.Intn(8) == 0 {
				b.Waits, b.WaitNs = uint64(rng.Intn(3)+1), uint64(rng.Intn(20e6))
			}
			if s.Producers != nil {
				b.Producers = uint64(rng.Intn(3))
				b.Delivered = b.Drained
				if rng.Intn(4) == 0 {
					b.Delivered = b.Drained / 2
				}
			}
			t.SetBucket(b)
			tot.Records += a
			tot.Queued += a
			tot.Drained += b.Drained
			tot.Lost += b.Lost
			tot.LostEvents += b.LostEvents
			tot.MaxDepth = max(tot.MaxDepth, depth)
			i += 1 + rng.Intn(3)*rng.Intn(8) // some gaps inside a cluster
		}
	}
	tot.Records += 100 // never too little
	tot.BytesQueued = tot.Queued * 2560
	p.Rules = []profile.Rule{{Key: "k", Events: 100, Records: 300, LostEvents: uint64(rng.Intn(10))}}
	p.Processes = []profile.Process{{Tgid: 1, Records: 200}, {Tgid: 2, Records: uint64(rng.Intn(200))}}
	return p
}

// TestReconstructSkipsIdleRunsRandom: the same demand as visiting every
// bucket, on random sparse recordings, dense and read back from a file,
// and with every idle run kept (minIdleRun 1 and large).
func TestReconstructSkipsIdleRunsRandom(t *testing.T) {
	defer func(r int) { minIdleRun = r }(minIdleRun)
	rng := rand.New(rand.NewSource(14))
	runs := 300
	if testing.Short() {
		runs = 50
	}
	for k := range runs {
		p := randomSparse(rng, 200+rng.Intn(20_000))
		minIdleRun = []int{1, 64, 1 << 20}[k%3]
		name := fmt.Sprintf("random %d (minIdleRun %d)", k, minIdleRun)
		sameDemand(t, name, p)
		sameDemand(t, name+" rows", decoded(t, p))
		if k%10 == 0 {
			sameRecommendation(t, name, p, Options{Stall: -1})
		}
	}
}
