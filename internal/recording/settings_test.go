package recording

import (
	"reflect"
	"testing"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
)

// TestSettingsTracker: the kernel's changes (audit_log_config_change) are
// kept with their time and sender once a reply asked for after them
// shows them; what a reply shows that no kernel change explains is a
// change seen by the poll, placed at the reply, made after the reply
// before was asked for; refused changes and counters are not changes.
func TestSettingsTracker(t *testing.T) {
	before := profile.AuditStatus{Enabled: 1, PID: 640, BacklogLimit: 300, Lost: 10}
	tr := newSettingsTracker(&before, 100)
	st := before
	auditctl := func(ns int64, name string, old, new uint32, allowed bool) probe.SettingEvent {
		return probe.SettingEvent{Ns: ns, Name: name, Old: old, New: new, Allowed: allowed, Tgid: 812, PID: 812, Comm: "auditctl", Auid: 0, Ses: 3}
	}
	kernel := func(ns int64, field string, old, new uint64) profile.SettingChange {
		return profile.SettingChange{MonoNs: ns, Field: field, Old: old, New: new, Seen: profile.SeenKernel,
			By: &profile.SettingSender{Tgid: 812, PID: 812, Comm: "auditctl", Auid: 0, Ses: 3}}
	}
	poll := func(at, since int64, field string, old, new uint64) profile.SettingChange {
		return profile.SettingChange{MonoNs: at, SinceNs: since, Field: field, Old: old, New: new, Seen: profile.SeenPoll}
	}
	steps := []struct {
		name       string
		events     []probe.SettingEvent
		edit       func(*profile.AuditStatus)
		sentNs, ns int64
		want       []profile.SettingChange
	}{
		{"counters", nil, func(s *profile.AuditStatus) { s.Lost, s.Backlog = 1528, 290 }, 190, 200, nil},
		{"a raise the kernel logged", []probe.SettingEvent{auditctl(250, "audit_backlog_limit", 300, 20000, true)},
			func(s *profile.AuditStatus) { s.BacklogLimit = 20000 }, 290, 300,
			[]profile.SettingChange{kernel(250, profile.SettingBacklogLimit, 300, 20000)}},
		{"auditd restarted: both its changes", []probe.SettingEvent{auditctl(350, "audit_pid", 640, 0, true), auditctl(360, "audit_pid", 0, 702, true)},
			func(s *profile.AuditStatus) { s.PID = 702 }, 390, 400,
			[]profile.SettingChange{kernel(350, profile.SettingPID, 640, 0), kernel(360, profile.SettingPID, 0, 702)}},
		{"logged after the reply was asked for: not yet", []probe.SettingEvent{auditctl(495, "audit_backlog_wait_time", 0, 250, true)},
			func(s *profile.AuditStatus) {}, 490, 500, nil},
		{"then shown", nil, func(s *profile.AuditStatus) { s.BacklogWaitTime = 250 }, 590, 600,
			[]profile.SettingChange{kernel(495, profile.SettingBacklogWaitTime, 0, 250)}},
		{"refused", []probe.SettingEvent{auditctl(650, "audit_backlog_limit", 20000, 5, false)},
			func(s *profile.AuditStatus) {}, 690, 700, nil},
		{"disabled (logged), then a limit set while off (not logged)", []probe.SettingEvent{auditctl(710, "audit_enabled", 1, 0, true)},
			func(s *profile.AuditStatus) { s.Enabled, s.BacklogLimit = 0, 64 }, 790, 800,
			[]profile.SettingChange{kernel(710, profile.SettingEnabled, 1, 0), poll(800, 690, profile.SettingBacklogLimit, 20000, 64)}},
		{"enabled from 0", nil, func(s *profile.AuditStatus) { s.Enabled = 1 }, 890, 900,
			[]profile.SettingChange{poll(900, 790, profile.SettingEnabled, 0, 1)}},
		{"lost reset, logged", []probe.SettingEvent{auditctl(950, "lost", 1528, 0, true)},
			func(s *profile.AuditStatus) { s.Lost = 3 }, 990, 1000,
			[]profile.SettingChange{kernel(950, profile.SettingLostReset, 1528, 0)}},
		{"auditd killed (not logged) and a reset unlogged", nil, func(s *profile.AuditStatus) { s.PID, s.Lost = 0, 1 }, 1090, 1100,
			[]profile.SettingChange{poll(1100, 990, profile.SettingPID, 702, 0), poll(1100, 990, profile.SettingLostReset, 3, 1)}},
		{"a name this build does not know", []probe.SettingEvent{auditctl(1150, "backlog_wait_time_actual", 40, 0, true)},
			func(s *profile.AuditStatus) {}, 1190, 1200, nil},
	}
	var all []profile.SettingChange
	for _, s := range steps {
		s.edit(&st)
		got := tr.observe(s.events, 0, st, s.sentNs, s.ns)
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: %+v, want %+v", s.name, got, s.want)
		}
		all = append(all, s.want...)
	}
	if got := tr.list(); !reflect.DeepEqual(got, all) {
		t.Errorf("list %+v, want %+v", got, all)
	}
	if err := (&profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: "fentry", Settings: tr.list()}).Validate(); err != nil {
		t.Errorf("the list does not validate: %v", err)
	}
	if got := profile.SettingsAt(before, tr.list(), 1200); got.BacklogLimit != 64 || got.PID != 0 || got.Enabled != 1 || got.BacklogWaitTime != 250 {
		t.Errorf("in force at the end: %+v", got)
	}
	if tr.note() != "" {
		t.Errorf("a note with nothing dropped: %q", tr.note())
	}
	tr.observe(nil, 3, st, 1290, 1300)
	if tr.note() == "" {
		t.Errorf("no note with 3 changes dropped")
	}
}

