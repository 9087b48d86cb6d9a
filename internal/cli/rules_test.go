package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestRulesRanking: a simulated recording whose records are split over
// two loaded rules (80/20), a keyless rule and an unmatched row.
func TestRulesRanking(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	all := p.Rules[0]
	part := func(f float64) profile.Rule {
		return profile.Rule{Records: uint64(float64(all.Records) * f), Events: uint64(float64(all.Events) * f),
			Lost: uint64(float64(all.Lost) * f), LostEvents: uint64(float64(all.LostEvents) * f)}
	}
	hot, cold, keyless := part(0.8), part(0.15), part(0.05)
	hot.Key, hot.Syscall, hot.Arch, hot.SyscallName, hot.Matches = "hot", 257, "x86_64", "openat", []int{2}
	cold.Key, cold.Syscall, cold.Arch, cold.SyscallName, cold.Matches = "cold", 80, "x86_64", "chdir", []int{1}
	keyless.Syscall, keyless.Arch, keyless.SyscallName, keyless.Comm, keyless.Matches = 90, "x86_64", "chmod", "chmod-loop", []int{3}
	p.Rules = []profile.Rule{cold, keyless, hot, {Key: "gone", Syscall: 2, Records: 1, Events: 1}}
	p.LoadedRules = []profile.LoadedRule{
		{Index: 1, Text: "-a always,exit -F arch=b64 -S chdir -F key=cold", List: "exit", Key: "cold"},
		{Index: 2, Text: "-a always,exit -F arch=b64 -S openat -F key=hot", List: "exit", Key: "hot"},
		{Index: 3, Text: "-a always,exit -F arch=b64 -S chmod", List: "exit"},
	}
	path := saveProfile(t, p)
	code, out, errOut := run(t, "rules", "--profile", path, "--json")
	if code != 0 {
		t.Fatalf("rules exit %d: %s", code, errOut)
	}
	var rep rulesReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 4 || rep.Rules[0].Key != "hot" || rep.Rules[1].Key != "cold" || rep.Rules[2].Comm != "chmod-loop" || len(rep.Rules[3].Rules) != 0 {
		t.Fatalf("ranking: %+v", rep.Rules)
	}
	h := rep.Rules[0]
	if h.Text != p.LoadedRules[1].Text || h.RecordShare < 0.79 || h.RecordShare > 0.81 {
		t.Errorf("hot: %+v", h)
	}
	if rep.BacklogLimit == 0 || h.LimitWithout == 0 || h.LimitWithout >= rep.BacklogLimit || rep.Rules[2].LimitWithout > rep.BacklogLimit {
		t.Errorf("limits: all %d, without hot %d, without the keyless %d", rep.BacklogLimit, h.LimitWithout, rep.Rules[2].LimitWithout)
	}
	// Text output names the rules as auditctl -l does.
	code, out, _ = run(t, "rules", "--profile", path, "--sort", "lost")
	if code != 0 || !strings.Contains(out, "#2  -a always,exit -F arch=b64 -S openat -F key=hot") || !strings.Contains(out, "(no key) chmod-loop") {
		t.Errorf("text output:\n%s", out)
	}
	if code, _, errOut := run(t, "rules", "--profile", path, "--sort", "size"); code != ExitUsage || !strings.Contains(errOut, `--sort must be one of {records|lost|wait}, not "size"`) {
		t.Errorf("bad --sort: exit %d, %s", code, errOut)
	}
}
