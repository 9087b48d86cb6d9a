package live

import (
	"bytes"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestFrameUnits: units sum the program rows by cgroup, are ranked by
// what they did in the interval, come after programs and before
// processes; the short-lived process row is named as such.
func TestFrameUnits(t *testing.T) {
	prev := &profile.Profile{Attach: "fentry", DurationNs: 1e9, Totals: profile.Totals{Records: 1100},
		ByProgram: []profile.ProgramRow{
			{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 100, Records: 1000},
			{Comm: "load", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Processes: 1, Records: 100},
		}}
	cur := &profile.Profile{Attach: "fentry", DurationNs: 3e9, Totals: profile.Totals{Records: 1600},
		ByProgram: []profile.ProgramRow{
			{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 110, Records: 1050},
			{Comm: "sh", ParentComm: "cron", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 1, Records: 10},
			{Comm: "load", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Processes: 1, Records: 540},
		},
		Processes: []profile.Process{{Comm: "short-lived", ShortLived: true, Records: 1060}, {Tgid: 7, Comm: "load", Records: 540}},
	}
	v := Frame(prev, cur, Options{})
	if v.UnitRows != 2 || len(v.Units) != 2 {
		t.Fatalf("units %d of %d, want 2 of 2", len(v.Units), v.UnitRows)
	}
	if u := v.Units[0]; u.Name != "/" || u.RecordsPerSec != 220 || u.Records != 540 || u.Programs != 1 {
		t.Errorf("first unit %+v, want / at 220 records/s (440 in the interval)", u)
	}
	if u := v.Units[1]; u.Name != "cron.service" || u.RecordsPerSec != 30 || u.Records != 1060 || u.Programs != 2 || u.Processes != 111 {
		t.Errorf("second unit %+v, want cron.service at 30 records/s, 2 programs, 111 processes", u)
	}
	var b bytes.Buffer
	if err := Render(&b, v, 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	progs, units, procs := strings.Index(out, "PROGRAMS (3)"), strings.Index(out, "UNITS AND CONTAINERS (2)"), strings.Index(out, "PROCESSES")
	if progs < 0 || units < progs || procs < units {
		t.Fatalf("want programs, units, processes in that order:\n%s", out)
	}
	if !strings.Contains(out[procs:], "(short-lived processes (see programs))") || strings.Contains(out[procs:], " short-lived  ") {
		t.Errorf("the short-lived row is not named as such:\n%s", out[procs:])
	}
	t.Logf("\n%s", out)
}
