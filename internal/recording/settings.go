package recording

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/profile"
)

// settingsTracker follows the audit settings through a recording by the
// AUDIT_GET replies it reads (issue 20): each reply that differs from the
// one before shows the changes made between the two. The kernel's own
// AUDIT_CONFIG_CHANGE gives no record for a change made while audit is
// off, nor for an auditd that was killed (kernel/audit.c,
// audit_do_config_change and auditd_reset): the replies see those too.
type settingsTracker struct {
	last    profile.AuditStatus
	lastNs  int64 // CLOCK_MONOTONIC ns when last was read
	changes []profile.SettingChange
}

// newSettingsTracker starts from before, read at atNs.
func newSettingsTracker(before *profile.AuditStatus, atNs int64) *settingsTracker {
	t := &settingsTracker{lastNs: atNs}
	if before != nil {
		t.last = *before
	}
	return t
}

// observe compares st, read at nowNs, with the reply before it, keeps the
// changes it shows (placed at nowNs, made after the reply before) and
// returns them. A lost counter that went down was reset (auditctl
// --reset-lost).
func (t *settingsTracker) observe(st profile.AuditStatus, nowNs int64) []profile.SettingChange {
	prev, since := t.last, t.lastNs
	t.last, t.lastNs = st, nowNs
	var out []profile.SettingChange
	add := func(field string, old, new uint32) {
		if old != new {
			out = append(out, profile.SettingChange{MonoNs: nowNs, SinceNs: since, Field: field,
				Old: uint64(old), New: uint64(new), Seen: profile.SeenPoll})
		}
	}
	add(profile.SettingEnabled, prev.Enabled, st.Enabled)
	add(profile.SettingFailure, prev.Failure, st.Failure)
	add(profile.SettingPID, prev.PID, st.PID)
	add(profile.SettingRateLimit, prev.RateLimit, st.RateLimit)
	add(profile.SettingBacklogLimit, prev.BacklogLimit, st.BacklogLimit)
	add(profile.SettingBacklogWaitTime, prev.BacklogWaitTime, st.BacklogWaitTime)
	if st.Lost < prev.Lost {
		add(profile.SettingLostReset, prev.Lost, st.Lost)
	}
	t.changes = append(t.changes, out...)
	return out
}

// list is the changes so far, a copy (for a snapshot).
func (t *settingsTracker) list() []profile.SettingChange {
	if len(t.changes) == 0 {
		return nil
	}
	return append([]profile.SettingChange(nil), t.changes...)
}

// monoNow is CLOCK_MONOTONIC in ns: the timeline's clock (bpf_ktime_get_ns).
func monoNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("reading the monotonic clock: %w", err)
	}
	return ts.Nano(), nil
}
