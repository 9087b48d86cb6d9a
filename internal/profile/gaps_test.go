package profile

import (
	"reflect"
	"testing"
)

// TestConsumerGaps: auditd killed (its going seen by the poll, the next
// registration by the kernel) while records come: the gap runs from the
// earlier reply to the registration, its records are counted, the ones
// delivered late are those held; one stopped cleanly at the end (logged)
// stays open.
func TestConsumerGaps(t *testing.T) {
	const start, b = int64(5e9), int64(1e7)
	at := func(i int64) int64 { return start + i*b }
	p := &Profile{AuditBefore: &AuditStatus{PID: 108, Enabled: 1},
		Settings: []SettingChange{
			{MonoNs: at(300), SinceNs: at(100), Field: SettingPID, Old: 108, New: 0, Seen: SeenPoll},
			{MonoNs: at(300), Field: SettingPID, Old: 0, New: 238, Seen: SeenKernel},
			{MonoNs: at(800), Field: SettingPID, Old: 238, New: 0, Seen: SeenKernel},
		}}
	var rows []Bucket
	rows = append(rows, Bucket{Index: 50, Arrivals: 10, Queued: 10, Drained: 10, Delivered: 10},
		Bucket{Index: 110, Arrivals: 20, Queued: 20, Drained: 20, Delivered: 20}) // before auditd went, in the poll's window
	for i := int64(120); i < 300; i += 5 {
		r := Bucket{Index: i, Arrivals: 5, Queued: 5, Drained: 5}
		if i == 200 {
			r.Lost, r.Queued, r.Drained = 2, 3, 3
		}
		rows = append(rows, r)
	}
	rows = append(rows,
		Bucket{Index: 300, Arrivals: 4, Queued: 4, Delivered: 100},
		Bucket{Index: 301, Arrivals: 6, Queued: 6, Delivered: 96},
		Bucket{Index: 302, Arrivals: 3, Queued: 3, Delivered: 3},
		Bucket{Index: 850, Arrivals: 7, Queued: 7, Drained: 7})
	n := 1000
	p.Timeline = NewTimeline(b, start, Series{Arrivals: make([]int64, n), Events: make([]uint64, n), LostEvents: make([]uint64, n),
		Queued: make([]uint64, n), Lost: make([]uint64, n), Drained: make([]uint64, n), MaxDepth: make([]uint64, n),
		Waits: make([]uint64, n), WaitNs: make([]uint64, n), Delivered: make([]uint64, n)})
	for _, r := range rows {
		p.Timeline.SetBucket(r)
	}
	gaps, err := p.ConsumerGaps()
	if err != nil {
		t.Fatal(err)
	}
	want := []ConsumerGap{
		// 20 delivered, then 36 buckets of 5 records, 2 lost: 178 held;
		// 100-4 and 96-6 delivered beyond their arrivals, capped at 178.
		{Cause: GapNoAuditd, FromNs: at(100), SeenNs: at(300), ToNs: at(300), ToSeenNs: at(300), Arrivals: 200, Lost: 2, Delivered: 20, DeliveredAfter: 178},
		{Cause: GapNoAuditd, FromNs: at(800), SeenNs: at(800), Arrivals: 7},
	}
	if !reflect.DeepEqual(gaps, want) {
		t.Errorf("gaps %+v\nwant %+v", gaps, want)
	}
	if got, want := p.DescribeGap(gaps[0]), "no auditd registered from between +1s and +3s until +3s (at most 2s): 200 records made meanwhile, 2 lost, 20 delivered before it went, 178 held, 178 of them delivered within 1s of its return"; got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
	if got, want := p.DescribeGap(gaps[1]), "no auditd registered from +8s to the end: 7 records made meanwhile, 0 lost, 0 delivered before it went, 7 held"; got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
}

