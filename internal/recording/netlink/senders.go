package netlink

import (
	"cmp"
	"slices"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// senderSlack widens a poll's window when its changes are matched to
// CONFIG_CHANGE records: a record's stamp is the kernel's coarse real-time
// clock (a jiffy behind at most) truncated to the millisecond, and a
// sample's time is when its reply was read.
const senderSlack = int64(time.Second)

// withSenders replaces each change two AUDIT_GET samples showed (times in
// ns from start) by the changes the kernel logged in the samples' window
// that lead from its old value to its new one, each at its record's time
// (kept within the window) with its sender (issue 20: netlink recordings
// name who changed a setting, as the BPF modes do). A change no record
// explains stays as the samples showed it; a chain that begins elsewhere
// than the old value (an auditd killed, which the kernel does not log,
// then a new one registered) keeps the unlogged step as seen by the poll.
// Lost-counter resets stay as they are.
func withSenders(changes []profile.SettingChange, recs []configRecord, start time.Time) []profile.SettingChange {
	if len(recs) == 0 {
		return changes
	}
	at := func(r configRecord) int64 { return r.stamp.Sub(start).Nanoseconds() }
	used := make([]bool, len(recs))
	var out []profile.SettingChange
	for _, c := range changes {
		if c.Seen != profile.SeenPoll || c.Field == profile.SettingLostReset {
			out = append(out, c)
			continue
		}
		// The window's allowed records of this setting, in time order.
		var idx []int
		for i, r := range recs {
			if !used[i] && r.allowed && profile.KernelSettingNames[r.name] == c.Field &&
				at(r) >= c.SinceNs-senderSlack && at(r) <= c.MonoNs+senderSlack {
				idx = append(idx, i)
			}
		}
		slices.SortStableFunc(idx, func(a, b int) int { return recs[a].stamp.Compare(recs[b].stamp) })
		// Back from the last record that set the new value.
		last := -1
		for k := len(idx) - 1; k >= 0; k-- {
			if uint64(recs[idx[k]].new) == c.New {
				last = k
				break
			}
		}
		if last < 0 {
			out = append(out, c)
			continue
		}
		chain := []int{idx[last]}
		from := uint64(recs[idx[last]].old)
		for k := last - 1; k >= 0 && from != c.Old; k-- {
			if r := recs[idx[k]]; uint64(r.new) == from {
				chain = append([]int{idx[k]}, chain...)
				from = uint64(r.old)
			}
		}
		first := min(max(at(recs[chain[0]]), c.SinceNs), c.MonoNs)
		if from != c.Old {
			// The step no record explains, before the first that does.
			out = append(out, profile.SettingChange{MonoNs: first, SinceNs: c.SinceNs, Field: c.Field,
				Old: c.Old, New: from, Seen: profile.SeenPoll})
		}
		for _, i := range chain {
			used[i] = true
			r := recs[i]
			sc := profile.SettingChange{MonoNs: min(max(at(r), c.SinceNs), c.MonoNs), Field: c.Field,
				Old: uint64(r.old), New: uint64(r.new), Seen: profile.SeenKernel,
				By: &profile.SettingSender{Auid: r.auid, Ses: r.ses}}
			if r.sender != nil {
				sc.By.Tgid, sc.By.PID, sc.By.Comm = r.sender.tgid, r.sender.tgid, r.sender.comm
			}
			out = append(out, sc)
		}
	}
	slices.SortStableFunc(out, func(a, b profile.SettingChange) int { return cmp.Compare(a.MonoNs, b.MonoNs) })
	return out
}
