package live

import (
	"bytes"
	"fmt"
	"text/tabwriter"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// ProgramRow is one program (profile.ProgramRow: comm, parent's comm,
// cgroup, auditprof's own or not): every record is in one program row, so
// short-lived processes the process table cannot hold are named here.
type ProgramRow struct {
	Comm       string `json:"comm"`
	ParentComm string `json:"parent_comm"`
	Cgroup     string `json:"cgroup,omitempty"`
	// Self marks auditprof's own rows; Overflow the row of the programs
	// that did not fit in the kernel's table.
	Self          bool    `json:"self,omitempty"`
	Overflow      bool    `json:"overflow,omitempty"`
	RecordsPerSec float64 `json:"records_per_sec"`
	LostPerSec    float64 `json:"lost_per_sec"`
	WaitNs        uint64  `json:"wait_ns"`
	WaitNsTotal   uint64  `json:"wait_ns_total"`
	// Processes, Records and Lost are since the start.
	Processes uint64 `json:"processes"`
	Records   uint64 `json:"records"`
	Lost      uint64 `json:"lost"`
}

// programID is a program row's identity in the kernel's map.
type programID struct {
	comm, parent string
	cgroup       uint64
	self, over   bool
}

func idOf(p profile.ProgramRow) programID {
	return programID{p.Comm, p.ParentComm, p.CgroupID, p.Self, p.Overflow}
}

func programCounts(p profile.ProgramRow) ranking.Counts {
	return ranking.Counts{Records: p.Records, Lost: p.Lost, WaitNs: p.WaitNs}
}

func programs(prev, cur *profile.Profile, rate func(uint64) float64, sortBy string, top int) ([]ProgramRow, int) {
	before := make(map[programID]profile.ProgramRow, len(prev.ByProgram))
	for _, p := range prev.ByProgram {
		before[idOf(p)] = p
	}
	var rows []ProgramRow
	var keys []ranking.Interval
	for _, p := range cur.ByProgram {
		total := programCounts(p)
		if total.IsZero() {
			continue
		}
		r := ranking.Interval{Delta: total.Since(programCounts(before[idOf(p)])), Total: total, Name: p.Comm + " " + p.ParentComm}
		rows = append(rows, ProgramRow{
			Comm: p.Comm, ParentComm: p.ParentComm, Cgroup: p.Cgroup, Self: p.Self, Overflow: p.Overflow,
			RecordsPerSec: rate(r.Delta.Records), LostPerSec: rate(r.Delta.Lost),
			WaitNs: r.Delta.WaitNs, WaitNsTotal: p.WaitNs,
			Processes: p.Processes, Records: p.Records, Lost: p.Lost,
		})
		keys = append(keys, r)
	}
	return rank(rows, keys, sortBy, top), len(rows)
}

// renderPrograms writes the program table (nothing when the recording has
// no program rows: netlink mode).
func renderPrograms(b *bytes.Buffer, v View, by, interval string) {
	if v.ProgramRows == 0 && len(v.Programs) == 0 {
		return
	}
	fmt.Fprintf(b, "\nPROGRAMS %s, by %s in the last %s\n", shown(len(v.Programs), v.ProgramRows), by, interval)
	if len(v.Programs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PROGRAM\tPARENT\tPROCS\tREC/S\tLOST/S\tWAITED\tRECORDS\tLOST\t  CGROUP")
	for _, p := range v.Programs {
		name, parent := clean(p.Comm), clean(p.ParentComm)
		switch {
		case p.Overflow:
			name, parent = "(other programs)", "-"
		case p.Self:
			name += " (this recorder)"
		}
		cg := clean(p.Cgroup)
		if cg == "" {
			cg = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", name, parent, human.Count(float64(p.Processes)),
			human.Count(p.RecordsPerSec), human.Count(p.LostPerSec), human.Duration(p.WaitNs),
			human.Count(float64(p.Records)), human.Count(float64(p.Lost)), cg)
	}
	tw.Flush()
}
