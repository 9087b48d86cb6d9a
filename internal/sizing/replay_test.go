package sizing

import (
	"math"
	"testing"
)

// demand builds a Demand of 10 ms buckets whose consumer takes perBucket
// records a bucket.
func demand(perBucket float64, records ...float64) *Demand {
	return &Demand{BucketNs: 10e6, Records: records, Burst: make([]float64, len(records)),
		RecordsPerLostEvent: 1, DemandPerLost: 1, DrainRate: perBucket * 100}
}

func producers(n float64, d *Demand) *Demand { d.Producers = n; return d }

func capacity(d *Demand, perBucket ...float64) *Demand { d.Capacity = perBucket; return d }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// The expected figures below were worked out by hand from the kernel's
// rules (queue while length <= limit, so it reaches limit+1), with arrivals
// and drain spread evenly over a bucket: 100 arrivals and 10 drained in one
// bucket leave 90.
func TestReplayByHand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       *Demand
		s       Setting
		lost    float64
		waits   float64
		waitNs  float64
		maxWait float64
		depth   float64
		end     float64
	}{
		{name: "below capacity", d: demand(10, 5, 5, 5, 5), s: Setting{Limit: 64}},
		{name: "burst, no limit", d: demand(10, 100, 0, 0, 0), s: Setting{}, depth: 90, end: 60},
		// Room in bucket 0: 51 slots up to the limit + 10 drained = 61.
		{name: "burst over limit 50, no wait", d: demand(10, 100, 0, 0, 0), s: Setting{Limit: 50}, lost: 39, depth: 51, end: 21},
		// limit 10 lets the queue reach 11: 11 records fit, the 12th drops.
		{name: "strict greater-than: 11 fit", d: demand(0, 11), s: Setting{Limit: 10}, depth: 11, end: 11},
		{name: "strict greater-than: 12th lost", d: demand(0, 12), s: Setting{Limit: 10}, lost: 1, depth: 11, end: 11},
		// With a wait time (4 jiffies at HZ 100: 40 ms, four buckets)
		// and two producers: in bucket 0, 61 fit; of the other 39, two
		// sleep (one per producer) and 37 are deferred, not yet made. In
		// each later bucket the consumer frees 10: the 2 sleepers go in
		// (10 ms asleep), 8 of the deferred fit, and 2 more sleep, until
		// bucket 4 takes the last 7.
		{name: "burst over limit 50, two producers wait", d: producers(2, demand(10, 100, 0, 0, 0, 0, 0)),
			s: Setting{Limit: 50, WaitJiffies: 4, HZ: 100}, waits: 8, waitNs: 8 * 10e6, maxWait: 10e6, depth: 51, end: 40},
		// One producer, and a consumer that stops for four buckets: the
		// sleeper runs out of budget in bucket 3 (40 ms) and is dropped;
		// the producer makes its deferred demand again in bucket 4, and
		// sleeps with it; from bucket 5 the consumer frees 10 a bucket.
		{name: "sleeper runs out of budget", d: capacity(producers(1, demand(10, 100, 0, 0, 0, 0, 0, 0, 0)), 10, 0, 0, 0, 0, 10, 10, 10),
			s: Setting{Limit: 50, WaitJiffies: 4, HZ: 100}, lost: 1, waits: 5, waitNs: 80e6, maxWait: 40e6, depth: 51, end: 51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Replay(tc.d, tc.s)
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"lost", o.Lost, tc.lost}, {"waits", o.Waits, tc.waits}, {"wait_ns", o.WaitNs, tc.waitNs},
				{"max_wait_ns", o.MaxWaitNs, tc.maxWait}, {"max_depth", o.MaxDepth, tc.depth}, {"end_depth", o.EndDepth, tc.end}} {
				if !near(c.got, c.want) {
					t.Errorf("%s = %v, want %v (outcome %+v)", c.what, c.got, c.want, o)
				}
			}
		})
	}
}

