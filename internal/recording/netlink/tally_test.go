package netlink

import (
	"reflect"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// The tally end to end, with records and samples at chosen times.
func TestTallyProfile(t *testing.T) {
	start := time.Unix(1000, 0)
	ta := newTally(int64(100*time.Millisecond), start)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	ta.addSample(ms(0), &profile.AuditStatus{Lost: 100, Backlog: 3, BacklogLimit: 64})
	for i, rr := range []raw{{tSyscall, sysOpenat}, {tCwd, cwd4567}, {tPath, path4567}, {tProctitle, title4567}, {tEOE, eoe4567}} {
		ta.addRecord(ms(10+i), rr.typ, []byte(rr.msg), time.Time{})
	}
	ta.addRecord(ms(150), tConfigChange, []byte(configChange), time.Time{})
	p1 := ta.addSample(ms(160), &profile.AuditStatus{Lost: 130, Backlog: 80, BacklogLimit: 64})
	if p1 != (Progress{Delivered: 6, Lost: 30, Backlog: 80}) {
		t.Fatalf("progress %+v", p1)
	}
	ta.addSample(ms(260), &profile.AuditStatus{Lost: 131, Backlog: 0, BacklogLimit: 64})
	p := ta.profile(5_000_000, ms(300))
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := profile.Totals{Records: 6, Queued: 6, Drained: 6, Delivered: 6, Lost: 31,
		LostByReason: map[string]uint64{LostReasonUnknown: 31}, MaxDepth: 80,
		// The one SYSCALL record (serial 4567); the CONFIG_CHANGE has none.
		FirstSerial: 4567, LastSerial: 4567}
	if !reflect.DeepEqual(p.Totals, want) {
		t.Fatalf("totals %+v, want %+v", p.Totals, want)
	}
	if p.AuditBefore.Lost != 100 || p.AuditAfter.Lost != 131 {
		t.Fatalf("before %+v after %+v", p.AuditBefore, p.AuditAfter)
	}
	tl := p.Timeline
	if !reflect.DeepEqual(tl.Dense().Arrivals, []int64{5, 1, 0}) || !reflect.DeepEqual(tl.Dense().Lost, []uint64{0, 30, 1}) ||
		!reflect.DeepEqual(tl.Dense().MaxDepth, []uint64{3, 80, 0}) || tl.StartNs != 5_000_000 {
		t.Fatalf("timeline %+v", tl)
	}
	if len(p.Processes) != 2 || p.Processes[0].Records != 5 || p.Processes[1].Comm != CommUnattributed {
		t.Fatalf("processes %+v", p.Processes)
	}
}

// After the stop, only records of events begun before it are counted, and
// one begun drainMargin after it ends the drain.
func TestTallyStop(t *testing.T) {
	stop := time.Unix(1700000000, 200e6) // sysChmod's event began at .200
	tests := []struct {
		name string
		in   raw
		want stampClass
	}{
		{"before the stop", raw{tSyscall, sysOpenat}, counted},
		{"at the stop (the stamp is truncated to the millisecond)", raw{tSyscall, sysChmod}, counted},
		{"after the stop", raw{tSyscall, sysUnlink}, afterStop},
		{"past the margin", raw{tUserLogin, userLogin}, pastMargin},
		{"no timestamp: counted, it cannot be placed", raw{tSyscall, "arch=c000003e syscall=1 pid=5"}, counted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTally(int64(testBucket), stop.Add(-time.Second))
			if got := ta.addRecord(stop, tt.in.typ, []byte(tt.in.msg), stop); got != tt.want {
				t.Fatalf("class %d, want %d", got, tt.want)
			}
			if n := ta.delivered; (n == 1) != (tt.want == counted) {
				t.Fatalf("delivered %d", n)
			}
			// Without a stop (while recording) every record counts.
			if got := ta.addRecord(stop, tt.in.typ, []byte(tt.in.msg), time.Time{}); got != counted {
				t.Fatalf("class %d without a stop", got)
			}
		})
	}
}

func TestTallyNoLoss(t *testing.T) {
	ta := newTally(int64(testBucket), time.Now())
	ta.addSample(time.Now(), &profile.AuditStatus{Lost: 7})
	ta.addSample(time.Now(), &profile.AuditStatus{Lost: 7})
	p := ta.profile(0, time.Now())
	if p.Totals.Lost != 0 || len(p.Totals.LostByReason) != 0 {
		t.Fatalf("totals %+v", p.Totals)
	}
}

// TestTallySettings: a limit raised and auditd gone between two samples
// are kept as changes seen by the poll, on the timeline's clock, in the
// window of the two samples; the lost counter's rise is not a change.
func TestTallySettings(t *testing.T) {
	start := time.Unix(1000, 0)
	ta := newTally(int64(10*time.Millisecond), start)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	ta.addSample(ms(0), &profile.AuditStatus{Enabled: 1, PID: 108, BacklogLimit: 300, Lost: 5})
	ta.addSample(ms(1000), &profile.AuditStatus{Enabled: 1, PID: 108, BacklogLimit: 300, Lost: 900})
	ta.addSample(ms(2000), &profile.AuditStatus{Enabled: 1, PID: 0, BacklogLimit: 20000, Lost: 900})
	const startMono = 7_000_000_000
	p := ta.profile(startMono, ms(2500))
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []profile.SettingChange{
		{MonoNs: startMono + 2e9, SinceNs: startMono + 1e9, Field: profile.SettingPID, Old: 108, New: 0, Seen: profile.SeenPoll},
		{MonoNs: startMono + 2e9, SinceNs: startMono + 1e9, Field: profile.SettingBacklogLimit, Old: 300, New: 20000, Seen: profile.SeenPoll},
	}
	if !reflect.DeepEqual(p.Settings, want) {
		t.Errorf("settings %+v, want %+v", p.Settings, want)
	}
}
