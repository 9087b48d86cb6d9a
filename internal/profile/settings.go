package profile

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Audit settings a recording follows (issue 20): the fields of AUDIT_GET
// that auditctl and auditd set with AUDIT_SET, each as the kernel names
// it in its AUDIT_CONFIG_CHANGE record less the "audit_" prefix, and the
// lost counter's reset (auditctl --reset-lost).
const (
	SettingEnabled         = "enabled"
	SettingFailure         = "failure"
	SettingPID             = "pid"
	SettingRateLimit       = "rate_limit"
	SettingBacklogLimit    = "backlog_limit"
	SettingBacklogWaitTime = "backlog_wait_time"
	SettingLostReset       = "lost_reset"
)

// KernelSettingNames are the settings' names in the kernel's
// audit_log_config_change (its AUDIT_CONFIG_CHANGE records: "op=set
// NAME=NEW old=OLD ..."), to SettingFields' names.
var KernelSettingNames = map[string]string{
	"audit_enabled":           SettingEnabled,
	"audit_failure":           SettingFailure,
	"audit_pid":               SettingPID,
	"audit_rate_limit":        SettingRateLimit,
	"audit_backlog_limit":     SettingBacklogLimit,
	"audit_backlog_wait_time": SettingBacklogWaitTime,
	"lost":                    SettingLostReset,
}

// SettingFields are the settings a change may name, in AUDIT_SET's order
// (kernel/audit.c, audit_receive_msg).
var SettingFields = []string{SettingEnabled, SettingFailure, SettingPID, SettingRateLimit,
	SettingBacklogLimit, SettingBacklogWaitTime, SettingLostReset}

// How a setting change was seen.
const (
	// SeenKernel: by the kernel's own AUDIT_CONFIG_CHANGE (the BPF hook on
	// audit_log_config_change), at its time and with its sender.
	SeenKernel = "kernel"
	// SeenPoll: by two AUDIT_GET replies that differ, or a reply and a
	// kernel change whose old value is not the reply's, the change made
	// somewhere between them (SinceNs and MonoNs); no sender. The kernel
	// logs no change made while audit is off, nor an auditd that went
	// away without unregistering.
	SeenPoll = "poll"
)

// SettingChange is one change of an audit setting during a recording.
type SettingChange struct {
	// MonoNs is when it was made, on the timeline's clock (StartNs's,
	// CLOCK_MONOTONIC): its bucket is (MonoNs - StartNs) / BucketNs. A
	// change seen by the poll is placed at the reply that showed it.
	MonoNs int64 `json:"mono_ns"`
	// SinceNs is, for a change seen by the poll, the time of the reply
	// before it: the change came after it.
	SinceNs int64  `json:"since_ns,omitempty"`
	Field   string `json:"field"`
	Old     uint64 `json:"old"`
	New     uint64 `json:"new"`
	Seen    string `json:"seen"`
	// By is the process that sent the AUDIT_SET (seen by the kernel only).
	By *SettingSender `json:"by,omitempty"`
}

// Describe says what changed, and who changed it where the kernel told,
// else between which AUDIT_GET replies (as offsets from startNs, the
// timeline's start): what record's summary and the report show.
func (c SettingChange) Describe(startNs int64) string {
	what := fmt.Sprintf("%s %d -> %d", c.Field, c.Old, c.New)
	if c.Field == SettingLostReset {
		what = fmt.Sprintf("lost counter reset (%d -> %d)", c.Old, c.New)
	}
	at := func(ns int64) string { return "+" + time.Duration(ns-startNs).Round(time.Millisecond).String() }
	switch {
	case c.By != nil && c.By.Tgid == 0:
		// Netlink mode without the event's SYSCALL record (no syscall
		// rule loaded): the CONFIG_CHANGE record names no process.
		return fmt.Sprintf("%s by a process of auid %d, session %d", what, c.By.Auid, c.By.Ses)
	case c.By != nil:
		return fmt.Sprintf("%s by %s (pid %d, auid %d)", what, c.By.Comm, c.By.Tgid, c.By.Auid)
	case c.Seen == SeenPoll:
		return fmt.Sprintf("%s (between the AUDIT_GET replies at %s and %s)", what, at(c.SinceNs), at(c.MonoNs))
	}
	return what
}

