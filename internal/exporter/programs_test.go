package exporter

import (
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestProcessSeriesFromPrograms: with program rows, the process series
// sum them by (comm, cgroup), so the records of processes the process
// table could not hold are still under their program's name, and the
// series sum to the totals.
func TestProcessSeriesFromPrograms(t *testing.T) {
	p := testProfile()
	p.Totals.Records = 30125
	p.Processes = []profile.Process{{Tgid: 0, Comm: "other", Records: 29990}, {Tgid: 9, Comm: "cat", Records: 5}}
	p.ByProgram = []profile.ProgramRow{
		{Comm: "cat", ParentComm: "cron", Cgroup: "/c", CgroupID: 3, Processes: 5000, Records: 25000},
		{Comm: "cat", ParentComm: "sh", Cgroup: "/c", CgroupID: 3, Processes: 1000, Records: 5000},
		{Comm: "auditprof", ParentComm: "sh", Self: true, Processes: 1, Records: 100},
		{Comm: "other", Overflow: true, Records: 25},
	}
	c := New(DefaultTop)
	c.Update(p)
	got := map[string]float64{}
	var sum float64
	for _, m := range gather(t, c)["auditprof_process_records_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["comm"]+" "+labels["cgroup"]] = m.GetCounter().GetValue()
		sum += m.GetCounter().GetValue()
	}
	if got["cat /c"] != 30000 || got["auditprof "] != 100 || got["other other"] != 25 {
		t.Errorf("process series %v, want cat /c 30000 (both parents), auditprof 100, other 25", got)
	}
	if sum != float64(p.Totals.Records) {
		t.Errorf("process series sum to %v, totals %d", sum, p.Totals.Records)
	}
}
