package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestRecommendNoisiest: under sustained overload the noisiest list names
// programs first, then units and containers, then processes (the
// short-lived row as such), then rules; --json carries the new lists and
// keeps the old ones.
func TestRecommendNoisiest(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, func(int) float64 { return 1.5 }, 5, 5, 64)
	rec := p.Totals.Records
	p.ByProgram = []profile.ProgramRow{
		{Comm: "cat", ParentComm: "sh", CgroupID: 5, Cgroup: "/system.slice/cron.service", Processes: 6000, Records: rec - rec/3},
		{Comm: "stress-ng-open", ParentComm: "stress-ng", CgroupID: 1, Cgroup: "/", Processes: 1, Records: rec / 3},
	}
	p.Processes = []profile.Process{{Comm: "short-lived", ShortLived: true, Records: rec - rec/3}, {Tgid: 900, Comm: "stress-ng-open", Records: rec / 3}}
	path := saveProfile(t, p)
	code, out, errOut := run(t, "recommend", "--profile", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	order := []string{"noisiest programs:", "cat", "noisiest units and containers:", "cron.service", "noisiest processes:",
		"short-lived processes (see programs)", "noisiest rules:"}
	at := 0
	for _, s := range order {
		i := strings.Index(out[at:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order:\n%s", s, out)
		}
		at += i + len(s)
	}
	code, out, _ = run(t, "recommend", "--profile", path, "--json")
	if code != 0 {
		t.Fatalf("--json exit %d", code)
	}
	var r struct {
		Programs  []profile.ProgramRow `json:"noisiest_programs"`
		Units     []map[string]any     `json:"noisiest_units"`
		Processes []profile.Process    `json:"noisiest_processes"`
		Rules     []profile.Rule       `json:"noisiest_rules"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Programs) != 2 || r.Programs[0].Comm != "cat" || len(r.Units) != 2 || r.Units[0]["name"] != "cron.service" ||
		len(r.Processes) != 2 || !r.Processes[0].ShortLived || len(r.Rules) == 0 {
		t.Errorf("--json noisiest: %+v", r)
	}
}