// PolledChanges are the changes two AUDIT_GET replies show, prev's then
// cur's, placed at atNs (cur's) with sinceNs (prev's) as the start of
// their window, seen by the poll, in SettingFields' order. A lost counter
// that rose moved by itself; one that fell was reset.
func PolledChanges(prev, cur AuditStatus, sinceNs, atNs int64) []SettingChange {
	var out []SettingChange
	for _, name := range SettingFields {
		old, now := *prev.Setting(name), *cur.Setting(name)
		if old == now || (name == SettingLostReset && now > old) {
			continue
		}
		out = append(out, SettingChange{MonoNs: atNs, SinceNs: sinceNs, Field: name,
			Old: uint64(old), New: uint64(now), Seen: SeenPoll})
	}
	return out
}

// SettingSender is the process that sent an AUDIT_SET.
type SettingSender struct {
	Tgid uint32 `json:"tgid"`
	PID  uint32 `json:"pid"`
	Comm string `json:"comm"`
	// Auid and Ses are the sender's login uid and session (4294967295:
	// unset), as its AUDIT_CONFIG_CHANGE record gives them.
	Auid     uint32 `json:"auid"`
	Ses      uint32 `json:"ses"`
	CgroupID uint64 `json:"cgroup_id,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
}

// validateSettings checks a profile's setting changes: known fields and
// ways of seeing, in time order, a sender only where the kernel told it,
// a poll's window before its time.
func validateSettings(changes []SettingChange) error {
	var errs []error
	for i, c := range changes {
		at := fmt.Sprintf("settings[%d]", i)
		if !slices.Contains(SettingFields, c.Field) {
			errs = append(errs, fmt.Errorf("%s.field is %q, want one of %v", at, c.Field, SettingFields))
		}
		switch c.Seen {
		case SeenKernel:
			if c.SinceNs != 0 {
				errs = append(errs, fmt.Errorf("%s: since_ns is for changes seen by the poll", at))
			}
		case SeenPoll:
			if c.By != nil {
				errs = append(errs, fmt.Errorf("%s: by is for changes seen by the kernel", at))
			}
			if c.SinceNs > c.MonoNs {
				errs = append(errs, fmt.Errorf("%s: since_ns %d is after mono_ns %d", at, c.SinceNs, c.MonoNs))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.seen is %q, want %q or %q", at, c.Seen, SeenKernel, SeenPoll))
		}
		if i > 0 && c.MonoNs < changes[i-1].MonoNs {
			errs = append(errs, fmt.Errorf("%s: mono_ns %d is before the change before it (%d)", at, c.MonoNs, changes[i-1].MonoNs))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// Setting is the status's value of the setting named (SettingFields; the
// lost counter for SettingLostReset), nil for a name this build does not
// know: to read or to set.
func (s *AuditStatus) Setting(name string) *uint32 {
	switch name {
	case SettingEnabled:
		return &s.Enabled
	case SettingFailure:
		return &s.Failure
	case SettingPID:
		return &s.PID
	case SettingRateLimit:
		return &s.RateLimit
	case SettingBacklogLimit:
		return &s.BacklogLimit
	case SettingBacklogWaitTime:
		return &s.BacklogWaitTime
	case SettingLostReset:
		return &s.Lost
	}
	return nil
}

// SettingsAt is the audit status in force at mono_ns at: before, with
// every change made at or before at applied. Only the settings are
// changed; the counters (lost, backlog) are before's.
func SettingsAt(before AuditStatus, changes []SettingChange, at int64) AuditStatus {
	s := before
	for _, c := range changes {
		if c.MonoNs > at {
			break
		}
		if v := s.Setting(c.Field); v != nil && c.Field != SettingLostReset {
			*v = uint32(c.New)
		}
	}
	return s
}
