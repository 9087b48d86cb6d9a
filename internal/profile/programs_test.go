package profile

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func programsProfile() *Profile {
	return &Profile{SchemaVersion: 1, Attach: AttachFentry, HZ: 250,
		Totals: Totals{Records: 30105, Lost: 7, Queued: 30098, BytesQueued: 30098 * 2304},
		ByProgram: []ProgramRow{
			{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/x.service", Processes: 6000,
				Records: 30000, Lost: 5, Queued: 29995, Bytes: 29995 * 2304, Waits: 3, WaitNs: 12e6, MaxWaitNs: 8e6, BlockedNs: 13e6},
			{Comm: "auditprof", ParentComm: "sh", Self: true, Processes: 2, Records: 100, Lost: 2, Queued: 98, Bytes: 98 * 2304},
			{Comm: "other", Overflow: true, Records: 5, Queued: 5, Bytes: 5 * 2304},
		},
		Overflows: Overflows{Programs: 5},
	}
}

// TestProgramsRoundTrip: the program rows survive a write and a read,
// every field, and an older profile without them still reads.
func TestProgramsRoundTrip(t *testing.T) {
	p := programsProfile()
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"by_program"`) || !strings.Contains(buf.String(), `"parent_comm": "sh"`) {
		t.Errorf("the JSON lacks the program rows:\n%s", buf.String())
	}
	q, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.ByProgram, q.ByProgram) || q.Overflows.Programs != 5 {
		t.Errorf("round trip changed the program rows:\n%+v\n%+v", p.ByProgram, q.ByProgram)
	}
	old, err := Decode(strings.NewReader(`{"schema_version":1,"attach":"kprobe","hz":250}`))
	if err != nil || old.ByProgram != nil {
		t.Errorf("a profile without program rows: %v, %v", err, old.ByProgram)
	}
}

// TestProgramsAddUp: the rows must hold every record, loss and enqueue
// exactly once.
func TestProgramsAddUp(t *testing.T) {
	p := programsProfile()
	if err := p.ProgramsAddUp(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Profile){
		"records": func(p *Profile) { p.ByProgram[0].Records++ },
		"lost":    func(p *Profile) { p.Totals.Lost++ },
		"queued":  func(p *Profile) { p.ByProgram[2].Queued-- },
		"bytes":   func(p *Profile) { p.ByProgram[1].Bytes += 10 },
	} {
		q := programsProfile()
		change(q)
		if err := q.ProgramsAddUp(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s off by some: %v", name, err)
		}
	}
	if got := p.ByProgram[0].RecordsPerProcess(); got != 5 {
		t.Errorf("records per process %v, want 5", got)
	}
	if got := (ProgramRow{Records: 3}).RecordsPerProcess(); got != 0 {
		t.Errorf("records per process without processes %v, want 0", got)
	}
}

// TestSortPrograms: most lost first, then most records.
func TestSortPrograms(t *testing.T) {
	p := programsProfile()
	p.ByProgram[1].Lost = 9
	p.SortTables()
	var got []string
	for _, r := range p.ByProgram {
		got = append(got, r.Comm)
	}
	if want := []string{"auditprof", "cat", "other"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestProcessesAddUp: process rows, the short-lived row and "other" hold
// every record, loss and enqueue exactly once.
func TestProcessesAddUp(t *testing.T) {
	mk := func() *Profile {
		p := programsProfile()
		p.ProcessMinAgeNs = 1e9
		p.Processes = []Process{
			{Tgid: 0, Comm: "short-lived", ShortLived: true, Records: 30000, Lost: 5, Queued: 29995, Bytes: 29995 * 2304},
			{Tgid: 42, Comm: "auditprof", Records: 100, Lost: 2, Queued: 98, Bytes: 98 * 2304},
			{Tgid: 0, Comm: "other", Records: 5, Queued: 5, Bytes: 5 * 2304},
		}
		return p
	}
	if err := mk().ProcessesAddUp(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Profile){
		"records": func(p *Profile) { p.Processes = p.Processes[1:] },
		"lost":    func(p *Profile) { p.Processes[1].Lost++ },
		"queued":  func(p *Profile) { p.Totals.Queued++ },
		"bytes":   func(p *Profile) { p.Processes[2].Bytes-- },
	} {
		q := mk()
		change(q)
		if err := q.ProcessesAddUp(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s off by some: %v", name, err)
		}
	}
}

// TestRuleProgramsAddUp: each rule's programs sum to the rule, but for the
// pairs that did not fit, which the rules may be short of exactly.
func TestRuleProgramsAddUp(t *testing.T) {
	mk := func() *Profile {
		p := programsProfile()
		p.Rules = []Rule{{Key: "load", Syscall: 257, Records: 30100, Events: 6020, Lost: 7,
			Programs: []RuleProgram{
				{Comm: "auditprof", ParentComm: "sh", Self: true, Records: 100, Events: 20, Lost: 2},
				{Comm: "cat", ParentComm: "sh", Records: 30000, Events: 6000, Lost: 5},
			}}}
		return p
	}
	p := mk()
	if err := p.RuleProgramsAddUp(); err != nil {
		t.Fatal(err)
	}
	p.SortTables()
	if p.Rules[0].Programs[0].Comm != "cat" {
		t.Errorf("rule programs not sorted by records: %+v", p.Rules[0].Programs)
	}
	for name, change := range map[string]func(*Profile){
		"programs hold 30000 records": func(p *Profile) { p.Rules[0].Programs[0].Records = 0 },
		"events":                      func(p *Profile) { p.Rules[0].Programs[1].Events++ },
		"short of 100":                func(p *Profile) { p.Rules[0].Programs[0].Records = 0; p.Overflows.RulePrograms = 99 },
	} {
		q := mk()
		change(q)
		if err := q.RuleProgramsAddUp(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	q := mk()
	q.Rules[0].Programs = q.Rules[0].Programs[1:]
	q.Overflows.RulePrograms = 100
	if err := q.RuleProgramsAddUp(); err != nil {
		t.Errorf("the overflowed pairs' records are allowed: %v", err)
	}
}
