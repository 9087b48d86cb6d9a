package ranking

import (
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

func TestUnitName(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		cgroup string
		id     uint64
		want   string
	}{
		{"/", 1, "/"},
		{"/system.slice/cron.service", 5, "cron.service"},
		{"/user.slice/user-1000.slice/session-3.scope", 6, "session-3.scope"},
		{"/system.slice/docker-" + id + ".scope", 7, "docker-0123456789ab"},
		{"/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope", 8, "cri-containerd-0123456789ab"},
		{"/docker/" + id, 9, "docker-0123456789ab"},
		{"/" + id, 9, "0123456789ab"},
		{"", 77, "cgroup 77"},
		{"", 0, "(unknown)"},
		// Not 64 hex: a name like any other.
		{"/system.slice/docker-abc.scope", 10, "docker-abc.scope"},
	} {
		if got := UnitName(tc.cgroup, tc.id); got != tc.want {
			t.Errorf("UnitName(%q, %d) = %q, want %q", tc.cgroup, tc.id, got, tc.want)
		}
	}
}

// unitsProfile has two programs in cron.service, one in the root cgroup,
// auditprof's own row there, one in a cgroup gone before it was named,
// and the program table's overflow row.
func unitsProfile() *profile.Profile {
	p := &profile.Profile{
		ByProgram: []profile.ProgramRow{
			{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 6000, Records: 30000, Queued: 30000, Bytes: 3e6, Lost: 10, Waits: 3, WaitNs: 300, MaxWaitNs: 200},
			{Comm: "sh", ParentComm: "cron", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 1, Records: 5, Queued: 5, Bytes: 500, WaitNs: 50, MaxWaitNs: 50},
			{Comm: "stress-ng-open", ParentComm: "stress-ng", CgroupID: 1, Cgroup: "/", Processes: 1, Records: 15000, Queued: 14000, Bytes: 1.4e6, Lost: 1000, Waits: 9, WaitNs: 900, MaxWaitNs: 400},
			{Comm: "auditprof", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Self: true, Processes: 2, Records: 20, Queued: 20, Bytes: 2000},
			{Comm: "gone", ParentComm: "init", CgroupID: 77, Processes: 3, Records: 7, Queued: 7, Bytes: 700},
			{Comm: "other", Overflow: true, Records: 11, Queued: 11, Bytes: 1100},
		},
	}
	for _, r := range p.ByProgram {
		p.Totals.Records += r.Records
		p.Totals.Queued += r.Queued
		p.Totals.BytesQueued += r.Bytes
		p.Totals.Lost += r.Lost
		p.Totals.Waits += r.Waits
		p.Totals.WaitNs += r.WaitNs
	}
	return p
}

func TestUnits(t *testing.T) {
	p := unitsProfile()
	for _, tc := range []struct {
		key  string
		want []UnitRow
	}{
		{Records, []UnitRow{
			{Name: "cron.service", Cgroup: "/system.slice/cron.service", CgroupID: 5, Programs: 2, Processes: 6001, Records: 30005, Queued: 30005, Bytes: 3000500, Lost: 10, Waits: 3, WaitNs: 350, MaxWaitNs: 200},
			{Name: "/", Cgroup: "/", CgroupID: 1, Programs: 2, Processes: 3, Records: 15020, Queued: 14020, Bytes: 1402000, Lost: 1000, Waits: 9, WaitNs: 900, MaxWaitNs: 400},
			{Name: "(programs that did not fit)", Overflow: true, Programs: 1, Records: 11, Queued: 11, Bytes: 1100},
			{Name: "cgroup 77", CgroupID: 77, Programs: 1, Processes: 3, Records: 7, Queued: 7, Bytes: 700},
		}},
		{Lost, nil}, // checked below: "/" first
	} {
		got := Units(p, tc.key)
		if tc.want != nil {
			if len(got) != len(tc.want) {
				t.Fatalf("Units(%s) = %+v", tc.key, got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Units(%s)[%d] = %+v, want %+v", tc.key, i, got[i], tc.want[i])
				}
			}
		} else if got[0].Name != "/" || got[1].Name != "cron.service" {
			t.Errorf("Units(%s) order: %+v", tc.key, got)
		}
	}
}

// TestUnitsAddUp: the unit rows hold every record, loss, enqueue, byte and
// wait of the program rows, so of the totals.
func TestUnitsAddUp(t *testing.T) {
	p := unitsProfile()
	if err := p.ProgramsAddUp(); err != nil {
		t.Fatalf("the fixture does not add up: %v", err)
	}
	var sum profile.Totals
	var progs int
	for _, u := range Units(p, Records) {
		sum.Records += u.Records
		sum.Queued += u.Queued
		sum.BytesQueued += u.Bytes
		sum.Lost += u.Lost
		sum.Waits += u.Waits
		sum.WaitNs += u.WaitNs
		progs += u.Programs
	}
	tt := p.Totals
	if sum.Records != tt.Records || sum.Queued != tt.Queued || sum.BytesQueued != tt.BytesQueued || sum.Lost != tt.Lost || sum.Waits != tt.Waits || sum.WaitNs != tt.WaitNs {
		t.Errorf("units sum to %+v, totals %+v", sum, tt)
	}
	if progs != len(p.ByProgram) {
		t.Errorf("units hold %d programs, the profile %d", progs, len(p.ByProgram))
	}
	if u := Units(&profile.Profile{}, Records); len(u) != 0 {
		t.Errorf("no program rows: %+v", u)
	}
}

func TestRulePrograms(t *testing.T) {
	p := &profile.Profile{Rules: []profile.Rule{
		{Key: "etc", Syscall: 257, Records: 100, Programs: []profile.RuleProgram{
			{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Records: 60, Events: 20, Lost: 1, WaitNs: 5},
			{Comm: "ls", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Records: 30, Events: 10},
			{Comm: "other", Overflow: true, Records: 10, Events: 5},
		}},
		// The same rule under another arch: its rows merge by program.
		{Key: "etc", Syscall: 5, Records: 100, Programs: []profile.RuleProgram{
			{Comm: "ls", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Records: 40, Events: 10, Lost: 2, Waits: 1, WaitNs: 7},
			{Comm: "auditprof", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Self: true, Records: 60, Events: 20},
		}},
		{Key: "none", Records: 3},
	}}
	got := RulePrograms(p, []int{0, 1})
	want := []RuleProgram{
		{RuleProgram: profile.RuleProgram{Comm: "ls", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Records: 70, Events: 20, Lost: 2, Waits: 1, WaitNs: 7}, Unit: "/", Share: 0.35},
		{RuleProgram: profile.RuleProgram{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Records: 60, Events: 20, Lost: 1, WaitNs: 5}, Unit: "cron.service", Share: 0.3},
		{RuleProgram: profile.RuleProgram{Comm: "auditprof", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Self: true, Records: 60, Events: 20}, Unit: "/", Share: 0.3},
		{RuleProgram: profile.RuleProgram{Comm: "other", Overflow: true, Records: 10, Events: 5}, Unit: "(unknown)", Share: 0.05},
	}
	if len(got) != len(want) {
		t.Fatalf("RulePrograms = %+v", got)
	}
	var sum uint64
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
		sum += got[i].Records
	}
	if sum != 200 {
		t.Errorf("programs sum to %d records, the rule's rows 200", sum)
	}
	if got := RulePrograms(p, []int{2}); len(got) != 0 {
		t.Errorf("a rule without programs: %+v", got)
	}
}
