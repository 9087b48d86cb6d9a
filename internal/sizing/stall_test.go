package sizing

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

func TestMeasureStalls(t *testing.T) {
	const b = int64(10 * time.Millisecond)
	for _, tc := range []struct {
		name                   string
		queued, depth, drained []uint64
		count                  int
		longest, at            time.Duration
		bins                   []int
	}{
		{"none", []uint64{0, 3, 2, 0}, []uint64{0, 3, 2, 0}, []uint64{0, 3, 2, 0}, 0, 0, 0, nil},
		// The pass that ends in bucket 2 began there: bucket 1's depth
		// says nothing had left by its end.
		{"one bucket", []uint64{0, 3, 2, 0}, []uint64{0, 3, 5, 0}, []uint64{0, 0, 5, 0}, 1, 10 * time.Millisecond, 10 * time.Millisecond, []int{1}},
		// The consumer stopped: the depth rises with every record.
		{"stopped", []uint64{2, 2, 2, 2, 0}, []uint64{2, 4, 6, 8, 0}, []uint64{0, 0, 0, 8, 0}, 1, 30 * time.Millisecond, 0, []int{0, 1}},
		// One long pass counted at its end, the depth held while it ran:
		// draining all along, no stall.
		{"long pass", []uint64{5, 5, 5, 5, 0}, []uint64{5, 6, 6, 6, 0}, []uint64{0, 0, 0, 20, 0}, 0, 0, 0, nil},
		{"several", []uint64{0, 3, 2, 0, 2, 2, 2, 2, 0}, []uint64{0, 3, 5, 0, 2, 4, 6, 8, 0}, []uint64{0, 0, 5, 0, 0, 0, 0, 8, 0}, 2,
			30 * time.Millisecond, 40 * time.Millisecond, []int{1, 1}},
		{"idle", []uint64{0, 0, 0}, []uint64{0, 0, 0}, []uint64{0, 0, 0}, 0, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{Timeline: profile.NewTimeline(b, 0, profile.Series{
				Arrivals: make([]int64, len(tc.depth)),
				Queued:   tc.queued,
				MaxDepth: tc.depth,
				Drained:  tc.drained,
			})}
			s := noErr(MeasureStalls(p))
			if s.Count != tc.count || s.Longest != tc.longest || s.LongestAt != tc.at || len(s.Histogram) != len(tc.bins) {
				t.Fatalf("%+v", s)
			}
			for k, c := range tc.bins {
				bin := s.Histogram[k]
				if bin.Count != c || bin.Min != time.Duration(int64(1)<<k*b) || bin.Max != time.Duration(int64(2)<<k*b) {
					t.Errorf("bin %d: %+v, want %d", k, bin, c)
				}
			}
		})
	}
}

