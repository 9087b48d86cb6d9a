package sizing

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// scheduleDemands are demands of every kind a replay meets: sparse and
// dense, with producers per bucket, a recorded stall, kauditd's moves in a
// placed stall.
func scheduleDemands(t *testing.T) map[string]*Demand {
	t.Helper()
	moved, _ := sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 10_500), 2000)
	moved.KauditdSendTimeoutNs = int64(100 * time.Millisecond)
	stalled, _ := sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 9_800), 2000)
	ds := map[string]*Demand{
		"by hand":         producers(2, demand(10, 100, 0, 0, 0, 0, 0)),
		"stopped":         capacity(producers(1, demand(10, 100, 0, 0, 0, 0, 0, 0, 0)), 10, 0, 0, 0, 0, 10, 10, 10),
		"day":             reconstructWith(t, sizingtest.Day(0.5, 0.1), 64),
		"day dense":       reconstructWith(t, sizingtest.Day(0.2, 0.05), math.MaxInt),
		"bursts":          reconstructWith(t, must(sizingtest.Simulate(20_000, sizingtest.Bursts, 5, 5, 64)), 64),
		"stalled":         reconstructWith(t, stalled, 64),
		"moved":           reconstructWith(t, moved, 64),
		"moved, 2s stall": must2(stalledDemand(reconstructWith(t, moved, 64), 2*time.Second)),
	}
	if d := ds["moved, 2s stall"]; !d.Moves.movesIn(d.stallEnd - d.stallStart) {
		t.Fatal("the placed stall has no moves")
	}
	return ds
}

func stalledDemand(d *Demand, stall time.Duration) (*Demand, StallPlace) { return stalled(d, stall) }

func must2[T, U any](v T, _ U) T { return v }

var scheduleSettings = []Setting{{}, {Limit: 100}, {Limit: 300}, {Limit: 50, WaitJiffies: 5, HZ: 250},
	{Limit: 8192, WaitJiffies: 15000, HZ: 250}, {Limit: 300, WaitJiffies: 25, HZ: 250}, {Limit: 50, WaitJiffies: 4, HZ: 100}}

// TestReplayUnchanged: Replay, ReplayPeaks and ReplaySchedule of one step
// give what the replay gave before schedules (replayRef), to the bit, on
// both the wait and the no-wait path.
func TestReplayUnchanged(t *testing.T) {
	for name, d := range scheduleDemands(t) {
		for _, s := range scheduleSettings {
			want := replayRef(d, s, nil, 1)
			if got := Replay(d, s); got != want {
				t.Errorf("%s, %+v: Replay %+v, before schedules %+v", name, s, got, want)
			}
			tot, steps := ReplaySchedule(d, Constant(s))
			if tot != want || len(steps) != 1 || steps[0] != want {
				t.Errorf("%s, %+v: ReplaySchedule of one step %+v %+v, Replay %+v", name, s, tot, steps, want)
			}
			for _, every := range []int{1, 7} {
				ref := make([]float64, (d.Len()+every-1)/every)
				replayRef(d, s, ref, every)
				if got := ReplayPeaks(d, s, every); !slices.Equal(got, ref) {
					t.Errorf("%s, %+v: peaks of %d differ from before schedules", name, s, every)
				}
			}
		}
	}
}

// sameOutcome reports whether a and b agree: the counts summed over a
// schedule's steps to rounding, the rest to the bit.
func sameOutcome(a, b Outcome) bool {
	close := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y)) }
	return close(a.Lost, b.Lost) && close(a.DroppedDemand, b.DroppedDemand) && close(a.Waits, b.Waits) && close(a.WaitNs, b.WaitNs) &&
		a.MaxWaitNs == b.MaxWaitNs && a.MaxDepth == b.MaxDepth && a.BusyBuckets == b.BusyBuckets &&
		a.InferredBuckets == b.InferredBuckets && a.EndDepth == b.EndDepth
}