// TestSettingsTrackerOrder: a kernel change read a reply late (made after
// that reply was asked for, before it came) is listed before the poll's
// change placed at that reply.
func TestSettingsTrackerOrder(t *testing.T) {
	before := profile.AuditStatus{Enabled: 1, PID: 640, BacklogLimit: 300}
	tr := newSettingsTracker(&before, 100)
	st := before
	st.PID = 0 // auditd killed: no kernel change
	tr.observe([]probe.SettingEvent{{Ns: 195, Name: "audit_backlog_limit", Old: 300, New: 900, Allowed: true}}, 0, st, 190, 200)
	st.BacklogLimit = 900
	tr.observe(nil, 0, st, 290, 300)
	l := tr.list()
	if len(l) != 2 || l[0].MonoNs != 195 || l[1].MonoNs != 200 {
		t.Errorf("list %+v: want the kernel's change at 195, then the poll's at 200", l)
	}
}

// TestSettingsTrackerUnlogged: an auditd stopped without unregistering
// leaves no record (auditd_reset logs nothing), and the next one's
// registration says old 0: the drop from the first pid to 0 is kept too,
// made between the reply before and the registration (seen in TestConsumer
// on 6.1 and 6.12: auditd stopped with SIGTERM and started again).
func TestSettingsTrackerUnlogged(t *testing.T) {
	before := profile.AuditStatus{Enabled: 1, PID: 156, BacklogLimit: 8192}
	tr := newSettingsTracker(&before, 100)
	st := before
	st.PID = 723
	got := tr.observe([]probe.SettingEvent{{Ns: 250, Name: "audit_pid", Old: 0, New: 723, Allowed: true, Tgid: 723, PID: 723, Comm: "auditd"}}, 0, st, 290, 300)
	want := []profile.SettingChange{
		{MonoNs: 250, SinceNs: 100, Field: profile.SettingPID, Old: 156, New: 0, Seen: profile.SeenPoll},
		{MonoNs: 250, Field: profile.SettingPID, Old: 0, New: 723, Seen: profile.SeenKernel, By: &profile.SettingSender{Tgid: 723, PID: 723, Comm: "auditd"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%+v, want %+v", got, want)
	}
	if l := tr.list(); len(l) != 2 || l[0].New != 0 || l[1].New != 723 {
		t.Errorf("list %+v: the drop to 0 first", l)
	}
}