// TestFindStalls: each stall where it is, the one still going at the end
// last; MeasureStalls is their summary.
func TestFindStalls(t *testing.T) {
	const b = int64(10 * time.Millisecond)
	for _, tc := range []struct {
		name                   string
		queued, depth, drained []uint64
		delivered              []uint64
		want                   []Stall
	}{
		{"none", []uint64{0, 3, 2, 0}, []uint64{0, 3, 2, 0}, []uint64{0, 3, 2, 0}, nil, nil},
		{"several", []uint64{0, 3, 2, 0, 2, 2, 2, 2, 0}, []uint64{0, 3, 5, 0, 2, 4, 6, 8, 0}, []uint64{0, 0, 5, 0, 0, 0, 0, 8, 0},
			nil, []Stall{{1, 1}, {4, 3}}},
		// Nothing has drained yet: the stall goes on to the last bucket.
		{"still going", []uint64{2, 2, 0, 2, 2}, []uint64{2, 2, 0, 2, 4}, []uint64{2, 2, 0, 0, 0},
			nil, []Stall{{3, 2}}},
		{"no drained series", []uint64{2, 2}, []uint64{2, 4}, nil, nil, nil},
		// auditd stopped from bucket 1 to 5: kauditd's sends time out and
		// it moves audit_queue to its retry queue (drained in 3), but
		// nothing reaches auditd until 6, when it reads its socket again.
		{"retry moves are not taken", []uint64{2, 2, 2, 2, 2, 2, 2}, []uint64{2, 2, 4, 6, 2, 4, 2},
			[]uint64{2, 0, 0, 6, 0, 0, 10}, []uint64{2, 0, 0, 0, 0, 0, 10}, []Stall{{1, 5}}},
		// A bucket with no arrival and no kauditd pass (4: no depth seen)
		// does not end the stall: nothing was taken. After the consumer
		// took a record (6), empty buckets start none.
		{"a quiet bucket in a stall", []uint64{2, 2, 2, 2, 0, 2, 2, 0, 0}, []uint64{2, 2, 4, 6, 0, 2, 2, 0, 0},
			[]uint64{2, 0, 0, 6, 0, 0, 10, 0, 0}, []uint64{2, 0, 0, 0, 0, 0, 10, 0, 0}, []Stall{{1, 5}}},
		// The same timeline without the delivered series: the moves read
		// as drain and cut the stall in two.
		{"retry moves without delivered", []uint64{2, 2, 2, 2, 2, 2, 2}, []uint64{2, 2, 4, 6, 2, 4, 2},
			[]uint64{2, 0, 0, 6, 0, 0, 10}, nil, []Stall{{1, 2}, {4, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := profile.NewTimeline(b, 0, profile.Series{
				Arrivals:  make([]int64, len(tc.depth)),
				Queued:    tc.queued,
				MaxDepth:  tc.depth,
				Drained:   tc.drained,
				Delivered: tc.delivered,
			})
			got := noErr(FindStalls(&tl, 0))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("stalls %v, want %v", got, tc.want)
			}
			s := noErr(MeasureStalls(&profile.Profile{Timeline: tl}))
			var longest Stall
			for _, st := range got {
				if st.Buckets > longest.Buckets {
					longest = st
				}
			}
			if s.Count != len(got) || s.Longest != time.Duration(int64(longest.Buckets)*b) || s.LongestAt != time.Duration(int64(longest.First)*b) {
				t.Errorf("MeasureStalls %+v, stalls %v", s, got)
			}
		})
	}
}

