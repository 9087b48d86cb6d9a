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
