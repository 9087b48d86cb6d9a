package live

import (
	"bytes"
	"fmt"
	"text/tabwriter"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

// UnitRow is one cgroup (a systemd unit, a container): the program rows
// whose processes ran in it, summed (ranking.Units).
type UnitRow struct {
	// Name is the unit as views name it (ranking.UnitName); Cgroup its
	// cgroup v2 path, when it could be named.
	Name     string `json:"name"`
	Cgroup   string `json:"cgroup,omitempty"`
	Overflow bool   `json:"overflow,omitempty"`
	// Programs counts its program rows, Processes their processes, since
	// the start.
	Programs      int     `json:"programs"`
	Processes     uint64  `json:"processes"`
	RecordsPerSec float64 `json:"records_per_sec"`
	LostPerSec    float64 `json:"lost_per_sec"`
	WaitNs        uint64  `json:"wait_ns"`
	WaitNsTotal   uint64  `json:"wait_ns_total"`
	Records       uint64  `json:"records"`
	Lost          uint64  `json:"lost"`
}

type unitID struct {
	id       uint64
	cgroup   string
	overflow bool
}

func unitIDOf(u ranking.UnitRow) unitID {
	k := unitID{id: u.CgroupID, overflow: u.Overflow}
	if u.CgroupID == 0 {
		k.cgroup = u.Cgroup
	}
	return k
}

// units sums each snapshot's program rows by cgroup and ranks the units
// by what they did in the interval, as programs are ranked.
func units(prev, cur *profile.Profile, rate func(uint64) float64, sortBy string, top int) ([]UnitRow, int) {
	before := map[unitID]ranking.UnitRow{}
	for _, u := range ranking.Units(prev, ranking.Records) {
		before[unitIDOf(u)] = u
	}
	var rows []UnitRow
	var keys []ranking.Interval
	for _, u := range ranking.Units(cur, ranking.Records) {
		total := ranking.UnitCounts(u)
		if total.IsZero() {
			continue
		}
		r := ranking.Interval{Delta: total.Since(ranking.UnitCounts(before[unitIDOf(u)])), Total: total, Name: u.Name}
		rows = append(rows, UnitRow{
			Name: u.Name, Cgroup: u.Cgroup, Overflow: u.Overflow, Programs: u.Programs, Processes: u.Processes,
			RecordsPerSec: rate(r.Delta.Records), LostPerSec: rate(r.Delta.Lost),
			WaitNs: r.Delta.WaitNs, WaitNsTotal: u.WaitNs,
			Records: u.Records, Lost: u.Lost,
		})
		keys = append(keys, r)
	}
	return rank(rows, keys, sortBy, top), len(rows)
}

// renderUnits writes the units table (nothing without program rows).
func renderUnits(b *bytes.Buffer, v View, by, interval string) {
	if v.UnitRows == 0 && len(v.Units) == 0 {
		return
	}
	fmt.Fprintf(b, "\nUNITS AND CONTAINERS %s, by %s in the last %s\n", shown(len(v.Units), v.UnitRows), by, interval)
	if len(v.Units) == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "UNIT\tPROGRAMS\tPROCS\tREC/S\tLOST/S\tWAITED\tRECORDS\tLOST\t  CGROUP")
	for _, u := range v.Units {
		cg := clean(u.Cgroup)
		if cg == "" {
			cg = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", clean(u.Name), u.Programs, human.Count(float64(u.Processes)),
			human.Count(u.RecordsPerSec), human.Count(u.LostPerSec), human.Duration(u.WaitNs),
			human.Count(float64(u.Records)), human.Count(float64(u.Lost)), cg)
	}
	tw.Flush()
}
