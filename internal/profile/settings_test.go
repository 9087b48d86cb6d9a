package profile

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestSettingsRoundTrip: a profile's setting changes survive Encode and
// Decode, and a profile without any writes no "settings".
func TestSettingsRoundTrip(t *testing.T) {
	p := valid()
	p.Settings = []SettingChange{
		{MonoNs: 2e9, Field: SettingBacklogLimit, Old: 300, New: 20000, Seen: SeenKernel,
			By: &SettingSender{Tgid: 812, PID: 812, Comm: "auditctl", Auid: 0, Ses: 3, CgroupID: 77, Cgroup: "session-3.scope"}},
		{MonoNs: 5e9, SinceNs: 4e9, Field: SettingPID, Old: 640, New: 0, Seen: SeenPoll},
	}
	var b bytes.Buffer
	if err := p.Encode(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Settings, p.Settings) {
		t.Errorf("settings %+v, want %+v", got.Settings, p.Settings)
	}
	p.Settings = nil
	b.Reset()
	if err := p.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `"settings"`) {
		t.Errorf("a profile without setting changes writes settings")
	}
}

// TestSettingsRejects: Validate refuses changes that cannot be.
func TestSettingsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    []SettingChange
		want string
	}{
		{"field", []SettingChange{{Field: "audit_backlog_limit", Seen: SeenKernel}}, `settings[0].field is "audit_backlog_limit"`},
		{"seen", []SettingChange{{Field: SettingPID, Seen: "guess"}}, `settings[0].seen is "guess"`},
		{"by on a poll", []SettingChange{{Field: SettingPID, Seen: SeenPoll, By: &SettingSender{}}}, "by is for changes seen by the kernel"},
		{"since on a kernel", []SettingChange{{Field: SettingPID, Seen: SeenKernel, SinceNs: 1}}, "since_ns is for changes seen by the poll"},
		{"since after", []SettingChange{{MonoNs: 1, SinceNs: 2, Field: SettingPID, Seen: SeenPoll}}, "since_ns 2 is after mono_ns 1"},
		{"order", []SettingChange{{MonoNs: 2, Field: SettingPID, Seen: SeenKernel}, {MonoNs: 1, Field: SettingPID, Seen: SeenKernel}}, "settings[1]: mono_ns 1 is before"},
	} {
		p := valid()
		p.Settings = tc.c
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestSettingsAt: the status in force at a time is the one before with
// every change up to it applied, the counters left alone.
func TestSettingsAt(t *testing.T) {
	before := AuditStatus{Enabled: 1, PID: 640, BacklogLimit: 300, BacklogWaitTime: 6000, Lost: 7}
	changes := []SettingChange{
		{MonoNs: 10, Field: SettingBacklogLimit, Old: 300, New: 20000, Seen: SeenKernel},
		{MonoNs: 20, Field: SettingPID, Old: 640, New: 0, Seen: SeenPoll},
		{MonoNs: 20, Field: SettingLostReset, Old: 7, New: 0, Seen: SeenKernel},
		{MonoNs: 30, Field: SettingPID, Old: 0, New: 700, Seen: SeenKernel},
	}
	for _, tc := range []struct {
		at   int64
		want AuditStatus
	}{
		{9, before},
		{10, AuditStatus{Enabled: 1, PID: 640, BacklogLimit: 20000, BacklogWaitTime: 6000, Lost: 7}},
		{25, AuditStatus{Enabled: 1, PID: 0, BacklogLimit: 20000, BacklogWaitTime: 6000, Lost: 7}},
		{99, AuditStatus{Enabled: 1, PID: 700, BacklogLimit: 20000, BacklogWaitTime: 6000, Lost: 7}},
	} {
		if got := SettingsAt(before, changes, tc.at); got != tc.want {
			t.Errorf("at %d: %+v, want %+v", tc.at, got, tc.want)
		}
	}
}

func TestSettingChangeDescribe(t *testing.T) {
	const start = 5e9
	for _, tc := range []struct {
		c    SettingChange
		want string
	}{
		{SettingChange{MonoNs: start + 2500e6, Field: SettingBacklogLimit, Old: 300, New: 20000, Seen: SeenKernel,
			By: &SettingSender{Tgid: 261, Comm: "auditctl", Auid: 1000}}, "backlog_limit 300 -> 20000 by auditctl (pid 261, auid 1000)"},
		{SettingChange{MonoNs: start + 7e9, SinceNs: start + 2e9, Field: SettingEnabled, Old: 0, New: 1, Seen: SeenPoll},
			"enabled 0 -> 1 (between the AUDIT_GET replies at +2s and +7s)"},
		{SettingChange{MonoNs: start + 1e9, SinceNs: start, Field: SettingLostReset, Old: 1518, New: 0, Seen: SeenPoll},
			"lost counter reset (1518 -> 0) (between the AUDIT_GET replies at +0s and +1s)"},
		{SettingChange{MonoNs: start, Field: SettingFailure, Old: 1, New: 2, Seen: SeenKernel}, "failure 1 -> 2"},
	} {
		if got := tc.c.Describe(start); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}