// TestScheduleSplit: a constant schedule cut into steps of the same
// setting replays as one step (the steps' sum), wherever the cuts fall:
// idle buckets jumped over, sleepers in line, a placed stall's moves.
func TestScheduleSplit(t *testing.T) {
	for name, d := range scheduleDemands(t) {
		n := d.Len()
		for _, s := range scheduleSettings {
			want := Replay(d, s)
			for _, cuts := range [][]int{{1}, {n / 3}, {n / 2, n/2 + 1}, {n / 5, 2 * n / 5, 3 * n / 5}, {n - 1}, {n}, {n + 5}} {
				sch := Constant(s)
				for _, c := range cuts {
					sch = append(sch, Step{First: c, Setting: s})
				}
				got, steps := ReplaySchedule(d, sch)
				if !sameOutcome(got, want) {
					t.Errorf("%s, %+v cut at %v: %+v, one step %+v", name, s, cuts, got, want)
				}
				if len(steps) != len(sch) || steps[len(steps)-1].EndDepth != want.EndDepth {
					t.Errorf("%s, %+v cut at %v: steps %+v", name, s, cuts, steps)
				}
			}
		}
	}
}

// twoBursts: 300 ms bursts at 3 five-record events a ms (15 records a ms
// against a consumer of 5) at 1 s and at 6 s of 10 s, 0.05 events a ms
// between.
func twoBursts(ms int) float64 {
	if ms >= 1000 && ms < 1300 || ms >= 6000 && ms < 6300 {
		return 3
	}
	return 0.05
}

