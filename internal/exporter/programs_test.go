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
	mustUpdate(t, c, p)
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

// TestUnitSeries: unit series sum the program rows by cgroup, named as
// views name them, sum to the totals, and are bounded like the other
// families; a profile without program rows has none.
func TestUnitSeries(t *testing.T) {
	p := testProfile()
	p.Totals.Records = 30135
	p.ByProgram = []profile.ProgramRow{
		{Comm: "cat", ParentComm: "cron", Cgroup: "/system.slice/cron.service", CgroupID: 3, Processes: 5000, Records: 25000, Lost: 4},
		{Comm: "sh", ParentComm: "cron", Cgroup: "/system.slice/cron.service", CgroupID: 3, Processes: 1000, Records: 5000},
		{Comm: "auditprof", ParentComm: "sh", Self: true, Cgroup: "/", CgroupID: 1, Processes: 1, Records: 100},
		{Comm: "gone", ParentComm: "sh", CgroupID: 9, Processes: 1, Records: 10},
		{Comm: "other", Overflow: true, Records: 25},
	}
	units := func(c *Collector) (map[string]float64, float64) {
		got := map[string]float64{}
		var sum float64
		for _, m := range gather(t, c)["auditprof_unit_records_total"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["unit"]+" "+labels["cgroup"]] = m.GetCounter().GetValue()
			sum += m.GetCounter().GetValue()
		}
		return got, sum
	}
	c := New(DefaultTop)
	mustUpdate(t, c, p)
	got, sum := units(c)
	if got["cron.service /system.slice/cron.service"] != 30000 || got["/ /"] != 100 || got["cgroup 9 "] != 10 ||
		got["other other"] != 25 { // the kernel table's overflow row goes to "other", as in every family
		t.Errorf("unit series %v", got)
	}
	if sum != float64(p.Totals.Records) {
		t.Errorf("unit series sum to %v, totals %d", sum, p.Totals.Records)
	}
	// Two places: the rest in "other".
	c = New(2)
	mustUpdate(t, c, p)
	got, sum = units(c)
	if len(got) != 3 || got["cron.service /system.slice/cron.service"] != 30000 || got["other other"] != 35 || sum != float64(p.Totals.Records) {
		t.Errorf("unit series with 2 places %v", got)
	}
	p.ByProgram = nil
	c = New(DefaultTop)
	mustUpdate(t, c, p)
	if got, _ := units(c); len(got) != 0 {
		t.Errorf("unit series without program rows: %v", got)
	}
}
