package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestRulesByProgram: each rule lists the programs that fire it, merged
// across its kernel rows, the first five and the rest counted, with
// shares of the rule; --json carries them and they sum to the rule.
func TestRulesByProgram(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	all := p.Rules[0]
	hot := profile.Rule{Key: "hot", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Matches: []int{1},
		Records: all.Records - 700, Events: all.Events, Lost: all.Lost, Waits: all.Waits, WaitNs: all.WaitNs}
	hot.Programs = []profile.RuleProgram{
		{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Records: hot.Records - 400, Lost: hot.Lost, WaitNs: hot.WaitNs},
		{Comm: "auditprof", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Self: true, Records: 400},
	}
	// The same rule's i386 row: six more programs, one shared with the
	// x86_64 row.
	hot32 := profile.Rule{Key: "hot", Syscall: 5, Arch: "i386", SyscallName: "open", Matches: []int{1}, Records: 700}
	for i := range 6 {
		hot32.Programs = append(hot32.Programs, profile.RuleProgram{Comm: fmt.Sprintf("p%d", i), ParentComm: "init", Records: uint64(100 + 10*i)})
	}
	hot32.Programs[0] = profile.RuleProgram{Comm: "auditprof", ParentComm: "bash", CgroupID: 1, Cgroup: "/", Self: true, Records: 150}
	var sum uint64
	for _, rp := range hot32.Programs {
		sum += rp.Records
	}
	hot32.Records = sum
	p.Rules = []profile.Rule{hot, hot32}
	p.Totals.Records = hot.Records + hot32.Records
	p.LoadedRules = []profile.LoadedRule{{Index: 1, Text: "-a always,exit -S open,openat -F key=hot", List: "exit", Key: "hot"}}
	path := saveProfile(t, p)

	code, out, errOut := run(t, "rules", "--profile", path, "--json")
	if code != 0 {
		t.Fatalf("rules exit %d: %s", code, errOut)
	}
	var rep rulesReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 1 {
		t.Fatalf("rules: %+v", rep.Rules)
	}
	r := rep.Rules[0]
	if len(r.Programs) != 5 || r.Programs[0].Comm != "cat" || r.Programs[1].Comm != "auditprof" || r.Programs[1].Records != 550 ||
		r.Programs[0].Unit != "cron.service" || r.MorePrograms != 2 {
		t.Fatalf("programs: %+v, %d more", r.Programs, r.MorePrograms)
	}
	sum = r.MoreProgramsRecords
	var share float64
	for _, rp := range r.Programs {
		sum += rp.Records
		share += rp.Share
	}
	if sum != r.Records {
		t.Errorf("programs and the rest sum to %d records, the rule %d", sum, r.Records)
	}
	if want := 1 - float64(r.MoreProgramsRecords)/float64(r.Records); share < want-1e-9 || share > want+1e-9 {
		t.Errorf("shares sum to %v, want %v", share, want)
	}

	code, out, _ = run(t, "rules", "--profile", path)
	if code != 0 {
		t.Fatalf("text exit %d", code)
	}
	i := strings.Index(out, "programs firing each rule")
	if i < 0 {
		t.Fatalf("no programs section:\n%s", out)
	}
	sec := out[i:]
	for _, want := range []string{"RULE", "PROGRAM", "PARENT", "UNIT", "SHARE", "#1", "cat", "cron.service", "auditprof (this recorder)", "(2 more programs)"} {
		if !strings.Contains(sec, want) {
			t.Errorf("programs section lacks %q:\n%s", want, sec)
		}
	}
	t.Logf("\n%s", out)
}