// TestReplayDepths: the queue bucket by bucket, worked out by hand as in
// TestReplayByHand. A bucket's deepest is the larger of its two ends plus
// its burst: 100 arrivals and 10 drained leave 90 at the end of bucket 0,
// and bucket 1 starts there.
func TestReplayDepths(t *testing.T) {
	withStart := func(start float64, d *Demand) *Demand { d.StartDepth = start; return d }
	withBurst := func(d *Demand, burst ...float64) *Demand { d.Burst = burst; return d }
	for _, tc := range []struct {
		name string
		d    *Demand
		s    Setting
		want []float64
	}{
		// Everything drained within its bucket: the queue is empty.
		{"below capacity", demand(10, 5, 5, 5, 5), Setting{Limit: 64}, []float64{0, 0, 0, 0}},
		{"burst, no limit", demand(10, 100, 0, 0, 0), Setting{}, []float64{90, 90, 80, 70}},
		// Empty again from bucket 3: 0 there, not the last level.
		{"drains to empty", demand(10, 30, 0, 0, 0, 0), Setting{}, []float64{20, 20, 10, 0, 0}},
		// Limit 50 lets the queue reach 51 and no further.
		{"clipped at limit+1", demand(10, 100, 0, 0, 0), Setting{Limit: 50}, []float64{51, 51, 41, 31}},
		// Deeper than the limit at the start (it was raised): clipped too.
		{"starts above the limit", withStart(60, demand(10, 5)), Setting{Limit: 50}, []float64{51}},
		// The burst rides on top of the level: 20 + 15, and 10 + 15.
		{"burst", withBurst(demand(10, 30, 0, 0), 15, 15, 0), Setting{}, []float64{35, 35, 10}},
		// At limit 30 the burst leaves room for 26 (31 - 15 + 10 drained):
		// the level is 16, not 20, and 6 in bucket 2.
		{"burst clipped", withBurst(demand(10, 30, 0, 0), 15, 15, 0), Setting{Limit: 30}, []float64{31, 31, 6}},
		{"no demand", demand(10, 0, 0), Setting{}, []float64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReplayDepths(tc.d, tc.s)
			if len(got) != len(tc.want) {
				t.Fatalf("%d depths, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !near(got[i], tc.want[i]) {
					t.Fatalf("depths %v, want %v", got, tc.want)
				}
			}
			checkDepths(t, tc.d, tc.s, got)
		})
	}
	// With a wait time the buckets are cut into steps; the deepest step
	// counts.
	for _, s := range []Setting{{Limit: 50, WaitJiffies: 4, HZ: 100}, {Limit: 50, WaitJiffies: 1, HZ: 250}} {
		d := capacity(producers(1, demand(10, 100, 0, 0, 0, 0, 0, 0, 0)), 10, 0, 0, 0, 0, 10, 10, 10)
		checkDepths(t, d, s, ReplayDepths(d, s))
	}
}

// checkDepths: depths are Replay's: their largest is its MaxDepth, and
// none is above limit+1.
func checkDepths(t *testing.T, d *Demand, s Setting, depths []float64) {
	t.Helper()
	o := Replay(d, s)
	top := 0.0
	for _, v := range depths {
		top = math.Max(top, v)
		if v < 0 || s.Limit > 0 && v > float64(s.Limit)+1+1e-9 {
			t.Fatalf("depth %v at limit %d", v, s.Limit)
		}
	}
	if len(depths) != len(d.Records) || top != o.MaxDepth {
		t.Fatalf("%d depths peaking at %v; Replay: %d buckets, max depth %v", len(depths), top, len(d.Records), o.MaxDepth)
	}
}