// TestConsumerGapsReplacedDisabled: an auditd followed by another with no
// 0 between (the kernel logged old 108 new 238) begins after the last
// bucket that delivered; audit disabled and enabled again is a stretch of
// its own (its end seen by the poll: the kernel does not log enabling
// while off), whose records are counted to the window's start, not held; a recording that began
// with audit off and no auditd has both from its start.
func TestConsumerGapsReplacedDisabled(t *testing.T) {
	const start, b = int64(5e9), int64(1e7)
	at := func(i int64) int64 { return start + i*b }
	newTimeline := func(rows ...Bucket) Timeline {
		n := 1000
		tl := NewTimeline(b, start, Series{Arrivals: make([]int64, n), Events: make([]uint64, n), LostEvents: make([]uint64, n),
			Queued: make([]uint64, n), Lost: make([]uint64, n), Drained: make([]uint64, n), MaxDepth: make([]uint64, n),
			Waits: make([]uint64, n), WaitNs: make([]uint64, n), Delivered: make([]uint64, n)})
		for _, r := range rows {
			tl.SetBucket(r)
		}
		return tl
	}
	p := &Profile{AuditBefore: &AuditStatus{PID: 108, Enabled: 1},
		Settings: []SettingChange{
			{MonoNs: at(300), Field: SettingPID, Old: 108, New: 238, Seen: SeenKernel},
			{MonoNs: at(500), Field: SettingEnabled, Old: 1, New: 0, Seen: SeenKernel},
			{MonoNs: at(600), SinceNs: at(560), Field: SettingEnabled, Old: 0, New: 1, Seen: SeenPoll}, // not logged while off
		},
		Timeline: newTimeline(
			Bucket{Index: 100, Arrivals: 10, Queued: 10, Drained: 10, Delivered: 10},
			Bucket{Index: 150, Arrivals: 7, Queued: 7, Drained: 7, Delivered: 7}, // the last delivery before the replacement
			Bucket{Index: 200, Arrivals: 5, Queued: 5},
			Bucket{Index: 250, Arrivals: 6, Queued: 4, Lost: 2},
			Bucket{Index: 300, Arrivals: 1, Queued: 1, Delivered: 10},
			Bucket{Index: 450, Arrivals: 3, Queued: 3, Delivered: 3},
			Bucket{Index: 550, Arrivals: 2, Queued: 2, Delivered: 4}, // audit off: a config record, the queue drained
		)}
	gaps, err := p.ConsumerGaps()
	if err != nil {
		t.Fatal(err)
	}
	want := []ConsumerGap{
		{Cause: GapReplaced, FromNs: at(151), SeenNs: at(151), ToNs: at(300), ToSeenNs: at(300), Arrivals: 11, Lost: 2, DeliveredAfter: 9},
		{Cause: GapDisabled, FromNs: at(500), SeenNs: at(500), ToNs: at(560), ToSeenNs: at(600), Arrivals: 2, Delivered: 4},
	}
	if !reflect.DeepEqual(gaps, want) {
		t.Errorf("gaps %+v\nwant %+v", gaps, want)
	}
	for i, w := range []string{
		"auditd replaced without unregistering: nothing delivered from +1.51s until +3s (at most 1.49s): 11 records made meanwhile, 2 lost, 9 held, 9 of them delivered within 1s of its return",
		"audit disabled from +5s until between +5.6s and +6s (at most 1s; seen by AUDIT_GET: the kernel does not log enabling audit while it is off): 2 records made up to +5.6s (syscalls entered while audit is off are not audited), 0 lost, 4 delivered",
	} {
		if got := p.DescribeGap(gaps[i]); got != w {
			t.Errorf("%q\nwant %q", got, w)
		}
	}

	// Replaced with no delivery before the registration in the whole
	// recording: the stretch goes back to the start.
	p = &Profile{AuditBefore: &AuditStatus{PID: 108, Enabled: 1},
		Settings: []SettingChange{{MonoNs: at(300), Field: SettingPID, Old: 108, New: 238, Seen: SeenKernel}},
		Timeline: newTimeline(Bucket{Index: 10, Arrivals: 3, Queued: 3}, Bucket{Index: 300, Arrivals: 1, Queued: 1, Delivered: 4})}
	gaps, err = p.ConsumerGaps()
	if err != nil {
		t.Fatal(err)
	}
	want = []ConsumerGap{{Cause: GapReplaced, FromNs: start, SeenNs: start, ToNs: at(300), ToSeenNs: at(300), Arrivals: 3, DeliveredAfter: 3}}
	if !reflect.DeepEqual(gaps, want) {
		t.Errorf("gaps %+v\nwant %+v", gaps, want)
	}

	// Began with audit off and no auditd, nothing changed.
	p = &Profile{AuditBefore: &AuditStatus{}, Timeline: newTimeline(Bucket{Index: 10, Arrivals: 3, Queued: 3})}
	gaps, err = p.ConsumerGaps()
	if err != nil {
		t.Fatal(err)
	}
	want = []ConsumerGap{
		{Cause: GapNoAuditd, FromNs: start, SeenNs: start, Arrivals: 3},
		{Cause: GapDisabled, FromNs: start, SeenNs: start, Arrivals: 3},
	}
	if !reflect.DeepEqual(gaps, want) {
		t.Errorf("gaps %+v\nwant %+v", gaps, want)
	}
}
