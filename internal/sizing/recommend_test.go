package sizing

import (
	"errors"
	"math"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// workload drives sim: events per millisecond at millisecond ms.
type workload func(ms int) float64

// sim is a record-by-record queue, independent of Replay's per-bucket
// arithmetic: events of k records arrive back to back; a record is queued
// while the queue is not above limit (0: unlimited), else lost, and a lost
// first record (SYSCALL) ends its event; the consumer takes drainPerMs
// records each millisecond. It returns the profile it would record and the
// deepest the queue got.
func sim(ms int, w workload, k int, drainPerMs float64, limit uint32) (*profile.Profile, uint64) {
	const bucketMs = 10
	n := ms / bucketMs
	p := &profile.Profile{SchemaVersion: 1, Attach: "fentry", HZ: 250, KernelRelease: "sim", DurationNs: int64(ms) * 1e6,
		AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: limit}}
	t := &p.Timeline
	t.BucketNs = bucketMs * 1e6
	t.Arrivals, t.Events, t.LostEvents = make([]int64, n), make([]uint64, n), make([]uint64, n)
	t.Queued, t.Lost, t.Drained, t.MaxDepth = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	t.Waits, t.WaitNs = make([]uint64, n), make([]uint64, n)
	var q, peak uint64
	var evAcc, drAcc float64
	for m := 0; m < ms; m++ {
		b := m / bucketMs
		if b >= n {
			break
		}
		evAcc += w(m)
		for ; evAcc >= 1; evAcc-- {
			t.Events[b]++
			for r := 0; r < k; r++ {
				t.Arrivals[b]++
				if limit > 0 && q > uint64(limit) {
					t.Lost[b]++
					if r == 0 {
						t.LostEvents[b]++
						break
					}
					continue
				}
				q++
				t.Queued[b]++
				t.MaxDepth[b] = max(t.MaxDepth[b], q)
				peak = max(peak, q)
			}
		}
		drAcc += drainPerMs
		for ; drAcc >= 1 && q > 0; drAcc-- {
			q--
			t.Drained[b]++
		}
		if q == 0 {
			drAcc = math.Min(drAcc, 1)
		}
	}
	var rule profile.Rule
	rule.Key, rule.Syscall = "load", 257
	for i := 0; i < n; i++ {
		rule.Records += uint64(t.Arrivals[i])
		rule.Events += t.Events[i]
		rule.Lost += t.Lost[i]
		rule.LostEvents += t.LostEvents[i]
		p.Totals.Queued += t.Queued[i]
		p.Totals.Drained += t.Drained[i]
		p.Totals.MaxDepth = max(p.Totals.MaxDepth, t.MaxDepth[i])
	}
	p.Totals.Records, p.Totals.Events, p.Totals.Lost, p.Totals.LostEvents = rule.Records, rule.Events, rule.Lost, rule.LostEvents
	p.Totals.BytesQueued = p.Totals.Queued * 2304
	p.Totals.LostByReason = map[string]uint64{"backlog limit exceeded": rule.Lost}
	p.Rules = []profile.Rule{rule}
	p.Processes = []profile.Process{{Tgid: 100, Comm: "load", Records: rule.Records, Lost: rule.Lost}}
	return p, peak
}

// bursts: 300 ms at 3x the consumer's event rate every 2 s, idle between.
func bursts(ms int) float64 {
	if ms%2000 < 300 {
		return 3
	}
	return 0.05
}

func TestRecommendBursts(t *testing.T) {
	const k, drain = 5, 5.0 // 5-record events; the consumer takes one event a ms
	p, _ := sim(10_000, bursts, k, drain, 64)
	if p.Totals.Lost == 0 {
		t.Fatal("the recorded workload lost nothing at limit 64: not an overload")
	}
	_, truePeak := sim(10_000, bursts, k, drain, 0)
	r, err := Recommend(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded lost %d at 64; true peak %d; replay peak %.0f, minimum %d, recommended %d; predicted lost at 64: %.0f",
		p.Totals.Lost, truePeak, r.PeakDepth, r.MinimumLimit, r.BacklogLimit, r.CurrentOutcome.Lost)
	if r.SustainedOverload {
		t.Fatal("bursts with idle time between them called sustained overload")
	}
	if rel := math.Abs(float64(r.MinimumLimit)-float64(truePeak)) / float64(truePeak); rel > 0.1 {
		t.Errorf("minimum limit %d is %.0f%% off the true peak %d", r.MinimumLimit, rel*100, truePeak)
	}
	if rel := math.Abs(r.CurrentOutcome.Lost-float64(p.Totals.Lost)) / float64(p.Totals.Lost); rel > 0.1 {
		t.Errorf("predicted %.0f lost at limit 64, the simulation lost %d (%.0f%% off)", r.CurrentOutcome.Lost, p.Totals.Lost, rel*100)
	}
	// The proof the VM test makes with a real kernel: the recommended
	// limit holds the same workload, half of it does not.
	if again, _ := sim(10_000, bursts, k, drain, r.BacklogLimit); again.Totals.Lost != 0 {
		t.Errorf("limit %d lost %d in the simulation", r.BacklogLimit, again.Totals.Lost)
	}
	if half, _ := sim(10_000, bursts, k, drain, r.BacklogLimit/2); half.Totals.Lost == 0 {
		t.Errorf("limit %d lost nothing: the recommendation is not tight", r.BacklogLimit/2)
	}
	if r.MemoryBytes != uint64(r.BacklogLimit)*2304 || r.MemoryBytesUpperBound != uint64(r.BacklogLimit)*8970 {
		t.Errorf("memory %d (upper bound %d) for limit %d", r.MemoryBytes, r.MemoryBytesUpperBound, r.BacklogLimit)
	}
	// A budget smaller than the recommendation: the largest limit within it.
	b, err := Recommend(p, Options{MemoryBudget: uint64(r.BacklogLimit) * 2304 / 4})
	if err != nil {
		t.Fatal(err)
	}
	if !b.OverBudget || b.BudgetLimit != r.BacklogLimit/4 || b.BudgetLost <= 0 {
		t.Errorf("over budget %v, budget limit %d (want %d), lost %v", b.OverBudget, b.BudgetLimit, r.BacklogLimit/4, b.BudgetLost)
	}
}

