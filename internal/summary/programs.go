package summary

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// writePrograms prints the program table, the first answer to "who fills
// the queue": every record is in one row, so short-lived processes that
// the process table cannot hold are still named by their program.
func writePrograms(w io.Writer, p *profile.Profile, top int) {
	if len(p.ByProgram) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntop programs\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "PROGRAM\tPARENT\tUNIT\tPROCS\tRECORDS\tREC/PROC\tLOST\tWAITS\t\n")
	for i, r := range p.ByProgram {
		if i == top {
			break
		}
		perProc := "-"
		if r.Processes > 0 {
			perProc = fmt.Sprintf("%.1f", r.RecordsPerProcess())
		}
		parent := r.ParentComm
		if parent == "" {
			parent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t\n", programLabel(r), parent, unitLabel(r.Cgroup, r.CgroupID),
			r.Processes, r.Records, perProc, r.Lost, r.Waits)
	}
	tw.Flush()
	if n := len(p.ByProgram) - top; top > 0 && n > 0 {
		fmt.Fprintf(w, "  (%d more programs; --top N lists more)\n", n)
	}
}

// programLabel names a program row: auditprof's own rows and the row of
// the programs that did not fit say so.
func programLabel(r profile.ProgramRow) string {
	return ranking.ProgramLabel(r.Comm, r.Self, r.Overflow)
}

// unitLabel names a program row's cgroup (ranking.UnitName).
func unitLabel(cgroup string, id uint64) string {
	return ranking.UnitName(cgroup, id)
}

// writeUnits prints the program rows summed by cgroup: the systemd units
// and containers an operator can stop or reconfigure as a whole.
func writeUnits(w io.Writer, p *profile.Profile, top int) {
	units := ranking.Units(p, ranking.Records)
	if len(units) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntop units and containers (cgroups)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "UNIT\tPROGRAMS\tPROCS\tRECORDS\tSHARE\tLOST\tWAITS\tWAITED\t\n")
	for i, u := range units {
		if i == top {
			break
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f%%\t%d\t%d\t%s\t\n", u.Name, u.Programs, u.Processes, u.Records,
			ranking.Share(u.Records, p.Totals.Records)*100, u.Lost, u.Waits, time.Duration(u.WaitNs).Round(time.Microsecond))
	}
	tw.Flush()
	if n := len(units) - top; top > 0 && n > 0 {
		fmt.Fprintf(w, "  (%d more units; --top N lists more)\n", n)
	}
}

// processLabel names a process row: the row of short-lived processes'
// records is not a process, and the table's overflow row says so.
func processLabel(pr profile.Process) (tgid, comm string) {
	switch {
	case pr.Tgid == 0 && pr.ShortLived:
		return "-", ranking.ShortLivedLabel
	case pr.Tgid == 0 && pr.Comm == "other":
		return "-", "other (processes that did not fit)"
	}
	return fmt.Sprint(pr.Tgid), pr.Comm
}

// writeProcessesNote says where the records of processes the table does
// not show are: the kernel's process table is bounded (its overflow row is
// "other"), the program table holds every record.
func writeProcessesNote(w io.Writer, p *profile.Profile, top int) {
	var other, short uint64
	for _, pr := range p.Processes {
		switch {
		case pr.Tgid == 0 && pr.ShortLived:
			short += pr.Records
		case pr.Tgid == 0 && pr.Comm == "other":
			other += pr.Records
		}
	}
	if short > 0 && p.ProcessMinAgeNs > 0 {
		fmt.Fprintf(w, "  %d records of processes younger than %s are in the short-lived row, and each in their program's row above\n",
			short, time.Duration(p.ProcessMinAgeNs))
	}
	switch {
	case other > 0 && len(p.ByProgram) > 0:
		fmt.Fprintf(w, "  the process table was full: %d records of processes that did not fit are in \"other\", and each in their program's row above\n", other)
	case other > 0:
		fmt.Fprintf(w, "  the process table was full: %d records of processes that did not fit are in \"other\"\n", other)
	case top > 0 && len(p.Processes) > top && len(p.ByProgram) > 0:
		fmt.Fprintf(w, "  processes not listed are in their program's row above\n")
	}
}
