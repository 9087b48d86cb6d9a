package report

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// programRows are the noisiest program rows, auditprof's own marked.
func programRows(p *profile.Profile, top int) []programRow {
	var rows []programRow
	for _, r := range ranking.NoisiestPrograms(p, top) {
		name, parent := ranking.ProgramLabel(r.Comm, r.Self, r.Overflow), r.ParentComm
		if r.Overflow {
			parent = "-"
		}
		unit := ranking.UnitName(r.Cgroup, r.CgroupID)
		per := "-"
		if r.Processes > 0 {
			per = fmt.Sprintf("%.1f", r.RecordsPerProcess())
		}
		rows = append(rows, programRow{Program: name, Parent: parent, Unit: unit,
			Processes: humanize.Comma(int64(r.Processes)), PerProcess: per,
			Records: humanize.Comma(int64(r.Records)), Lost: humanize.Comma(int64(r.Lost)),
			Waits: humanize.Comma(int64(r.Waits)), WaitFor: human.Duration(r.WaitNs)})
	}
	return rows
}

type unitRow struct {
	Unit, Cgroup, Programs, Processes, Records, Share, Lost, Waits, WaitFor string
}

// unitRows are the program rows summed by cgroup (ranking.Units), the
// first top.
func unitRows(p *profile.Profile, top int) []unitRow {
	var rows []unitRow
	for i, u := range ranking.Units(p, ranking.Records) {
		if top > 0 && i == top {
			break
		}
		rows = append(rows, unitRow{Unit: u.Name, Cgroup: u.Cgroup, Programs: humanize.Comma(int64(u.Programs)),
			Processes: humanize.Comma(int64(u.Processes)), Records: humanize.Comma(int64(u.Records)),
			Share: fmt.Sprintf("%.0f%%", ranking.Share(u.Records, p.Totals.Records)*100),
			Lost:  humanize.Comma(int64(u.Lost)), Waits: humanize.Comma(int64(u.Waits)), WaitFor: human.Duration(u.WaitNs)})
	}
	return rows
}

// ruleProgramsShown is how many programs the rule table names per rule.
const ruleProgramsShown = 3

// rulePrograms says which programs fire a rule row, the first few with
// their share of its records ("cat 91%, ls 5%, 2 more"); "" when the
// profile has no programs per rule.
func rulePrograms(r profile.Rule) string {
	progs := ranking.ProgramsOf(r)
	var parts []string
	for i, rp := range progs {
		if i == ruleProgramsShown {
			parts = append(parts, fmt.Sprintf("%d more", len(progs)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", ranking.ProgramLabel(rp.Comm, rp.Self, rp.Overflow), rp.Share*100))
	}
	return strings.Join(parts, ", ")
}

// processLabel names a process row: the short-lived row is records whose
// programs are ranked above, not a process, and not the overflow.
func processLabel(pr profile.Process) (comm, tgid string) {
	switch {
	case pr.Tgid == 0 && pr.ShortLived:
		return ranking.ShortLivedLabel, "-"
	case pr.Tgid == 0 && pr.Comm == "other":
		return "other (processes that did not fit)", "-"
	case pr.Tgid == 0:
		return pr.Comm, "-"
	}
	return pr.Comm, fmt.Sprint(pr.Tgid)
}