func TestRecommendSustained(t *testing.T) {
	p, _ := sim(5_000, func(int) float64 { return 1.5 }, 5, 5, 64)
	r, err := Recommend(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.SustainedOverload || r.BacklogLimit != 0 || r.RideOut == 0 || r.GrowthPerMinute <= 0 {
		t.Fatalf("sustained overload not reported: %+v", r)
	}
	t.Logf("ride-out %d, growth %.0f/min, arrivals %.0f/s, drain %.0f/s", r.RideOut, r.GrowthPerMinute, r.ArrivalRate, r.DrainRate)
}

func TestRecommendQuiet(t *testing.T) {
	// The consumer keeps up: the floor, and the drain rate is a lower bound.
	p, _ := sim(3_000, func(int) float64 { return 0.2 }, 5, 5, 64)
	r, err := Recommend(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.BacklogLimit != FloorLimit || r.SustainedOverload {
		t.Fatalf("quiet workload: limit %d, sustained %v", r.BacklogLimit, r.SustainedOverload)
	}
}

func TestRecommendRefuses(t *testing.T) {
	short, _ := sim(500, bursts, 5, 5, 64)
	idle, _ := sim(3_000, func(int) float64 { return 0 }, 5, 5, 64)
	netlink, _ := sim(3_000, bursts, 5, 5, 64)
	netlink.Attach = profile.AttachNetlink
	for name, p := range map[string]*profile.Profile{"short": short, "idle": idle, "netlink": netlink} {
		if _, err := Recommend(p, Options{}); !errors.Is(err, ErrTooLittle) {
			t.Errorf("%s: %v, want ErrTooLittle", name, err)
		}
	}
	ok, _ := sim(3_000, bursts, 5, 5, 64)
	if _, err := Recommend(ok, Options{Headroom: 0.5}); err == nil {
		t.Error("headroom 0.5 accepted")
	}
}

// BenchmarkRecommendHour: recommend over a one-hour profile (10 ms buckets,
// bursts every 2 s). The goal is under a second.
func BenchmarkRecommendHour(b *testing.B) {
	p, _ := sim(3_600_000, bursts, 5, 5, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Recommend(p, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRecommend: any simulated workload gives a recommendation or a
// refusal, never a panic; a recommendation is never below the floor, and
// when the simulation was not sustained overload, the recommended limit
// holds the same workload in the simulation.
func FuzzRecommend(f *testing.F) {
	f.Add(uint8(30), uint8(1), uint8(5), uint8(50), uint16(64), uint16(2000), uint16(300))
	f.Add(uint8(15), uint8(15), uint8(5), uint8(50), uint16(64), uint16(100), uint16(50))
	f.Fuzz(func(t *testing.T, burst, idle, k, drain uint8, limit, period, on uint16) {
		if k == 0 || k > 20 || period == 0 {
			return
		}
		w := func(ms int) float64 {
			if ms%int(period) < int(on) {
				return float64(burst) / 10
			}
			return float64(idle) / 10
		}
		p, _ := sim(3_000, w, int(k), float64(drain)/10, uint32(limit))
		r, err := Recommend(p, Options{})
		if err != nil {
			if !errors.Is(err, ErrTooLittle) {
				t.Fatal(err)
			}
			return
		}
		if math.IsNaN(r.PeakDepth) || math.IsNaN(r.DrainRate) || math.IsNaN(r.ArrivalRate) {
			t.Fatalf("NaN in %+v", r)
		}
		if r.SustainedOverload {
			return
		}
		if r.BacklogLimit < FloorLimit {
			t.Fatalf("limit %d below the floor", r.BacklogLimit)
		}
	})
}
