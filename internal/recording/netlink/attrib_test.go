package netlink

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// attribute runs records through an attributor.
func attribute(a *attributor, rs []raw) {
	for _, r := range rs {
		m, err := parseMessage(r.typ, []byte(r.msg))
		a.add(m, err == nil)
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
			name:      "a SYSCALL record without arch names neither arch nor syscall",
			in:        []raw{{tSyscall, `audit(1.000:9): syscall=1 pid=5 comm="x"`}},
			wantProcs: []profile.Process{{Tgid: 5, Comm: "x", Records: 1, Queued: 1}},
			wantRules: []profile.Rule{{Key: "", Syscall: 1, Records: 1, Events: 1}},
		},
		{
			name:      "non-syscall events are unattributed",
			in:        []raw{{tUserLogin, userLogin}, {tConfigChange, configChange}},
			wantProcs: []profile.Process{{Tgid: 0, Comm: CommUnattributed, Records: 2, Queued: 2}},
			wantRules: []profile.Rule{{Key: "", Syscall: profile.SyscallNone, Records: 2}},
		},
		{
			name:      "a record without header is unattributed",
			in:        []raw{{tPath, "garbage"}},
			wantProcs: []profile.Process{{Tgid: 0, Comm: CommUnattributed, Records: 1, Queued: 1}},
			wantRules: []profile.Rule{{Key: "", Syscall: profile.SyscallNone, Records: 1}},
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
				{Key: "", Syscall: profile.SyscallNone, Records: 2},
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
		m, err := parseMessage(tSyscall, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		a.add(m, true)
		a.add(message{typ: tEOE, serial: uint32(100 + i)}, true)
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
	if len(rules) != 3 || rules[2].Syscall != profile.SyscallOther || rules[2].Records != 6 || rules[2].Events != 3 {
		t.Errorf("rules %+v", rules)
	}
	if ovf.Processes != 6 || ovf.Rules != 6 {
		t.Errorf("overflows %+v", ovf)
	}
}
