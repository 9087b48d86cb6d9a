package report

import (
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestProgramsTable: the page ranks programs before processes, marks
// auditprof's own row, and keeps a hostile comm as text.
func TestProgramsTable(t *testing.T) {
	p := simulated(t)
	const comm = `<img src=x onerror=alert(4)>`
	p.ByProgram = []profile.ProgramRow{
		{Comm: "auditprof", ParentComm: "sh", Self: true, Processes: 2, Records: 70},
		{Comm: "cat", ParentComm: "cron", Cgroup: "/system.slice/cron.service", Processes: 6000, Records: 30000},
		{Comm: comm, ParentComm: "sh", Processes: 1, Records: 5},
	}
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	html := string(pg.HTML)
	progs, procs := strings.Index(html, "Noisiest programs"), strings.Index(html, "Noisiest processes")
	if progs < 0 || procs < progs {
		t.Fatal("no program table before the processes")
	}
	table := html[progs:procs]
	cat, own := strings.Index(table, ">cat<"), strings.Index(table, "auditprof (this recorder)")
	if cat < 0 || own < 0 || own < cat {
		t.Errorf("want cat (30,000 records) ranked before auditprof's own row:\n%s", table)
	}
	for _, want := range []string{"cron.service", "6,000", "5.0"} {
		if !strings.Contains(table, want) {
			t.Errorf("program table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(html, comm) {
		t.Error("a comm is on the page unescaped")
	}
	p.ByProgram = nil
	if pg, err = Build(p); err != nil || strings.Contains(string(pg.HTML), "Noisiest programs") {
		t.Errorf("a program table without program rows (%v)", err)
	}
}

// TestUnitsAndRulePrograms: units follow the programs, summed by cgroup;
// the rule table names the programs firing each rule; the short-lived
// row is named as such, not as a process nor as "other".
func TestUnitsAndRulePrograms(t *testing.T) {
	p := simulated(t)
	p.ByProgram = []profile.ProgramRow{
		{Comm: "cat", ParentComm: "cron", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 6000, Records: 30000},
		{Comm: "sh", ParentComm: "cron", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 10, Records: 50},
		{Comm: "load", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Processes: 1, Records: 700},
	}
	p.Processes = append(p.Processes, profile.Process{Comm: "short-lived", ShortLived: true, Records: 30050})
	p.Rules[0].Programs = []profile.RuleProgram{
		{Comm: "cat", ParentComm: "cron", CgroupID: 5, Records: p.Rules[0].Records - 3},
		{Comm: "a", Records: 1}, {Comm: "b", Records: 1}, {Comm: "c", Records: 1},
	}
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	html := string(pg.HTML)
	progs, units, procs := strings.Index(html, "Noisiest programs"), strings.Index(html, "Noisiest units and containers"), strings.Index(html, "Noisiest processes")
	if progs < 0 || units < progs || procs < units {
		t.Fatalf("want programs, units, processes in that order (%d %d %d)", progs, units, procs)
	}
	table := html[units:procs]
	for _, want := range []string{">cron.service<", ">/system.slice/cron.service<", ">6,010<", ">30,050<", ">2<"} {
		if !strings.Contains(table, want) {
			t.Errorf("units table lacks %q:\n%s", want, table)
		}
	}
	if !strings.Contains(html, "programs firing it") || !strings.Contains(html, "cat 100%, a 0%, b 0%, 1 more") {
		t.Errorf("the rule table does not name the programs firing the rule")
	}
	if !strings.Contains(html[procs:], "short-lived processes (see programs)") {
		t.Errorf("the short-lived row is not named")
	}
}
