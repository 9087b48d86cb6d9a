package summary

import (
	"fmt"
	"io"
	"path"
	"text/tabwriter"

	"github.com/auditprof/auditprof/internal/profile"
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
	switch {
	case r.Overflow:
		return "other (programs that did not fit)"
	case r.Self:
		return r.Comm + " (this recorder)"
	}
	return r.Comm
}

// unitLabel is a cgroup's last path element (a systemd unit or a
// container's scope), "/" for the root, or its id when it was not named.
func unitLabel(cgroup string, id uint64) string {
	switch {
	case cgroup == "/":
		return "/"
	case cgroup != "":
		return path.Base(cgroup)
	case id != 0:
		return fmt.Sprintf("cgroup %d", id)
	}
	return "-"
}

// writeProcessesNote says where the records of processes the table does
// not show are: the kernel's process table is bounded (its overflow row is
// "other"), the program table holds every record.
func writeProcessesNote(w io.Writer, p *profile.Profile, top int) {
	var other uint64
	for _, pr := range p.Processes {
		if pr.Tgid == 0 && pr.Comm == "other" {
			other += pr.Records
		}
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
