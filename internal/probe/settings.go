package probe

import (
	"fmt"
)

// SettingEvent is one change of an audit setting the programs saw: a call
// of audit_log_config_change, in the task that sent the AUDIT_SET (issue
// 20). The kernel makes it only while audit is enabled, before it assigns
// the new value, and also for changes it refuses (Allowed false: audit
// locked).
type SettingEvent struct {
	Ns       int64  // CLOCK_MONOTONIC, the timeline's clock
	Name     string // the kernel's: "audit_backlog_limit", "audit_pid", ...
	New, Old uint32
	Allowed  bool
	Tgid     uint32
	PID      uint32
	Comm     string
	Auid     uint32
	Ses      uint32
	CgroupID uint64
}

// SettingsSlots is the size of settings_log: bpf/backlog.h's SETTINGS_SLOTS.
const SettingsSlots = uint32(backlogSettingsSizesSETTINGS_SLOTS)

// SettingEvents returns the changes the programs logged since the last
// call, in the order they were made, and how many found no slot in all
// (more than SettingsSlots changes while counting; they are not seen). A
// slot still being written is left for the next call. Without the
// audit_log_config_change point attached it returns nothing.
func (p *Probe) SettingEvents() (events []SettingEvent, dropped uint64, err error) {
	v, ok := p.coll.Variables["settings_next"]
	m := p.coll.Maps["settings_log"]
	if !ok || m == nil {
		return nil, 0, nil
	}
	var next uint32
	if err := v.Get(&next); err != nil {
		return nil, 0, fmt.Errorf("reading settings_next: %w", err)
	}
	if next > SettingsSlots {
		dropped = uint64(next - SettingsSlots)
	}
	for ; p.settingsRead < min(next, SettingsSlots); p.settingsRead++ {
		var c backlogSettingChange
		if err := m.Lookup(p.settingsRead, &c); err != nil {
			return events, dropped, fmt.Errorf("reading settings_log: %w", err)
		}
		if c.Ns == 0 {
			break // still being written
		}
		events = append(events, SettingEvent{Ns: int64(c.Ns), Name: cString(c.Name[:]), New: c.NewVal, Old: c.OldVal,
			Allowed: c.Allow != 0, Tgid: c.Tgid, PID: c.Pid, Comm: cString(c.Comm[:]), Auid: c.Auid, Ses: c.Ses, CgroupID: c.CgroupId})
	}
	return events, dropped, nil
}