func TestStallsLine(t *testing.T) {
	ms := time.Millisecond
	bin := func(lo, hi time.Duration, n int) StallBin { return StallBin{Min: lo, Max: hi, Count: n} }
	for _, tc := range []struct {
		name string
		s    Stalls
		want string
	}{
		{"none", Stalls{BucketNs: int64(10 * ms)},
			"none measured (no bucket with records queued and none taken)"},
		{"one", Stalls{BucketNs: int64(10 * ms), Count: 1, Longest: 30 * ms, LongestAt: 2 * time.Second,
			Histogram: []StallBin{bin(10*ms, 20*ms, 0), bin(20*ms, 40*ms, 1)}},
			"1 interval with records queued and none taken (to the 10ms bucket); the longest 30ms, 2s into the recording; by length: 1 of 20ms-40ms"},
		// Empty bins are left out; where it began is rounded to the
		// millisecond, the lengths are whole buckets already.
		{"several", Stalls{BucketNs: int64(ms), Count: 7, Longest: 1100 * ms, LongestAt: 4*time.Second + 1234567,
			Histogram: []StallBin{bin(ms, 2*ms, 5), bin(2*ms, 4*ms, 0), bin(4*ms, 8*ms, 1), bin(8*ms, 16*ms, 0),
				bin(16*ms, 32*ms, 0), bin(32*ms, 64*ms, 0), bin(64*ms, 128*ms, 0), bin(128*ms, 256*ms, 0),
				bin(256*ms, 512*ms, 0), bin(512*ms, 1024*ms, 0), bin(1024*ms, 2048*ms, 1)}},
			"7 intervals with records queued and none taken (to the 1ms bucket); the longest 1.1s, 4.001s into the recording; by length: 5 of 1ms-2ms, 1 of 4ms-8ms, 1 of 1.024s-2.048s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StallsLine(tc.s); got != tc.want {
				t.Errorf("StallsLine =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}

// stallNeedsBrute is stallNeeds by replaying every start: the need of each
// bucket with the consumer stopped there, by the queue's recursion itself.
func stallNeedsBrute(d *Demand, n int) []float64 {
	out := make([]float64, len(d.Records))
	for s := range d.Records {
		sd := withStall(d, s, n)
		level, m := d.StartDepth, math.Inf(-1)
		// kauditd's moves: audit_queue keeps only the arrivals since
		// max(s+Keep, i+1-Window) from the first move on; the moved
		// records go to the consumer first after the stall; the hold
		// queue at the stall's end needs room for what arrived before
		// its HoldLag.
		mv, e := d.Moves, sd.stallEnd
		moves := mv.movesIn(e-s) && s+mv.First < len(d.Records)
		pa := make([]float64, len(d.Records)+1)
		var moved, startLevel float64
		for i, a := range sd.Records {
			if i == s {
				startLevel = level
			}
			pa[i+1] = pa[i] + a
			c := sd.Capacity[i]
			took := math.Min(moved, c)
			moved, c = moved-took, c-took
			x := a - c
			if a > 0 {
				m = math.Max(m, level+x+sd.Burst[i])
			}
			next := math.Max(0, level+x)
			if moves && i >= s+mv.First-1 && i < e {
				keep := math.Min(next, pa[i+1]-pa[max(s+mv.Keep, i+1-mv.Window)])
				moved += next - keep
				next = keep
			}
			if h := e - mv.HoldLag; moves && i == e-1 && h > s {
				m = math.Max(m, startLevel+pa[h]-pa[s]+1)
			}
			level = next
		}
		out[s] = m
	}
	return out
}

// bruteWorst is the largest smallest-lossless limit over every start.
func bruteWorst(d *Demand, n int) uint32 {
	var worst uint32
	allowed := stallStarts(d, n)
	for s := range d.Records {
		if allowed[s] {
			worst = max(worst, smallestLossless(withStall(d, s, n)))
		}
	}
	return worst
}

func fuzzDemand(recs []byte, drain uint8, start uint8) *Demand {
	d := demand(float64(drain))
	d.StartDepth = float64(start)
	// Two of three get kauditd's moves: the first 1 to 5 buckets into a
	// stall, keeping from 0 to that bucket on, a window of 1 to 7, a hold
	// lag of 0 to 9.
	if start%3 != 0 {
		f := 1 + int(start)%5
		d.Moves = Moves{First: f, Keep: int(start/5) % (f + 1), Window: 1 + int(start/7)%7, HoldLag: int(start/11) % 10}
	}
	for _, r := range recs {
		d.Records = append(d.Records, float64(r))
		d.Burst = append(d.Burst, float64(r%7))
	}
	if len(recs)%2 == 0 {
		// Capacity per bucket, as Reconstruct gives it.
		d.Capacity = make([]float64, len(recs))
		for i, r := range recs {
			d.Capacity[i] = float64(drain) + float64(r%13)
		}
	}
	return d
}

func checkStallShortcut(t *testing.T, d *Demand, n int) {
	t.Helper()
	fast, brute := stallNeeds(d, n), stallNeedsBrute(d, n)
	for s := range fast {
		if math.Abs(fast[s]-brute[s]) > 1e-6*math.Max(1, math.Abs(brute[s])) {
			t.Fatalf("stall of %d at %d: need %v, replaying it %v", n, s, fast[s], brute[s])
		}
	}
	// The start with the largest need sizes the limit: Replay's
	// lossless test allows half a record of drops in total, so starts
	// with equal needs may differ by one.
	start, _ := worstStall(d, n)
	got, want := smallestLossless(withStall(d, start, n)), bruteWorst(d, n)
	if got+1 < want || got > want {
		t.Fatalf("stall of %d: the worst start's limit is %d, every start's worst %d", n, got, want)
	}
}

func TestStallStarts(t *testing.T) {
	d := demand(0)
	d.Records = make([]float64, 8)
	d.Burst = make([]float64, 8)
	// The consumer took nothing in buckets 2 and 3.
	d.Capacity = []float64{5, 5, 0, 0, 5, 5, 5, 5}
	for _, tc := range []struct {
		n    int
		want string
	}{
		// A stall of 1 may sit inside the recorded one, not against it.
		{1, "x.xx.xxx"},
		{2, "..x..xxx"},
		// Covering it whole is allowed: it is then as long as asked.
		{3, ".xx..xxx"},
		{4, "xxx..xxx"},
	} {
		var got strings.Builder
		for _, ok := range stallStarts(d, tc.n) {
			if ok {
				got.WriteByte('x')
			} else {
				got.WriteByte('.')
			}
		}
		if got.String() != tc.want {
			t.Errorf("a stall of %d may start at %s, want %s", tc.n, got.String(), tc.want)
		}
	}
}

func TestStallShortcut(t *testing.T) {
	// Start depth 3: no kauditd move; the others move at 2, 5, 4 and 3
	// buckets into a stall.
	for _, start := range []uint8{3, 1, 4, 13, 27} {
		d := fuzzDemand([]byte{0, 5, 40, 40, 3, 0, 0, 60, 2, 2, 9, 0, 1, 80, 80, 0}, 20, start)
		for _, n := range []int{0, 1, 2, 5, 16, 40} {
			checkStallShortcut(t, d, n)
		}
	}
}

func FuzzStallNeeds(f *testing.F) {
	f.Add([]byte{0, 5, 40, 40, 3, 0, 0, 60, 2, 2, 9}, uint8(20), uint8(3), uint8(4))
	f.Add([]byte{255, 0, 0, 0, 255, 1}, uint8(1), uint8(0), uint8(1))
	f.Add([]byte{7}, uint8(0), uint8(200), uint8(9))
	f.Fuzz(func(t *testing.T, recs []byte, drain, start, n uint8) {
		if len(recs) == 0 || len(recs) > 200 {
			return
		}
		checkStallShortcut(t, fuzzDemand(recs, drain, start), int(n))
	})
}

// TestRecommendStall: a steady load the consumer keeps up with, then the
// consumer stopped for a while in the simulation. With no stall asked
// for, the recommendation holds only the steady load; sized for the stall
// it holds the stalled run, and half of it does not.
func TestRecommendStall(t *testing.T) {
	const k, drain = 5, 5.0
	steady := func(int) float64 { return 0.25 } // an event every 4 ms
	p, _ := sizingtest.Simulate(8_000, steady, k, drain, 5000)
	// The simulation asks its consumer once a millisecond, in order.
	lost := func(limit uint32) uint64 {
		q, _ := sizingtest.SimulateConsumer(8_000, steady, k, sizingtest.StoppedFor(drain, 3000, 5000), limit)
		return q.Totals.Lost
	}
	none, err := Recommend(p, Options{Stall: 0})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Recommend(p, Options{Stall: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("no stall: %d (minimum %d); 2 s stall: %d (minimum %d, at %s, headroom %.2f %s); stalled run loses %d at it, %d at half",
		none.BacklogLimit, none.MinimumLimit, r.BacklogLimit, r.MinimumLimit, r.StallAt, r.Headroom, r.HeadroomFrom, lost(r.BacklogLimit), lost(r.BacklogLimit/2))
	if r.Stall != 2*time.Second || r.NoStallMinimum != none.MinimumLimit {
		t.Errorf("stall %s, no-stall minimum %d (want %d)", r.Stall, r.NoStallMinimum, none.MinimumLimit)
	}
	if lost(none.BacklogLimit) == 0 {
		t.Fatalf("the stalled run lost nothing at the no-stall limit %d: nothing to prove", none.BacklogLimit)
	}
	if l := lost(r.BacklogLimit); l != 0 {
		t.Errorf("sized for a 2 s stall, %d lost %d", r.BacklogLimit, l)
	}
	if lost(r.BacklogLimit/2) == 0 {
		t.Errorf("half of %d lost nothing: not tight", r.BacklogLimit)
	}
	// The default, Stall < 0, is the longest measured: a steady run shows
	// at most short stalls.
	m, err := Recommend(p, Options{Stall: -1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Stall != m.Stalls.Longest.Truncate(time.Duration(p.Timeline.BucketNs)) || m.Stalls.Longest > 100*time.Millisecond {
		t.Errorf("measured stall %s, sized for %s", m.Stalls.Longest, m.Stall)
	}

	// The stalled run recorded (at a limit that loses nothing): its own
	// stall, the longest, sizes it by default, and stands for the stall
	// rather than adding to it: the limit holds the stalled run, and is
	// about what the healthy recording gives for the same stall, not
	// twice it (the recorded stall replayed at the consumer's pace, the
	// headroom on the minimum without it).
	q, _ := sizingtest.SimulateConsumer(8_000, steady, k, sizingtest.StoppedFor(drain, 3000, 5000), 5000)
	if q.Totals.Lost != 0 {
		t.Fatalf("the stalled recording lost %d", q.Totals.Lost)
	}
	own, err := Recommend(q, Options{Stall: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the stalled run recorded: its longest stall %s at %s; by default %d (minimum %d, no-stall %d, replaces %+v); it loses %d there",
		own.Stalls.Longest, own.Stalls.LongestAt, own.BacklogLimit, own.MinimumLimit, own.NoStallMinimum, own.StallReplaces, lost(own.BacklogLimit))
	if own.StallReplaces.Buckets == 0 || own.Stalls.Longest < 1900*time.Millisecond {
		t.Errorf("the recorded 2 s stall measured %s, replaced %+v", own.Stalls.Longest, own.StallReplaces)
	}
	if l := lost(own.BacklogLimit); l != 0 {
		t.Errorf("sized by default on the stalled recording, %d lost %d", own.BacklogLimit, l)
	}
	if float64(own.BacklogLimit) > 1.25*float64(r.BacklogLimit) {
		t.Errorf("the stalled recording gives %d by default, the healthy one %d for the same stall: the stall counted twice", own.BacklogLimit, r.BacklogLimit)
	}
}

// TestPlaceStall: a Recommendation's Stall and StallAt give back the
// demand its stalled replay ran on, so the depths charted from it are the
// ones the limit was sized on.
func TestPlaceStall(t *testing.T) {
	// Twice: as Reconstruct keeps it, and with every idle bucket
	// kept as spans, so that the demand's series are indexed by entry,
	// not by bucket (Demand.Spans): the checks read buckets through
	// Dense.
	for _, run := range []int{minIdleRun, 1} {
		t.Run(fmt.Sprintf("idle-run-%d", run), func(t *testing.T) {
			defer func(r int) { minIdleRun = r }(minIdleRun)
			minIdleRun = run
			placeStall(t, run < 64)
		})
	}
}

func placeStall(t *testing.T, wantSpans bool) {
	p, _ := sizingtest.Simulate(8_000, sizingtest.Bursts, 5, 5, 64)
	r, err := Recommend(p, Options{Stall: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Demand.Spans != nil; got != wantSpans {
		t.Fatalf("the demand has spans: %v, want %v", got, wantSpans)
	}
	sd, at := stalled(r.Demand, 500*time.Millisecond)
	if at.Stall != r.Stall || at.At != r.StallAt || r.Stall == 0 {
		t.Fatalf("stalled placed %+v, the recommendation %s at %s", at, r.Stall, r.StallAt)
	}
	got := PlaceStall(r.Demand, StallPlace{Stall: r.Stall, At: r.StallAt})
	if !slices.Equal(got.Dense().Capacity, sd.Dense().Capacity) {
		t.Fatal("PlaceStall's consumer differs from the recommendation's stalled one")
	}
	// The minimum is the smallest lossless limit of that demand.
	if o := Replay(got, Setting{Limit: r.MinimumLimit}); o.DroppedDemand >= 0.5 {
		t.Errorf("the minimum %d drops %v of the placed stall's demand", r.MinimumLimit, o.DroppedDemand)
	}
	start := int(r.StallAt / time.Duration(p.Timeline.BucketNs))
	n := int(r.Stall / time.Duration(p.Timeline.BucketNs))
	// Nothing taken in the stall's buckets, every other bucket's capacity
	// as it was.
	before, after := r.Demand.Dense(), got.Dense()
	if after.Len() != before.Len() {
		t.Fatalf("the placed stall's demand has %d buckets, the recording's %d", after.Len(), before.Len())
	}
	for i, c := range after.Capacity {
		in := i >= start && i < start+n
		if want := before.Capacity[i]; (in && c != 0) || (!in && c != want) {
			t.Fatalf("bucket %d: capacity %v, was %v, in the stall %v", i, c, want, in)
		}
	}
	if PlaceStall(r.Demand, StallPlace{}) != r.Demand {
		t.Error("no stall changed the demand")
	}
}

// TestStallMove: a steady 10 records a bucket against a consumer that can
// take 25, stopped for 200 buckets from bucket 100. With no kauditd moves
// the queue holds the whole stall, 2000 in its last bucket. With moves
// as for 10 ms buckets and 100 ms timeouts (first at 75, keeping from 55,
// window 140, hold lag 105): 750 before the first move; then the arrivals
// since bucket 155, 1400 by bucket 294, and since i-140 after, 1410; the
// hold queue 950 (+1); at the stall's end audit_queue holds the 1400
// since bucket 160 and the 600 before went out, sent first after the
// stall: 24 buckets of 25, over which audit_queue grows by 10 a bucket,
// and in the 24th it gets the 25 left over: 1400+230+10 = 1640. Worked by
// hand.
func TestStallMove(t *testing.T) {
	steady := func(move bool) *Demand {
		d := demand(25, make([]float64, 600)...)
		for i := range d.Records {
			d.Records[i] = 10
		}
		if move {
			d.Moves = movesFor(100*time.Millisecond, d.BucketNs)
		}
		return d
	}
	if got, want := movesFor(100*time.Millisecond, 10e6), (Moves{First: 75, Keep: 55, Window: 140, HoldLag: 105, Timeout: 100 * time.Millisecond}); got != want {
		t.Errorf("moves for 100 ms timeouts and 10 ms buckets: %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		move bool
		want float64
	}{{false, 2000}, {true, 1640}} {
		d := steady(tc.move)
		needs := stallNeeds(d, 200)
		if !near(needs[100], tc.want) {
			t.Errorf("moves %v: need of a stall at 100: %v, want %v", tc.move, needs[100], tc.want)
		}
		// Replay agrees: the limit one below the need (the queue may
		// reach limit+1) loses nothing, one less loses.
		sd := withStall(d, 100, 200)
		if o := Replay(sd, Setting{Limit: uint32(tc.want) - 1}); o.DroppedDemand > 1e-9 {
			t.Errorf("moves %v: at %v the stalled replay drops %v", tc.move, tc.want-1, o.DroppedDemand)
		}
		if o := Replay(sd, Setting{Limit: uint32(tc.want) - 2}); o.DroppedDemand < 0.5 {
			t.Errorf("moves %v: at %v the stalled replay drops only %v", tc.move, tc.want-2, o.DroppedDemand)
		}
	}
	// A stall no longer than the first move's delay gets none.
	if d := steady(true); d.Moves.movesIn(75) {
		t.Errorf("a stall of 75 buckets has moves")
	}
}

// noErr is v, for a test whose timeline's rows are in memory: reading
// them cannot fail, and a failure is a bug.
func noErr[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