// TestScheduleRaisedLimit is issue 20's recording: the first burst at
// backlog_limit 300, the limit raised to 20000, the same burst again. The
// replay at the settings in force when checks against each segment's
// recorded lost within TestRecommendBursts' 10% (and the e2e tests' one
// bucket of drain per burst); the replay at the first limit throughout,
// as before schedules, counts both bursts lost.
func TestScheduleRaisedLimit(t *testing.T) {
	const k, drain = 5, 5.0
	p, _ := sizingtest.SimulateLimits(10_000, twoBursts, k, func(float64) float64 { return drain }, func(ms int) uint32 {
		if ms < 4000 {
			return 300
		}
		return 20000
	})
	if len(p.Settings) != 1 || p.Totals.Lost == 0 {
		t.Fatalf("settings %+v, lost %d: not a raise after a loss", p.Settings, p.Totals.Lost)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	sch := ScheduleOf(p)
	if want := (Schedule{{0, Setting{Limit: 300, HZ: 250}}, {401, Setting{Limit: 20000, HZ: 250}}}); !slices.Equal(sch, want) {
		t.Fatalf("schedule %+v, want %+v", sch, want)
	}
	recorded, err := RecordedLost(&p.Timeline, sch)
	if err != nil {
		t.Fatal(err)
	}
	if recorded[0] != p.Totals.Lost || recorded[1] != 0 {
		t.Fatalf("recorded lost per segment %v, total %d", recorded, p.Totals.Lost)
	}
	r, err := Recommend(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	constant := Replay(r.Demand, Setting{Limit: 300, HZ: 250})
	t.Logf("recorded %v; replayed at the schedule %.0f (%.0f + %.0f); at 300 throughout %.0f",
		recorded, r.CurrentOutcome.Lost, r.CurrentSteps[0].Lost, r.CurrentSteps[1].Lost, constant.Lost)
	if len(r.CurrentSteps) != 2 || !slices.Equal(r.Schedule, sch) || !slices.Equal(r.RecordedLost, recorded) {
		t.Fatalf("recommendation's schedule %+v, steps %+v, recorded %v", r.Schedule, r.CurrentSteps, r.RecordedLost)
	}
	tolerance := max(0.1*float64(recorded[0]), drain*float64(p.Timeline.BucketNs)/1e6)
	if got := r.CurrentSteps[0].Lost; math.Abs(got-float64(recorded[0])) > tolerance {
		t.Errorf("first segment: replay loses %.0f, the simulation %d (tolerance %.0f)", got, recorded[0], tolerance)
	}
	if got := r.CurrentSteps[1].Lost; got >= 0.5 {
		t.Errorf("second segment at 20000: replay loses %.1f, the simulation nothing", got)
	}
	if r.CurrentOutcome.Lost != r.CurrentSteps[0].Lost+r.CurrentSteps[1].Lost {
		t.Errorf("total %v is not the segments' sum", r.CurrentOutcome.Lost)
	}
	if constant.Lost < 1.7*float64(p.Totals.Lost) {
		t.Errorf("at 300 throughout the replay loses %.0f, about the recorded %d: the second burst is not over 300", constant.Lost, p.Totals.Lost)
	}
}

// TestScheduleKeepsBudget: a sleeper keeps the backlog_wait_time it went
// to sleep with when the wait time changes (the kernel reads it once per
// audit_log_start call). 25 -> 0: the one asleep at the change sleeps its
// 250 ms, and after the change those that find no room are dropped at
// once. 25 -> 5: one who went to sleep after the change, behind one from
// before it, runs out of its 50 ms first.
func TestScheduleKeepsBudget(t *testing.T) {
	stopped := func(p float64, buckets int, records ...float64) *Demand {
		d := producers(p, demand(10, append(records, make([]float64, buckets-len(records))...)...))
		d.Capacity = make([]float64, buckets)
		d.Capacity[0] = 10
		return d
	}
	at := func(first int, wait uint32) Schedule {
		return Schedule{{0, Setting{Limit: 50, WaitJiffies: 25, HZ: 100}}, {first, Setting{Limit: 50, WaitJiffies: wait, HZ: 100}}}
	}
	t.Run("25 to 0", func(t *testing.T) {
		// Bucket 0: 61 fit, the one producer sleeps with the 62nd;
		// from bucket 2 the wait time is 0.
		d := stopped(1, 40, 62, 0, 0, 5, 5, 5, 5, 5)
		o, steps := ReplaySchedule(d, at(2, 0))
		if o.MaxWaitNs != 250e6 || steps[0].Waits != 1 || steps[1].Waits != 0 {
			t.Errorf("outcome %+v, steps %+v: want the sleeper to sleep 250 ms, and no one to sleep after the change", o, steps)
		}
		// Dropped at the end of bucket 24, then its deferred demand
		// drops at once.
		if !near(steps[1].Lost, 1+25) || steps[0].Lost != 0 {
			t.Errorf("lost %v then %v, want 0 then 26", steps[0].Lost, steps[1].Lost)
		}
	})
	t.Run("25 to 5", func(t *testing.T) {
		// Two producers: one sleeps with the 62nd record in bucket 0 (for
		// 250 ms); the other with one of bucket 3's records (for 50 ms).
		d := stopped(2, 10, 62, 0, 0, 5)
		o, _ := ReplaySchedule(d, at(2, 5))
		if o.MaxWaitNs != 50e6 || o.Lost < 1 {
			t.Errorf("10 buckets: %+v, want the later sleeper dropped after 50 ms", o)
		}
		d = stopped(2, 30, 62, 0, 0, 5)
		if o, _ := ReplaySchedule(d, at(2, 5)); o.MaxWaitNs != 250e6 {
			t.Errorf("30 buckets: %+v, want the first sleeper to sleep 250 ms", o)
		}
	})
}

// TestScheduleOf: the steps a profile's setting changes make.
func TestScheduleOf(t *testing.T) {
	const start, bucket = 5e9, 1e7
	change := func(ms int64, field string, old, new uint64) profile.SettingChange {
		return profile.SettingChange{MonoNs: start + ms*1e6, Field: field, Old: old, New: new, Seen: profile.SeenKernel}
	}
	limit, wait := profile.SettingBacklogLimit, profile.SettingBacklogWaitTime
	s := func(l, w uint32) Setting { return Setting{Limit: l, WaitJiffies: w, HZ: 250} }
	for _, tc := range []struct {
		name    string
		changes []profile.SettingChange
		want    Schedule
	}{
		{"none", nil, Schedule{{0, s(300, 5)}}},
		{"raise in bucket 14", []profile.SettingChange{change(145, limit, 300, 20000)}, Schedule{{0, s(300, 5)}, {15, s(20000, 5)}}},
		{"at a bucket's start", []profile.SettingChange{change(150, limit, 300, 20000)}, Schedule{{0, s(300, 5)}, {16, s(20000, 5)}}},
		{"before the start", []profile.SettingChange{change(-3, limit, 300, 20000)}, Schedule{{0, s(20000, 5)}}},
		{"in the last bucket", []profile.SettingChange{change(995, limit, 300, 20000)}, Schedule{{0, s(300, 5)}}},
		{"after the end", []profile.SettingChange{change(1500, limit, 300, 20000)}, Schedule{{0, s(300, 5)}}},
		{"other fields", []profile.SettingChange{change(100, profile.SettingPID, 640, 0), change(200, profile.SettingEnabled, 1, 0)},
			Schedule{{0, s(300, 5)}}},
		{"limit and wait", []profile.SettingChange{change(100, limit, 300, 20000), change(101, wait, 5, 0), change(500, wait, 0, 25)},
			Schedule{{0, s(300, 5)}, {11, s(20000, 0)}, {51, s(20000, 25)}}},
		{"undone in its bucket", []profile.SettingChange{change(100, limit, 300, 20000), change(105, limit, 20000, 300)},
			Schedule{{0, s(300, 5)}}},
		{"augenrules", []profile.SettingChange{change(100, limit, 300, 8192), change(300, limit, 8192, 8192), change(301, limit, 8192, 320)},
			Schedule{{0, s(300, 5)}, {11, s(8192, 5)}, {31, s(320, 5)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{HZ: 250, AuditBefore: &profile.AuditStatus{BacklogLimit: 300, BacklogWaitTime: 5}, Settings: tc.changes}
			p.Timeline = profile.NewTimeline(bucket, start, profile.Series{Arrivals: make([]int64, 100)})
			if got := ScheduleOf(p); !slices.Equal(got, tc.want) {
				t.Errorf("ScheduleOf = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := ScheduleOf(&profile.Profile{}); got != nil {
		t.Errorf("without audit_before: %+v", got)
	}
}

// TestRecordedLost: the lost column summed per step, from the rows.
func TestRecordedLost(t *testing.T) {
	tl := profile.NewTimeline(1e7, 0, profile.Series{Arrivals: make([]int64, 10), Lost: []uint64{1, 0, 2, 0, 0, 4, 0, 0, 8, 16}})
	for _, tc := range []struct {
		sch  Schedule
		want []uint64
	}{
		{Schedule{{0, Setting{}}}, []uint64{31}},
		{Schedule{{0, Setting{}}, {3, Setting{}}, {9, Setting{}}}, []uint64{3, 12, 16}},
		{Schedule{{0, Setting{}}, {5, Setting{}}, {6, Setting{}}, {20, Setting{}}}, []uint64{3, 4, 24, 0}},
	} {
		if got, err := RecordedLost(&tl, tc.sch); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.sch, got, err, tc.want)
		}
	}
}

// TestScheduleSparse: a schedule replays a sparse demand as the same
// demand with an entry for every bucket, step by step and to the bit,
// with its steps beginning inside the idle runs the replays jump over.
func TestScheduleSparse(t *testing.T) {
	stalled, _ := sizingtest.SimulateConsumer(20_000, sizingtest.Bursts, 5, sizingtest.StoppedFor(5, 9_000, 9_800), 2000)
	for name, p := range map[string]*profile.Profile{
		"day":     sizingtest.Day(0.5, 0.1),
		"bursts":  must(sizingtest.Simulate(20_000, sizingtest.Bursts, 5, 5, 64)),
		"stalled": stalled,
	} {
		sparse, dense := reconstructWith(t, p, 1), reconstructWith(t, p, math.MaxInt)
		n := dense.Len()
		// The second bucket of every idle run the sparse demand jumps.
		var idle []int
		for _, sp := range sparse.spans() {
			if end := sp.First + sp.Len + 1; end < n {
				idle = append(idle, end)
			}
		}
		if len(idle) < 3 {
			t.Fatalf("%s: %d idle runs", name, len(idle))
		}
		for _, sch := range []Schedule{
			{{0, Setting{Limit: 300}}, {idle[0], Setting{Limit: 100}}, {idle[1], Setting{}}, {n / 2, Setting{Limit: 64}}},
			{{0, Setting{Limit: 300, WaitJiffies: 25, HZ: 250}}, {idle[0], Setting{Limit: 100}}, {idle[1], Setting{Limit: 50, WaitJiffies: 5, HZ: 250}},
				{idle[2], Setting{Limit: 8192, WaitJiffies: 15000, HZ: 250}}},
		} {
			a, as := ReplaySchedule(sparse, sch)
			b, bs := ReplaySchedule(dense, sch)
			if a != b || !slices.Equal(as, bs) {
				t.Errorf("%s, %+v: sparse %+v %+v, dense %+v %+v", name, sch, a, as, b, bs)
			}
		}
	}
}

// TestScheduleProducersWindow: a change of the wait time changes how far
// back the producers who may sleep are counted (d.ProducersAt).
func TestScheduleProducersWindow(t *testing.T) {
	d := demand(0, make([]float64, 20)...)
	d.Records[0], d.Records[10] = 5, 100
	d.Capacity = make([]float64, 20)
	d.ProducersAt = []ProducerCount{{0, 4}, {10, 1}}
	// 10 ms of wait (a window of one bucket) until bucket 5, then
	// 250 ms: at bucket 10 the four tasks of bucket 0 count.
	sch := Schedule{{0, Setting{Limit: 50, WaitJiffies: 1, HZ: 100}}, {5, Setting{Limit: 50, WaitJiffies: 25, HZ: 100}}}
	if o, _ := ReplaySchedule(d, sch); o.Waits != 4 {
		t.Errorf("%+v: want 4 sleepers, one per task of the window", o)
	}
}

// TestScheduleNoWaitStep: a step with no wait time, or no limit, in a
// schedule the wait path replays (another step waits) does Replay's
// arithmetic: to the bit where the waiting step begins after the end.
func TestScheduleNoWaitStep(t *testing.T) {
	for name, d := range scheduleDemands(t) {
		if d.Moves.movesIn(d.stallEnd - d.stallStart) {
			continue // the wait path replays no moves, with or without schedules
		}
		for _, s := range []Setting{{}, {Limit: 100}, {Limit: 300}, {Limit: 300, WaitJiffies: 25}} {
			want := Replay(d, s)
			got, steps := ReplaySchedule(d, Schedule{{0, s}, {d.Len(), Setting{Limit: 300, WaitJiffies: 25, HZ: 250}}})
			if got != want || steps[0] != want {
				t.Errorf("%s, %+v: in the wait path %+v, Replay %+v", name, s, got, want)
			}
		}
	}
	if o, steps := ReplaySchedule(demand(10, 100), nil); o != (Outcome{}) || steps != nil {
		t.Errorf("no schedule: %+v %+v", o, steps)
	}
}

// TestScheduleEmptyBucket: a step that begins at a bucket the replay
// skips (the queue empty, nothing arriving) is in force from the next
// bucket it replays. The queue empties in bucket 0; the limit is raised
// from 50 to 1000 at bucket 2; bucket 4's 200 records all fit (100
// drained meanwhile).
func TestScheduleEmptyBucket(t *testing.T) {
	d := demand(100, 100, 0, 0, 0, 200)
	for _, sch := range []Schedule{
		{{0, Setting{Limit: 50}}, {2, Setting{Limit: 1000}}},
		// The same in the wait path.
		{{0, Setting{Limit: 50}}, {2, Setting{Limit: 1000}}, {5, Setting{Limit: 50, WaitJiffies: 25, HZ: 100}}},
	} {
		if o, steps := ReplaySchedule(d, sch); o.Lost != 0 || steps[1].MaxDepth != 100 {
			t.Errorf("%+v: %+v, steps %+v: want nothing lost, 100 deep", sch, o, steps)
		}
	}
}