// A dropped SYSCALL record takes its event with it: dropping 50 records of
// demand made of 5-record events is 10 lost records.
func TestReplayDropsWholeEvents(t *testing.T) {
	d := demand(0, 100)
	d.RecordsPerLostEvent, d.DemandPerLost = 5, 5
	o := Replay(d, Setting{Limit: 49})
	if !near(o.DroppedDemand, 50) || !near(o.Lost, 10) {
		t.Fatalf("dropped %v lost %v, want 50 and 10", o.DroppedDemand, o.Lost)
	}
}

// The measured burst rides on top of the even level.
func TestReplayBurst(t *testing.T) {
	d := demand(10, 10, 10)
	d.Burst = []float64{30, 0}
	if o := Replay(d, Setting{}); !near(o.MaxDepth, 30) {
		t.Errorf("max depth %v, want 30", o.MaxDepth)
	}
	// Limit 20: room 21 - 30 burst + 10 drained < 10 wanted: 9 of 10 fit.
	if o := Replay(d, Setting{Limit: 20}); !near(o.Lost, 9) {
		t.Errorf("lost %v, want 9", o.Lost)
	}
}

func TestSmallestLossless(t *testing.T) {
	// Peak 90 with 10 drained in the bucket: limit+1+10 >= 100.
	d := demand(10, 100, 0, 0, 0)
	if got := smallestLossless(d); got != 89 {
		t.Fatalf("smallest lossless limit %d, want 89", got)
	}
	if Replay(d, Setting{Limit: 88}).Lost == 0 {
		t.Fatal("limit 88 should lose")
	}
}

