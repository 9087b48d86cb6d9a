package netlink

import (
	"reflect"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

func TestTimeline(t *testing.T) {
	const b = int64(10 * time.Millisecond)
	type ev struct {
		off     int64
		arrival bool
		lost    uint64
		backlog uint32
	}
	tests := []struct {
		name         string
		evs          []ev
		duration     int64
		wantArrivals []int64
		wantLost     []uint64
		wantDepth    []uint64
	}{
		{"empty, one bucket minimum", nil, 0, []int64{0}, []uint64{0}, []uint64{0}},
		{"partial last bucket", nil, 25 * int64(time.Millisecond), []int64{0, 0, 0}, []uint64{0, 0, 0}, []uint64{0, 0, 0}},
		{"arrivals by bucket", []ev{{off: 0, arrival: true}, {off: b - 1, arrival: true}, {off: b, arrival: true}, {off: 3*b + 5, arrival: true}},
			4 * b, []int64{2, 1, 0, 1}, []uint64{0, 0, 0, 0}, []uint64{0, 0, 0, 0}},
		{"samples: lost added, depth maxed", []ev{{off: 1, backlog: 10}, {off: 2, lost: 3, backlog: 70}, {off: b + 1, lost: 4, backlog: 5}},
			2 * b, []int64{0, 0}, []uint64{3, 4}, []uint64{70, 5}},
		{"after the end folds into the last bucket", []ev{{off: 5 * b, arrival: true, lost: 2, backlog: 9}, {off: b, backlog: 4}},
			2 * b, []int64{0, 1}, []uint64{0, 2}, []uint64{0, 9}},
		{"before the start goes to the first", []ev{{off: -5, arrival: true}}, b, []int64{1}, []uint64{0}, []uint64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := timeline{bucketNs: b}
			for _, e := range tt.evs {
				if e.arrival {
					tl.arrival(e.off)
				}
				if e.lost > 0 || e.backlog > 0 {
					tl.sample(e.off, e.lost, e.backlog)
				}
			}
			got := tl.build(777, tt.duration)
			p := profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: profile.AttachNetlink, Timeline: got}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if got.BucketNs != b || got.StartNs != 777 {
				t.Fatalf("bucket %d start %d", got.BucketNs, got.StartNs)
			}
			if !reflect.DeepEqual(got.Dense().Arrivals, tt.wantArrivals) || !reflect.DeepEqual(got.Dense().Lost, tt.wantLost) || !reflect.DeepEqual(got.Dense().MaxDepth, tt.wantDepth) {
				t.Fatalf("arrivals %v lost %v depth %v", got.Dense().Arrivals, got.Dense().Lost, got.Dense().MaxDepth)
			}
			for i, a := range got.Dense().Arrivals {
				if got.Dense().Queued[i] != uint64(a) || got.Dense().Drained[i] != uint64(a) || got.Dense().Waits[i] != 0 || got.Dense().WaitNs[i] != 0 {
					t.Fatalf("bucket %d: queued %d drained %d waits %d", i, got.Dense().Queued[i], got.Dense().Drained[i], got.Dense().Waits[i])
				}
			}
		})
	}
}

func TestLostDelta(t *testing.T) {
	tests := []struct {
		prev, cur uint32
		want      uint64
	}{
		{0, 0, 0},
		{10, 25, 15},
		{4294967290, 4, 10}, // wrapped
		{1000, 3, 3},        // reset, then 3 lost
	}
	for _, tt := range tests {
		if got := lostDelta(tt.prev, tt.cur); got != tt.want {
			t.Errorf("lostDelta(%d, %d) = %d, want %d", tt.prev, tt.cur, got, tt.want)
		}
	}
}
