package recording

import (
	"cmp"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
)

// settingsTracker follows the audit settings through a recording (issue
// 20) by two sources. The kernel's own: every AUDIT_SET setter calls
// audit_log_config_change while audit is enabled, which the programs log
// with the sender (probe.SettingEvents). And the AUDIT_GET replies record
// reads every ConsumerSampleEvery: each that differs from the state the
// last reply and the kernel's changes since make shows a change neither
// saw, made between the two replies (kernel/audit.c logs none made while
// audit is off, when it is enabled from 0, nor for an auditd that went
// away without unregistering); so does a kernel change whose old value is
// not the state's.
type settingsTracker struct {
	state   profile.AuditStatus // as of the last reply, with the kernel's changes since
	sentNs  int64               // when the last reply was asked for (CLOCK_MONOTONIC ns)
	pending []probe.SettingEvent
	changes []profile.SettingChange
	// dropped is how many changes the programs had no slot for.
	dropped uint64
}

// newSettingsTracker starts from before, asked for at sentNs.
func newSettingsTracker(before *profile.AuditStatus, sentNs int64) *settingsTracker {
	t := &settingsTracker{sentNs: sentNs}
	if before != nil {
		t.state = *before
	}
	return t
}

// observe takes the kernel's changes read since the last call (events,
// in order; dropped: how many it had no slot for, in all) and the reply
// st, asked for at sentNs and read at nowNs, and returns the changes it
// adds. A kernel change made before sentNs is in st: AUDIT_SET and
// AUDIT_GET are both handled under audit_ctl_lock, and the setter logs
// before it assigns, so one logged after may not be; it waits for the
// next reply. A difference left between the state and st is a change the
// kernel did not log, placed at nowNs, made after the last reply was
// asked for. A lost counter that went down was reset.
func (t *settingsTracker) observe(events []probe.SettingEvent, dropped uint64, st profile.AuditStatus, sentNs, nowNs int64) []profile.SettingChange {
	t.pending = append(t.pending, events...)
	t.dropped = max(t.dropped, dropped)
	var out []profile.SettingChange
	k := 0
	for ; k < len(t.pending) && t.pending[k].Ns < sentNs; k++ {
		ev := t.pending[k]
		name, ok := profile.KernelSettingNames[ev.Name]
		if !ok || !ev.Allowed || ev.Old == ev.New {
			continue
		}
		// The kernel's old value is not the state's: the setting changed
		// in between without a record (an auditd that exited without
		// unregistering is dropped by kauditd's next failed send, or by
		// the next auditd's registration: auditd_reset logs nothing).
		if f := t.state.Setting(name); *f != ev.Old && name != profile.SettingLostReset {
			out = append(out, profile.SettingChange{MonoNs: ev.Ns, SinceNs: min(t.sentNs, ev.Ns), Field: name,
				Old: uint64(*f), New: uint64(ev.Old), Seen: profile.SeenPoll})
		}
		*t.state.Setting(name) = ev.New
		out = append(out, profile.SettingChange{MonoNs: ev.Ns, Field: name, Old: uint64(ev.Old), New: uint64(ev.New),
			Seen: profile.SeenKernel, By: &profile.SettingSender{Tgid: ev.Tgid, PID: ev.PID, Comm: ev.Comm,
				Auid: ev.Auid, Ses: ev.Ses, CgroupID: ev.CgroupID}})
	}
	t.pending = t.pending[k:]
	out = append(out, profile.PolledChanges(t.state, st, t.sentNs, nowNs)...)
	t.state, t.sentNs = st, sentNs
	t.changes = append(t.changes, out...)
	return out
}

// list is the changes so far in time order, a copy (for a snapshot): a
// kernel change read a reply late comes before the reply's own.
func (t *settingsTracker) list() []profile.SettingChange {
	if len(t.changes) == 0 {
		return nil
	}
	out := slices.Clone(t.changes)
	slices.SortStableFunc(out, func(a, b profile.SettingChange) int { return cmp.Compare(a.MonoNs, b.MonoNs) })
	return out
}

// note says what the list misses, if anything.
func (t *settingsTracker) note() string {
	if t.dropped == 0 {
		return ""
	}
	return fmt.Sprintf("%d changes of the audit settings found no slot in the programs' log (more than %d while recording): seen only by AUDIT_GET, without their senders", t.dropped, probe.SettingsSlots)
}

// monoNow is CLOCK_MONOTONIC in ns: the timeline's clock (bpf_ktime_get_ns).
func monoNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("reading the monotonic clock: %w", err)
	}
	return ts.Nano(), nil
}