func TestTidy(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want uint32
	}{{0, 0}, {1, 1}, {87, 87}, {99.2, 100}, {100, 100}, {101, 110}, {1234, 1300}, {5678, 5700}, {10001, 11000}} {
		if got := Tidy(tc.in); got != tc.want {
			t.Errorf("Tidy(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzReplay(f *testing.F) {
	f.Add([]byte{100, 0, 0, 0}, uint8(10), uint16(50), uint8(0), uint8(1))
	f.Add([]byte{255, 255, 3, 0, 9}, uint8(0), uint16(1), uint8(3), uint8(5))
	// Cut at bucket 5 with sleepers in line, the wait time halved there.
	f.Add([]byte{200, 200, 0, 0, 0, 0, 0, 0}, uint8(10), uint16(50), uint8(4), uint8(1))
	f.Fuzz(func(t *testing.T, recs []byte, drain uint8, limit uint16, wait uint8, rpe uint8) {
		if len(recs) == 0 || len(recs) > 4096 {
			return
		}
		d := demand(float64(drain))
		var total float64
		for _, r := range recs {
			d.Records = append(d.Records, float64(r))
			d.Burst = append(d.Burst, float64(r%7))
			total += float64(r)
		}
		d.RecordsPerLostEvent = float64(max(rpe, 1))
		d.DemandPerLost = d.RecordsPerLostEvent
		s := Setting{Limit: uint32(limit), WaitJiffies: uint32(wait), HZ: 100}
		o := Replay(d, s)
		if o.Lost < 0 || o.DroppedDemand < -1e-9 || o.DroppedDemand > total+1e-6 || o.WaitNs < 0 || o.Waits < 0 {
			t.Fatalf("impossible outcome %+v for demand %v", o, total)
		}
		if s.Limit > 0 && o.MaxDepth > float64(s.Limit)+1+1e-9 {
			t.Fatalf("depth %v above limit %d + 1", o.MaxDepth, s.Limit)
		}
		checkDepths(t, d, s, ReplayDepths(d, s))
		if s.WaitJiffies == 0 && o.Waits != 0 {
			t.Fatalf("waits %v with no wait time", o.Waits)
		}
		// As before schedules, to the bit; cut in two steps of the
		// same setting, the same.
		if want := replayRef(d, s, nil, 1); o != want {
			t.Fatalf("%+v: replay %+v, before schedules %+v", s, o, want)
		}
		cut := int(limit) % (len(recs) + 1)
		if two, _ := ReplaySchedule(d, Schedule{{0, s}, {cut, s}}); !sameOutcome(two, o) {
			t.Fatalf("%+v cut at %d: %+v, one step %+v", s, cut, two, o)
		}
		// From the cut on, another setting (the wait time halved, the
		// limit doubled): still a possible outcome, and the deepest is
		// within the larger limit.
		other := Setting{Limit: s.Limit * 2, WaitJiffies: s.WaitJiffies / 2, HZ: 100}
		two, steps := ReplaySchedule(d, Schedule{{0, s}, {cut, other}})
		if two.Lost < 0 || two.DroppedDemand < -1e-9 || two.DroppedDemand > total+1e-6 || two.WaitNs < 0 || two.Waits < 0 || len(steps) != 2 {
			t.Fatalf("impossible outcome %+v for demand %v, %+v then %+v from %d", two, total, s, other, cut)
		}
		if s.Limit > 0 && two.MaxDepth > float64(other.Limit)+1+1e-9 {
			t.Fatalf("depth %v above limit %d + 1", two.MaxDepth, other.Limit)
		}
		// A larger limit never loses more.
		if s.Limit > 0 && s.WaitJiffies == 0 {
			if bigger := Replay(d, Setting{Limit: s.Limit * 2}); bigger.Lost > o.Lost+1e-6 {
				t.Fatalf("limit %d loses %v, limit %d loses %v", s.Limit, o.Lost, s.Limit*2, bigger.Lost)
			}
		}
	})
}

// Capacity per bucket, when given, replaces the constant drain rate: a
// consumer that takes nothing for two buckets (auditd descheduled) and
// then catches up.
func TestReplayCapacityPerBucket(t *testing.T) {
	d := demand(10, 20, 20, 20, 0)
	d.Capacity = []float64{10, 0, 0, 60}
	// Limit 9 (depth 10): bucket 0 admits 20 (10 room + 10 drained),
	// level 10; buckets 1 and 2 admit nothing: 40 dropped; bucket 3
	// drains 10.
	o := Replay(d, Setting{Limit: 9})
	if !near(o.Lost, 40) || !near(o.EndDepth, 0) || !near(o.MaxDepth, 10) {
		t.Fatalf("outcome %+v, want 40 lost, end 0, max depth 10", o)
	}
}

func TestWindowMax(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		w    int
		want []float64
	}{
		{nil, 3, nil},
		{[]float64{1, 3, 2, 0, 0, 0, 5}, 0, []float64{1, 3, 2, 0, 0, 0, 5}},
		{[]float64{1, 3, 2, 0, 0, 0, 5}, 2, []float64{1, 3, 3, 3, 2, 0, 5}},
		{[]float64{4, 3, 2, 1}, 10, []float64{4, 4, 4, 4}},
	} {
		// slidingMax, bucket by bucket, gives the same.
		if tc.v != nil {
			u := make([]uint64, len(tc.v))
			for i, x := range tc.v {
				u[i] = uint64(x)
			}
			s := slidingMax{v: u, w: tc.w}
			for i := range u {
				if got := s.at(i); float64(got) != tc.want[i] {
					t.Fatalf("slidingMax(%v, %d).at(%d) = %d, want %v", u, tc.w, i, got, tc.want[i])
				}
			}
		}
		got := windowMax(tc.v, tc.w)
		if len(got) != len(tc.want) || (tc.want == nil) != (got == nil) {
			t.Fatalf("windowMax(%v, %d) = %v, want %v", tc.v, tc.w, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("windowMax(%v, %d) = %v, want %v", tc.v, tc.w, got, tc.want)
			}
		}
	}
}

// ReplayDepths is ReplayPeaks of every bucket: the tests' view of the
// replayed queue bucket by bucket (a day's would be 69 MB, issue 14).
func ReplayDepths(d *Demand, s Setting) []float64 {
	return ReplayPeaks(d, s, 1)
}
