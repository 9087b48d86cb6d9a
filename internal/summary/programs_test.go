package summary

import (
	"bytes"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestWritePrograms: the program table comes before the processes, ranks
// as the profile does, marks auditprof's own row and the overflow row, and
// the process table's overflow is said to be in the program rows.
func TestWritePrograms(t *testing.T) {
	p := &profile.Profile{
		SchemaVersion: 1, Attach: "fentry", KernelRelease: "6.12.0", HZ: 250, DurationNs: 2e9,
		Totals: profile.Totals{Records: 45035},
		Processes: []profile.Process{{Tgid: 0, Comm: "other", Records: 9510}, {Tgid: 900, Comm: "stress-ng-open", Records: 15000},
			{Tgid: 12, Comm: "cat", Records: 5}},
		ByProgram: []profile.ProgramRow{
			{Comm: "other", Overflow: true, Records: 10},
			{Comm: "auditprof", ParentComm: "sh", Self: true, Processes: 2, Records: 20, Cgroup: "/"},
			{Comm: "stress-ng-open", ParentComm: "stress-ng", Processes: 1, Records: 15000, CgroupID: 77},
			{Comm: "cat", ParentComm: "sh", Processes: 6000, Records: 30000, Cgroup: "/system.slice/cron.service", CgroupID: 5},
			{Comm: "sh", ParentComm: "init", Processes: 1, Records: 5},
		},
	}
	p.SortTables()
	var buf bytes.Buffer
	Write(&buf, p, 3)
	out := buf.String()
	progs := strings.Index(out, "top programs")
	procs := strings.Index(out, "top processes")
	if progs < 0 || procs < 0 || progs > procs {
		t.Fatalf("want the program table before the processes:\n%s", out)
	}
	table := out[progs:procs]
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 5 {
		t.Fatalf("program table too short:\n%s", table)
	}
	for i, want := range [][]string{
		{"PROGRAM", "PARENT", "UNIT", "PROCS", "RECORDS", "REC/PROC", "LOST", "WAITS"},
		{"cat", "sh", "cron.service", "6000", "30000", "5.0", "0", "0"},
		{"stress-ng-open", "stress-ng", "cgroup 77", "1", "15000", "15000.0"},
		{"auditprof (this recorder)", "sh", "/", "2", "20", "10.0"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	if !strings.Contains(table, "2 more programs") {
		t.Errorf("top=3 does not say how many programs are not listed:\n%s", table)
	}
	if !strings.Contains(out, "9510 records of processes that did not fit are in \"other\", and each in their program's row above") {
		t.Errorf("the process table's overflow is not said to be in the program rows:\n%s", out)
	}
	buf.Reset()
	Write(&buf, p, 10)
	if !strings.Contains(buf.String(), "other (programs that did not fit)") {
		t.Errorf("the overflow row is not named:\n%s", buf.String())
	}
}

// TestWriteUnits: units come after programs and before processes, sum the
// program rows by cgroup, and the short-lived row is not shown as a
// process nor as "other".
func TestWriteUnits(t *testing.T) {
	p := &profile.Profile{
		SchemaVersion: 1, Attach: "fentry", KernelRelease: "6.12.0", HZ: 250, DurationNs: 2e9,
		Totals:          profile.Totals{Records: 45025},
		ProcessMinAgeNs: 1e9,
		Processes: []profile.Process{{Tgid: 0, Comm: "short-lived", ShortLived: true, Records: 30000},
			{Tgid: 900, Comm: "stress-ng-open", Records: 15000}, {Tgid: 0, Comm: "other", Records: 25}},
		ByProgram: []profile.ProgramRow{
			{Comm: "stress-ng-open", ParentComm: "stress-ng", Processes: 1, Records: 15000, CgroupID: 1, Cgroup: "/"},
			{Comm: "cat", ParentComm: "sh", Processes: 6000, Records: 30000, Cgroup: "/system.slice/cron.service", CgroupID: 5},
			{Comm: "sh", ParentComm: "cron", Processes: 1, Records: 25, Cgroup: "/system.slice/cron.service", CgroupID: 5},
		},
	}
	p.SortTables()
	var buf bytes.Buffer
	Write(&buf, p, 10)
	out := buf.String()
	progs, units, procs := strings.Index(out, "top programs"), strings.Index(out, "top units and containers"), strings.Index(out, "top processes")
	if progs < 0 || units < progs || procs < units {
		t.Fatalf("want programs, units, processes in that order:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out[units:procs]), "\n")
	for i, want := range [][]string{
		{"UNIT", "PROGRAMS", "PROCS", "RECORDS", "SHARE", "LOST", "WAITS", "WAITED"},
		{"cron.service", "2", "6001", "30025", "67%"},
		{"/", "1", "1", "15000", "33%"},
	} {
		if i+1 >= len(lines) {
			t.Fatalf("units table too short:\n%s", out[units:procs])
		}
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("units line %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	procTable := out[procs:]
	if !strings.Contains(procTable, "short-lived processes (see programs)") {
		t.Errorf("the short-lived row is not named:\n%s", procTable)
	}
	if strings.Contains(procTable, " short-lived  ") || strings.Contains(procTable, "0  short-lived") {
		t.Errorf("the short-lived row is shown as a process:\n%s", procTable)
	}
	if !strings.Contains(procTable, "other (processes that did not fit)") {
		t.Errorf("the overflow row is not named:\n%s", procTable)
	}
	if !strings.Contains(procTable, "30000 records of processes younger than 1s are in the short-lived row, and each in their program's row above") {
		t.Errorf("the short-lived row is not explained:\n%s", procTable)
	}
	if !strings.Contains(procTable, "25 records of processes that did not fit") {
		t.Errorf("the overflow note counts the short-lived row or misses the other row:\n%s", procTable)
	}
}
