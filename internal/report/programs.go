package report

import (
	"fmt"
	"path"

	"github.com/dustin/go-humanize"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// programRows are the noisiest program rows, auditprof's own marked.
func programRows(p *profile.Profile, top int) []programRow {
	var rows []programRow
	for _, r := range ranking.NoisiestPrograms(p, top) {
		name, parent := r.Comm, r.ParentComm
		switch {
		case r.Overflow:
			name, parent = "other (programs that did not fit)", "-"
		case r.Self:
			name += " (this recorder)"
		}
		unit := "-"
		switch {
		case r.Cgroup == "/":
			unit = "/"
		case r.Cgroup != "":
			unit = path.Base(r.Cgroup)
		case r.CgroupID != 0:
			unit = fmt.Sprintf("cgroup %d", r.CgroupID)
		}
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
