package ranking

import (
	"cmp"
	"slices"
	"strings"

	"github.com/auditprof/auditprof/internal/profile"
)

// ShortLivedLabel is how views name the process row of the records of
// processes younger than Profile.ProcessMinAgeNs (Process.ShortLived): not
// a process, and not the table's overflow ("other"), but records whose
// programs are ranked in the program table.
const ShortLivedLabel = "short-lived processes (see programs)"

// RuleProgram is one program's part of a rule (or of a group of kernel
// rule rows, as `rules` shows them): the rule's Programs merged by program
// key across its rows, with its share of the rule's records.
type RuleProgram struct {
	profile.RuleProgram
	// Unit names the program's cgroup (UnitName).
	Unit string `json:"unit"`
	// Share is the program's records over the rule's.
	Share float64 `json:"share"`
}

type programKey struct {
	comm, parent   string
	cgroupID       uint64
	cgroup         string
	self, overflow bool
}

// RulePrograms merges the programs of the rule rows rows (indices into
// p.Rules) and ranks them by records, then lost, then wait, ties by
// comm and parent. Share is of the rows' records. Empty when the rows
// carry no programs (netlink mode, older profiles).
func RulePrograms(p *profile.Profile, rows []int) []RuleProgram {
	rules := make([]profile.Rule, len(rows))
	for i, ri := range rows {
		rules[i] = p.Rules[ri]
	}
	return ProgramsOf(rules...)
}

// ProgramsOf is RulePrograms of the rule rows given.
func ProgramsOf(rules ...profile.Rule) []RuleProgram {
	idx := map[programKey]int{}
	var out []RuleProgram
	var total uint64
	for _, r := range rules {
		total += r.Records
		for _, rp := range r.Programs {
			k := programKey{rp.Comm, rp.ParentComm, rp.CgroupID, "", rp.Self, rp.Overflow}
			if rp.CgroupID == 0 {
				k.cgroup = rp.Cgroup
			}
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, RuleProgram{RuleProgram: profile.RuleProgram{Comm: rp.Comm, ParentComm: rp.ParentComm,
					CgroupID: rp.CgroupID, Cgroup: rp.Cgroup, Self: rp.Self, Overflow: rp.Overflow},
					Unit: UnitName(rp.Cgroup, rp.CgroupID)})
			}
			o := &out[i].RuleProgram
			o.Records += rp.Records
			o.Events += rp.Events
			o.Lost += rp.Lost
			o.Waits += rp.Waits
			o.WaitNs += rp.WaitNs
		}
	}
	for i := range out {
		out[i].Share = Share(out[i].Records, total)
	}
	slices.SortStableFunc(out, func(a, b RuleProgram) int {
		return cmp.Or(
			Compare(Counts{a.Records, a.Lost, a.WaitNs}, Counts{b.Records, b.Lost, b.WaitNs}, Records, Lost, Wait),
			cmp.Compare(boolInt(a.Overflow), boolInt(b.Overflow)),
			strings.Compare(a.Comm, b.Comm),
			strings.Compare(a.ParentComm, b.ParentComm),
			cmp.Compare(a.CgroupID, b.CgroupID))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ProgramLabel names a program for text views: the overflow row and
// auditprof's own rows say what they are.
func ProgramLabel(comm string, self, overflow bool) string {
	switch {
	case overflow:
		return "other (programs that did not fit)"
	case self:
		return comm + " (this recorder)"
	}
	return comm
}
