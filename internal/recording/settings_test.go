package recording

import (
	"reflect"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestSettingsTracker: each reply that differs from the one before shows
// the changes made between them, placed at the reply, with the reply
// before as their window; a reply like the last shows none; a lost
// counter that went down was reset.
func TestSettingsTracker(t *testing.T) {
	before := profile.AuditStatus{Enabled: 1, PID: 640, BacklogLimit: 300, BacklogWaitTime: 0, Lost: 10}
	tr := newSettingsTracker(&before, 100)
	poll := func(f func(*profile.AuditStatus)) profile.AuditStatus {
		st := tr.last
		f(&st)
		return st
	}
	change := func(at, since int64, field string, old, new uint64) profile.SettingChange {
		return profile.SettingChange{MonoNs: at, SinceNs: since, Field: field, Old: old, New: new, Seen: profile.SeenPoll}
	}
	steps := []struct {
		at   int64
		edit func(*profile.AuditStatus)
		want []profile.SettingChange
	}{
		// Records lost and queued: counters, not settings.
		{200, func(s *profile.AuditStatus) { s.Lost, s.Backlog = 1528, 290 }, nil},
		// augenrules --load: the limit raised.
		{300, func(s *profile.AuditStatus) { s.BacklogLimit = 20000 }, []profile.SettingChange{change(300, 200, profile.SettingBacklogLimit, 300, 20000)}},
		// auditd restarted between two polls: gone and back as one change.
		{400, func(s *profile.AuditStatus) { s.PID = 702 }, []profile.SettingChange{change(400, 300, profile.SettingPID, 640, 702)}},
		// audit disabled, a wait time set while off (the kernel logs neither).
		{500, func(s *profile.AuditStatus) { s.Enabled, s.BacklogWaitTime = 0, 250 },
			[]profile.SettingChange{change(500, 400, profile.SettingEnabled, 1, 0), change(500, 400, profile.SettingBacklogWaitTime, 0, 250)}},
		{600, func(s *profile.AuditStatus) {}, nil},
		// auditctl --reset-lost.
		{700, func(s *profile.AuditStatus) { s.Lost = 0; s.Enabled = 1 },
			[]profile.SettingChange{change(700, 600, profile.SettingEnabled, 0, 1), change(700, 600, profile.SettingLostReset, 1528, 0)}},
	}
	var all []profile.SettingChange
	for _, s := range steps {
		got := tr.observe(poll(s.edit), s.at)
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("at %d: %+v, want %+v", s.at, got, s.want)
		}
		all = append(all, s.want...)
	}
	if got := tr.list(); !reflect.DeepEqual(got, all) {
		t.Errorf("list %+v, want %+v", got, all)
	}
	p := profile.Profile{Settings: tr.list()}
	if got := profile.SettingsAt(before, p.Settings, 650); got.BacklogLimit != 20000 || got.PID != 702 || got.Enabled != 0 || got.BacklogWaitTime != 250 {
		t.Errorf("in force at 650: %+v", got)
	}
}
