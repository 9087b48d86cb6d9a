package netlink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/profile"
)

const envRecordChild = "READLOG_TEST_RECORD_CHILD"

func TestMain(m *testing.M) {
	auditnl.ServeChild()
	if os.Getenv(envRecordChild) == "1" {
		// A child of TestRecordPermissionDenied, running as another user.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := Record(ctx, Options{})
		fmt.Print(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Records as the kernel sends them on the multicast group (the netlink
// payload; auditd's log adds "type=... msg=" in front).
const (
	sysOpenat = `audit(1700000000.123:4567): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd1c2e4f10 a2=0 a3=0 items=1 ppid=1201 pid=1234 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" subj=unconfined key="etc-read"`
	cwd4567   = `audit(1700000000.123:4567): cwd="/root"`
	path4567  = `audit(1700000000.123:4567): item=0 name="/etc/shadow" inode=1234 dev=08:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`
	title4567 = `audit(1700000000.123:4567): proctitle=636174002F6574632F736861646F77`
	eoe4567   = `audit(1700000000.123:4567): `

	// comm with a space is hex-encoded; no key.
	sysChmod = `audit(1700000000.200:4568): arch=c000003e syscall=90 success=no exit=-1 a0=55d0 a1=1ff a2=0 a3=0 items=1 ppid=1 pid=2000 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=6D7920736372697074 exe="/usr/bin/bash" subj=unconfined key=(null)`
	eoe4568  = `audit(1700000000.200:4568): `

	// Two keys, hex-encoded with \x01 between them.
	sysUnlink = `audit(1700000000.300:4569): arch=c000003e syscall=87 success=yes exit=0 a0=7ffc a1=0 a2=0 a3=0 items=2 ppid=1201 pid=1234 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="rm" exe="/usr/bin/rm" subj=unconfined key=6B31016B32`

	// Not from a syscall event.
	userLogin    = `audit(1700000001.000:4570): pid=999 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=10.0.0.1 terminal=sshd res=success'`
	configChange = `audit(1700000002.000:4571): op=set audit_backlog_limit=8192 old=64 auid=4294967295 ses=4294967295 res=1`

	// An AVC emitted during the syscall, before its SYSCALL record.
	avc4580 = `audit(1700000003.000:4580): avc:  denied  { read } for  pid=1300 comm="httpd" name="index.html" dev="sda1" ino=12 scontext=system_u:system_r:httpd_t:s0 tcontext=unconfined_u:object_r:user_home_t:s0 tclass=file permissive=0`
	sys4580 = `audit(1700000003.000:4580): arch=c000003e syscall=2 success=no exit=-13 a0=1 a1=0 a2=0 a3=0 items=1 ppid=1 pid=1300 auid=4294967295 uid=48 gid=48 euid=48 suid=48 fsuid=48 egid=48 sgid=48 fsgid=48 tty=(none) ses=4294967295 comm="httpd" exe="/usr/sbin/httpd" subj=system_u:system_r:httpd_t:s0 key="web"`
	eoe4580 = `audit(1700000003.000:4580): `
)

type raw struct {
	typ uint16
	msg string
}

const (
	tSyscall      = 1300
	tPath         = 1302
	tCwd          = 1307
	tConfigChange = 1305
	tEOE          = 1320
	tProctitle    = 1327
	tAVC          = 1400
	tUserLogin    = 1112
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      raw
		want    record
		wantErr bool
	}{
		{"SYSCALL", raw{tSyscall, sysOpenat}, record{typ: tSyscall, serial: 4567,
			sc: &syscallInfo{tgid: 1234, comm: "cat", key: "etc-read", nr: 257, arch: 0xc000003e}}, false},
		{"SYSCALL, hex comm, no key", raw{tSyscall, sysChmod}, record{typ: tSyscall, serial: 4568,
			sc: &syscallInfo{tgid: 2000, comm: "my script", key: "", nr: 90, arch: 0xc000003e}}, false},
		{"SYSCALL, two keys", raw{tSyscall, sysUnlink}, record{typ: tSyscall, serial: 4569,
			sc: &syscallInfo{tgid: 1234, comm: "rm", key: "k1\x01k2", nr: 87, arch: 0xc000003e}}, false},
		{"CWD", raw{tCwd, cwd4567}, record{typ: tCwd, serial: 4567}, false},
		{"PATH", raw{tPath, path4567}, record{typ: tPath, serial: 4567}, false},
		{"PROCTITLE", raw{tProctitle, title4567}, record{typ: tProctitle, serial: 4567}, false},
		{"EOE", raw{tEOE, eoe4567}, record{typ: tEOE, serial: 4567}, false},
		{"EOE padded with NULs", raw{tEOE, eoe4567 + "\x00\x00"}, record{typ: tEOE, serial: 4567}, false},
		{"user message", raw{tUserLogin, userLogin}, record{typ: tUserLogin, serial: 4570}, false},
		{"no header", raw{tSyscall, "arch=c000003e syscall=1 pid=5"}, record{typ: tSyscall}, true},
		{"SYSCALL without pid", raw{tSyscall, "audit(1.000:9): arch=c000003e syscall=1"}, record{typ: tSyscall, serial: 9}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRecord(tt.in.typ, []byte(tt.in.msg))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			// Every record here is stamped at .123 to .300 of second
			// 1700000000 or 1700000001, or has no header.
			if s := got.stamp; got.serial >= 4567 && (s.Unix() < 1700000000 || s.Unix() > 1700000001) {
				t.Fatalf("stamp %v", s)
			}
			if got.serial == 4567 && !got.stamp.Equal(time.Unix(1700000000, 123e6)) {
				t.Fatalf("stamp %v, want 1700000000.123", got.stamp)
			}
			got.stamp = time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v (sc %+v), want %+v (sc %+v)", got, got.sc, tt.want, tt.want.sc)
			}
		})
	}
}

func TestScanFields(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a=1 b="x y" c=(null)`, []string{"a=1", `b="x y"`, "c=(null)"}},
		{`avc:  denied  { read } for  pid=1300 comm="httpd"`, []string{"pid=1300", `comm="httpd"`}},
		{`msg='op=login acct="root" res=success' pid=3`, []string{`msg='op=login acct="root" res=success'`, "pid=3"}},
		{`unterminated="abc`, []string{`unterminated="abc`}},
		{`k=`, []string{"k="}},
		{`=v x`, []string{"=v"}},
		{``, nil},
	}
	for _, tt := range tests {
		var got []string
		scanFields(tt.in, func(k, v string) { got = append(got, k+"="+v) })
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("scanFields(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"cat"`, "cat"},
		{"(null)", ""},
		{"6D7920736372697074", "my script"},
		{"6B31016B32", "k1\x01k2"},
		{"abc", "abc"}, // not upper-case hex
		{"ABC", "ABC"}, // odd length
		{`"`, `"`},     // a lone quote
		{"", ""},
	}
	for _, tt := range tests {
		if got := decodeValue(tt.in); got != tt.want {
			t.Errorf("decodeValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// attribute runs records through an attributor.
func attribute(a *attributor, rs []raw) {
	for _, r := range rs {
		rec, err := parseRecord(r.typ, []byte(r.msg))
		a.add(rec, err == nil)
	}
}

func TestAttribution(t *testing.T) {
	openatEvent := []raw{{tSyscall, sysOpenat}, {tCwd, cwd4567}, {tPath, path4567}, {tProctitle, title4567}, {tEOE, eoe4567}}
	tests := []struct {
		name      string
		in        []raw
		max       int // maxSerials; 0 for the default
		wantProcs []profile.Process
		wantRules []profile.Rule
	}{
		{
			name:      "one event: all five records to cat and its key",
			in:        openatEvent,
			wantProcs: []profile.Process{{Tgid: 1234, Comm: "cat", Records: 5, Queued: 5}},
			wantRules: []profile.Rule{{Key: "etc-read", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Records: 5, Events: 1}},
		},
		{
			name: "two processes, three rules, a key-less event",
			in: append(append([]raw{}, openatEvent...),
				raw{tSyscall, sysChmod}, raw{tEOE, eoe4568},
				raw{tSyscall, sysUnlink}),
			wantProcs: []profile.Process{
				{Tgid: 1234, Comm: "rm", Records: 6, Queued: 6}, // comm: the latest SYSCALL's
				{Tgid: 2000, Comm: "my script", Records: 2, Queued: 2},
			},
			wantRules: []profile.Rule{
				{Key: "", Syscall: 90, Arch: "x86_64", SyscallName: "chmod", Records: 2, Events: 1},
				{Key: "etc-read", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Records: 5, Events: 1},
				{Key: "k1\x01k2", Syscall: 87, Arch: "x86_64", SyscallName: "unlink", Records: 1, Events: 1},
			},
		},
		{
			name:      "records before their SYSCALL record are credited when it arrives",
			in:        []raw{{tAVC, avc4580}, {tSyscall, sys4580}, {tEOE, eoe4580}},
			wantProcs: []profile.Process{{Tgid: 1300, Comm: "httpd", Records: 3, Queued: 3}},
			wantRules: []profile.Rule{{Key: "web", Syscall: 2, Arch: "x86_64", SyscallName: "open", Records: 3, Events: 1}},
		},
		{
			name:      "non-syscall events are unattributed",
			in:        []raw{{tUserLogin, userLogin}, {tConfigChange, configChange}},
			wantProcs: []profile.Process{{Tgid: 0, Comm: CommUnattributed, Records: 2, Queued: 2}},
			wantRules: []profile.Rule{{Key: "", Syscall: SyscallNone, Records: 2}},
		},
		{
			name:      "a record without header is unattributed",
			in:        []raw{{tPath, "garbage"}},
			wantProcs: []profile.Process{{Tgid: 0, Comm: CommUnattributed, Records: 1, Queued: 1}},
			wantRules: []profile.Rule{{Key: "", Syscall: SyscallNone, Records: 1}},
		},
		{
			name: "a forgotten serial: the rest of its event is unattributed",
			in: []raw{{tSyscall, sysOpenat}, {tCwd, cwd4567},
				{tSyscall, sysChmod}, // evicts 4567 (max 1 serial)
				{tPath, path4567}, {tEOE, eoe4567}},
			max: 1,
			wantProcs: []profile.Process{
				{Tgid: 1234, Comm: "cat", Records: 2, Queued: 2},
				{Tgid: 2000, Comm: "my script", Records: 1, Queued: 1},
				{Tgid: 0, Comm: CommUnattributed, Records: 2, Queued: 2},
			},
			wantRules: []profile.Rule{
				{Key: "", Syscall: 90, Arch: "x86_64", SyscallName: "chmod", Records: 1, Events: 1},
				{Key: "etc-read", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Records: 2, Events: 1},
				{Key: "", Syscall: SyscallNone, Records: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAttributor()
			if tt.max > 0 {
				a.maxSerials = tt.max
			}
			attribute(a, tt.in)
			procs, rules, ovf := a.finish()
			if !reflect.DeepEqual(procs, tt.wantProcs) {
				t.Errorf("processes\n got %+v\nwant %+v", procs, tt.wantProcs)
			}
			if !reflect.DeepEqual(rules, tt.wantRules) {
				t.Errorf("rules\n got %+v\nwant %+v", rules, tt.wantRules)
			}
			if ovf != (profile.Overflows{}) {
				t.Errorf("overflows %+v", ovf)
			}
			if len(a.events) != 0 || a.order.Len() != 0 {
				t.Errorf("%d events left after finish", len(a.events))
			}
		})
	}
}

func TestAttributionBounds(t *testing.T) {
	a := newAttributor()
	a.maxProcs, a.maxRules, a.maxSerials = 2, 2, 3
	for i := range 5 {
		msg := fmt.Sprintf(`audit(1.000:%d): arch=c000003e syscall=%d pid=%d comm="p%d" key="k"`, 100+i, i, 10+i, i)
		rec, err := parseRecord(tSyscall, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		a.add(rec, true)
		a.add(record{typ: tEOE, serial: uint32(100 + i)}, true)
	}
	procs, rules, ovf := a.finish()
	wantProcs := []profile.Process{
		{Tgid: 10, Comm: "p0", Records: 2, Queued: 2},
		{Tgid: 11, Comm: "p1", Records: 2, Queued: 2},
		{Tgid: 0, Comm: CommOther, Records: 6, Queued: 6},
	}
	if !reflect.DeepEqual(procs, wantProcs) {
		t.Errorf("processes %+v", procs)
	}
	if len(rules) != 3 || rules[2].Syscall != SyscallOther || rules[2].Records != 6 || rules[2].Events != 3 {
		t.Errorf("rules %+v", rules)
	}
	if ovf.Processes != 6 || ovf.Rules != 6 {
		t.Errorf("overflows %+v", ovf)
	}
}

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
			if !reflect.DeepEqual(got.Arrivals, tt.wantArrivals) || !reflect.DeepEqual(got.Lost, tt.wantLost) || !reflect.DeepEqual(got.MaxDepth, tt.wantDepth) {
				t.Fatalf("arrivals %v lost %v depth %v", got.Arrivals, got.Lost, got.MaxDepth)
			}
			for i, a := range got.Arrivals {
				if got.Queued[i] != uint64(a) || got.Drained[i] != uint64(a) || got.Waits[i] != 0 || got.WaitNs[i] != 0 {
					t.Fatalf("bucket %d: queued %d drained %d waits %d", i, got.Queued[i], got.Drained[i], got.Waits[i])
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

// The recorder end to end, with records and samples at chosen times.
func TestRecorderProfile(t *testing.T) {
	start := time.Unix(1000, 0)
	r := newRecorder(int64(100*time.Millisecond), start)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	r.addSample(ms(0), &profile.AuditStatus{Lost: 100, Backlog: 3, BacklogLimit: 64})
	for i, rr := range []raw{{tSyscall, sysOpenat}, {tCwd, cwd4567}, {tPath, path4567}, {tProctitle, title4567}, {tEOE, eoe4567}} {
		r.addRecord(ms(10+i), rr.typ, []byte(rr.msg), time.Time{})
	}
	r.addRecord(ms(150), tConfigChange, []byte(configChange), time.Time{})
	p1 := r.addSample(ms(160), &profile.AuditStatus{Lost: 130, Backlog: 80, BacklogLimit: 64})
	if p1 != (Progress{Delivered: 6, Lost: 30, Backlog: 80}) {
		t.Fatalf("progress %+v", p1)
	}
	r.addSample(ms(260), &profile.AuditStatus{Lost: 131, Backlog: 0, BacklogLimit: 64})
	p := r.profile(5_000_000, ms(300))
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
	if !reflect.DeepEqual(tl.Arrivals, []int64{5, 1, 0}) || !reflect.DeepEqual(tl.Lost, []uint64{0, 30, 1}) ||
		!reflect.DeepEqual(tl.MaxDepth, []uint64{3, 80, 0}) || tl.StartNs != 5_000_000 {
		t.Fatalf("timeline %+v", tl)
	}
	if len(p.Processes) != 2 || p.Processes[0].Records != 5 || p.Processes[1].Comm != CommUnattributed {
		t.Fatalf("processes %+v", p.Processes)
	}
}

// After the stop, only records of events begun before it are counted, and
// one begun drainMargin after it ends the drain.
func TestRecorderStop(t *testing.T) {
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
			r := newRecorder(DefaultBucketNs, stop.Add(-time.Second))
			if got := r.addRecord(stop, tt.in.typ, []byte(tt.in.msg), stop); got != tt.want {
				t.Fatalf("class %d, want %d", got, tt.want)
			}
			if n := r.delivered; (n == 1) != (tt.want == counted) {
				t.Fatalf("delivered %d", n)
			}
			// Without a stop (while recording) every record counts.
			if got := r.addRecord(stop, tt.in.typ, []byte(tt.in.msg), time.Time{}); got != counted {
				t.Fatalf("class %d without a stop", got)
			}
		})
	}
}

func TestDrainedNotes(t *testing.T) {
	if n := (drained{timeout: time.Second}).notes(3*time.Second, time.Millisecond); len(n) != 0 {
		t.Fatalf("nothing drained, nothing left: notes %q", n)
	}
	n := (drained{records: 1200, left: 30, timeout: 10 * time.Second}).notes(3*time.Second, 2*time.Second)
	if len(n) != 2 || !strings.Contains(n[0], "stopped at 3s; the last 2s received 1200 records") ||
		!strings.Contains(n[1], "30 records were still in the audit queue 10s after the stop") {
		t.Fatalf("notes %q", n)
	}
}

func TestRecorderNoLoss(t *testing.T) {
	r := newRecorder(DefaultBucketNs, time.Now())
	r.addSample(time.Now(), &profile.AuditStatus{Lost: 7})
	r.addSample(time.Now(), &profile.AuditStatus{Lost: 7})
	p := r.profile(0, time.Now())
	if p.Totals.Lost != 0 || len(p.Totals.LostByReason) != 0 {
		t.Fatalf("totals %+v", p.Totals)
	}
}

// checkConsistent asserts what must hold for any Record result.
func checkConsistent(t *testing.T, p *profile.Profile) {
	t.Helper()
	var procs, rules, events, arrivals uint64
	for _, x := range p.Processes {
		procs += x.Records
	}
	for _, x := range p.Rules {
		rules += x.Records
		events += x.Events
	}
	for _, a := range p.Timeline.Arrivals {
		arrivals += uint64(a)
	}
	d := p.Totals.Delivered
	if procs != d || rules != d || arrivals != d || events > d {
		t.Fatalf("delivered %d: processes sum %d, rules sum %d, timeline sum %d, events %d", d, procs, rules, arrivals, events)
	}
	if p.Totals.Records != d || p.Totals.Queued != d {
		t.Fatalf("totals %+v", p.Totals)
	}
}

// Record on this machine: audit is off, so nothing (or next to nothing)
// arrives; the profile must still be complete and Record prompt.
func TestRecordHere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var progress atomic.Int32
	var started atomic.Bool
	start := time.Now()
	p, err := Record(ctx, Options{
		SampleEvery: 300 * time.Millisecond,
		Started:     func() error { started.Store(true); return nil },
		Progress:    func(Progress) { progress.Add(1) },
	})
	late := time.Since(start) - time.Second
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("returned %v after the deadline; delivered %d, lost %d, max depth %d, %d buckets, %d progress calls; before %+v",
		late, p.Totals.Delivered, p.Totals.Lost, p.Totals.MaxDepth, p.Timeline.Len(), progress.Load(), *p.AuditBefore)
	if late > time.Second {
		t.Fatalf("Record returned %v after its deadline", late)
	}
	if p.Attach != profile.AttachNetlink {
		t.Fatalf("attach %q", p.Attach)
	}
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, p)
	if p.AuditBefore == nil || p.AuditAfter == nil {
		t.Fatal("no AUDIT_GET sample")
	}
	// Audit is off here: nothing queued at the stop, nothing left.
	if n := p.Netlink; n == nil || n.LeftInQueue != 0 || (p.AuditAfter.Backlog == 0 && n.AfterStop != 0) {
		t.Fatalf("netlink account %+v with backlog %d at the stop", n, p.AuditAfter.Backlog)
	}
	if p.AuditBefore.Enabled == 0 && p.Totals.Delivered != 0 {
		t.Logf("audit is disabled yet %d records were delivered (kernel-generated records)", p.Totals.Delivered)
	}
	if !started.Load() || progress.Load() < 2 {
		t.Fatalf("started %v, %d progress calls", started.Load(), progress.Load())
	}
	if n := p.Timeline.Len(); n < 95 || n > 110 || p.Timeline.BucketNs != DefaultBucketNs {
		t.Fatalf("%d buckets of %d ns for 1 s", n, p.Timeline.BucketNs)
	}
	if p.Processes == nil || p.Rules == nil || p.WaitHistogramNs == nil || p.Totals.LostByReason == nil {
		t.Fatal("nil tables would encode as null")
	}
}

func TestRecordCancelledEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	p, err := Record(ctx, Options{Started: func() error { cancel(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
	p.SchemaVersion = profile.SchemaVersion
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRecordStartedError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Record(context.Background(), Options{Started: func() error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

// Joining the group without CAP_AUDIT_READ, for real: the test binary runs
// Record as nobody.
func TestRecordPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "readlog-test-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "readlog.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envRecordChild+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if want := "joining the audit multicast group: permission denied: run as root or grant CAP_AUDIT_READ"; strings.TrimSpace(string(out)) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, r := range []raw{{tSyscall, sysOpenat}, {tSyscall, sysChmod}, {tSyscall, sysUnlink}, {tCwd, cwd4567},
		{tPath, path4567}, {tProctitle, title4567}, {tEOE, eoe4567}, {tUserLogin, userLogin}, {tAVC, avc4580}} {
		f.Add(r.typ, []byte(r.msg))
	}
	f.Fuzz(func(t *testing.T, typ uint16, payload []byte) {
		a := newAttributor()
		a.maxSerials = 2
		var n uint64
		// The record, then an EOE and a SYSCALL of the same serial, through
		// attribution: every record must be counted exactly once.
		rec, err := parseRecord(typ, payload)
		if err == nil && rec.typ == tSyscall && rec.sc == nil {
			t.Fatal("SYSCALL record parsed without its fields")
		}
		a.add(rec, err == nil)
		n++
		if err == nil {
			a.add(record{typ: tSyscall, serial: rec.serial, sc: &syscallInfo{tgid: 1, nr: -1}}, true)
			a.add(record{typ: tEOE, serial: rec.serial}, true)
			n += 2
		}
		procs, rules, _ := a.finish()
		var sp, sr uint64
		for _, p := range procs {
			sp += p.Records
		}
		for _, r := range rules {
			sr += r.Records
		}
		if sp != n || sr != n {
			t.Fatalf("%d records, processes count %d, rules %d", n, sp, sr)
		}
	})
}

// A real record through the multicast path. Opt-in: it does not change any
// audit setting, but with audit disabled and no auditd the kernel also
// prints the record to the console (kauditd_printk_skb). With audit
// disabled the kernel still accepts AUDIT_USER_AVC from user space
// (audit_receive_msg), which makes this possible without enabling audit.
func TestRecordReceivesUserAVC(t *testing.T) {
	if os.Getenv("AUDITPROF_TEST_EMIT_RECORD") != "1" {
		t.Skip("set AUDITPROF_TEST_EMIT_RECORD=1 to send one AUDIT_USER_AVC record (printed to the console)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	sent := make(chan error, 1)
	p, err := Record(ctx, Options{Started: func() error {
		go func() { sent <- sendUserAVC("auditprof readlog test") }()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("delivered %d; processes %+v; rules %+v", p.Totals.Delivered, p.Processes, p.Rules)
	checkConsistent(t, p)
	if p.Totals.Delivered < 1 {
		t.Fatal("the record sent was not received")
	}
	last := p.Processes[len(p.Processes)-1]
	if last.Comm != CommUnattributed || last.Records < 1 {
		t.Fatalf("a user message belongs to no syscall event: %+v", p.Processes)
	}
}

// sendUserAVC sends one AUDIT_USER_AVC (1107) message to the kernel.
func sendUserAVC(text string) error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_AUDIT)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	payload := append([]byte(text), 0)
	b := make([]byte, syscall.NLMSG_HDRLEN+len(payload))
	*(*syscall.NlMsghdr)(unsafe.Pointer(&b[0])) = syscall.NlMsghdr{
		Len: uint32(len(b)), Type: 1107, Flags: syscall.NLM_F_REQUEST, Seq: 1,
	}
	copy(b[syscall.NLMSG_HDRLEN:], payload)
	return syscall.Sendto(fd, b, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
}
