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

// TestTallySenders: the changes two samples show are replaced by the
// kernel's CONFIG_CHANGE records in their window, each at its record's
// time with its sender from the event's SYSCALL record: a limit raised
// then lowered again within one window (the samples show only 300 ->
// 500); a new auditd registered after one that died unlogged (108 -> 0
// by the poll, 0 -> 238 by the record, which has no SYSCALL record: auid
// and session only); a refused change and a rule's addition are no
// changes; a change no record explains (the wait time, no record) stays
// as the samples showed it.
func TestTallySenders(t *testing.T) {
	start := time.Unix(1700000000, 0)
	ta := newTally(int64(10*time.Millisecond), start)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	rec := func(at int, typ uint16, body string) { ta.addRecord(ms(at), typ, []byte(body), time.Time{}) }
	ta.addSample(ms(0), &profile.AuditStatus{Enabled: 1, PID: 108, BacklogLimit: 300})
	rec(1200, tConfigChange, `audit(1700000001.200:50): op=set audit_backlog_limit=20000 old=300 auid=1000 ses=3 res=1`)
	rec(1201, tSyscall, `audit(1700000001.200:50): arch=c000003e syscall=44 success=yes exit=60 items=0 ppid=90 pid=91 auid=1000 uid=0 ses=3 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)`)
	rec(1202, tEOE, `audit(1700000001.200:50): `)
	rec(1500, tConfigChange, `audit(1700000001.500:51): op=set audit_backlog_limit=1 old=20000 auid=1000 ses=3 res=0`)
	rec(1600, tConfigChange, `audit(1700000001.600:52): auid=1000 ses=3 op=add_rule key="k" list=4 res=1`)
	rec(1700, tConfigChange, `audit(1700000001.700:53): op=set audit_backlog_limit=500 old=20000 auid=1000 ses=3 res=1`)
	rec(1701, tSyscall, `audit(1700000001.700:53): arch=c000003e syscall=44 success=yes exit=60 items=0 ppid=90 pid=92 auid=1000 uid=0 ses=3 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)`)
	ta.addSample(ms(2000), &profile.AuditStatus{Enabled: 1, PID: 108, BacklogLimit: 500})
	rec(3400, tConfigChange, `audit(1700000003.400:60): op=set audit_pid=238 old=0 auid=4294967295 ses=4294967295 res=1`)
	ta.addSample(ms(4000), &profile.AuditStatus{Enabled: 1, PID: 238, BacklogLimit: 500, BacklogWaitTime: 5})
	const startMono = 7_000_000_000
	p := ta.profile(startMono, ms(4500))
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	const s = startMono
	want := []profile.SettingChange{
		{MonoNs: s + 1.2e9, Field: profile.SettingBacklogLimit, Old: 300, New: 20000, Seen: profile.SeenKernel,
			By: &profile.SettingSender{Tgid: 91, PID: 91, Comm: "auditctl", Auid: 1000, Ses: 3}},
		{MonoNs: s + 1.7e9, Field: profile.SettingBacklogLimit, Old: 20000, New: 500, Seen: profile.SeenKernel,
			By: &profile.SettingSender{Tgid: 92, PID: 92, Comm: "auditctl", Auid: 1000, Ses: 3}},
		{MonoNs: s + 3.4e9, SinceNs: s + 2e9, Field: profile.SettingPID, Old: 108, New: 0, Seen: profile.SeenPoll},
		{MonoNs: s + 3.4e9, Field: profile.SettingPID, Old: 0, New: 238, Seen: profile.SeenKernel,
			By: &profile.SettingSender{Auid: 4294967295, Ses: 4294967295}},
		{MonoNs: s + 4e9, SinceNs: s + 2e9, Field: profile.SettingBacklogWaitTime, Old: 0, New: 5, Seen: profile.SeenPoll},
	}
	if !reflect.DeepEqual(p.Settings, want) {
		t.Errorf("settings:")
		for _, c := range p.Settings {
			t.Errorf("  %+v by %+v", c, c.By)
		}
		t.Errorf("want:")
		for _, c := range want {
			t.Errorf("  %+v by %+v", c, c.By)
		}
	}
	if got, want := p.Settings[3].Describe(startMono), "pid 0 -> 238 by a process of auid 4294967295, session 4294967295"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
