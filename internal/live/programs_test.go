package live

import (
	"bytes"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestFramePrograms: program rows are ranked by what they did in the
// interval, keep their processes since the start, and come first on the
// screen, auditprof's own marked.
func TestFramePrograms(t *testing.T) {
	prev := &profile.Profile{Attach: "fentry", DurationNs: 1e9, Totals: profile.Totals{Records: 1100},
		ByProgram: []profile.ProgramRow{
			{Comm: "cat", ParentComm: "cron", Processes: 100, Records: 1000},
			{Comm: "auditprof", ParentComm: "sh", Self: true, Processes: 1, Records: 100},
		}}
	cur := &profile.Profile{Attach: "fentry", DurationNs: 3e9, Totals: profile.Totals{Records: 1500},
		ByProgram: []profile.ProgramRow{
			{Comm: "cat", ParentComm: "cron", Processes: 110, Records: 1050},
			{Comm: "auditprof", ParentComm: "sh", Self: true, Processes: 1, Records: 110},
			{Comm: "stress-ng-open", ParentComm: "stress-ng", Processes: 1, Records: 340, Cgroup: "/load"},
		}}
	v := Frame(prev, cur, Options{})
	if v.ProgramRows != 3 || len(v.Programs) != 3 {
		t.Fatalf("programs %d of %d, want 3 of 3", len(v.Programs), v.ProgramRows)
	}
	var got []string
	for _, p := range v.Programs {
		got = append(got, p.Comm)
	}
	if strings.Join(got, " ") != "stress-ng-open cat auditprof" {
		t.Errorf("ranked %v, want stress-ng-open (340 in the interval), cat (50), auditprof (10)", got)
	}
	if p := v.Programs[0]; p.RecordsPerSec != 170 || p.Processes != 1 {
		t.Errorf("stress-ng-open: %+v, want 170 records/s, 1 process", p)
	}
	if p := v.Programs[1]; p.RecordsPerSec != 25 || p.Processes != 110 || p.Records != 1050 {
		t.Errorf("cat: %+v, want 25 records/s, 110 processes and 1050 records since the start", p)
	}
	var b bytes.Buffer
	if err := Render(&b, v, 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	progs, procs := strings.Index(out, "PROGRAMS (3)"), strings.Index(out, "PROCESSES")
	if progs < 0 || procs < progs {
		t.Fatalf("want the program table before the processes:\n%s", out)
	}
	if !strings.Contains(out, "auditprof (this recorder)") || !strings.Contains(out, "/load") {
		t.Errorf("own row not marked, or cgroup missing:\n%s", out)
	}
	// Units (two: cat's and auditprof's cgroup unnamed, /load) go
	// before programs when as long.
	if trimmed := TrimRows(v, 2); len(trimmed.Programs) != 2 || len(trimmed.Units) != 1 {
		t.Errorf("trimming 2 rows from 3 programs and 2 units left %d programs, %d units", len(trimmed.Programs), len(trimmed.Units))
	}
	// Netlink profiles have no program rows: no table.
	b.Reset()
	if err := Render(&b, Frame(nil, &profile.Profile{Attach: "netlink", DurationNs: 1e9}, Options{}), 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "PROGRAMS") {
		t.Errorf("a table of programs without program rows:\n%s", b.String())
	}
}
