package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

func writeProfile(t *testing.T, w sizingtest.Workload) string {
	t.Helper()
	p, _ := sizingtest.Simulate(10_000, w, 5, 5, 64)
	return saveProfile(t, p)
}

func saveProfile(t *testing.T, p *profile.Profile) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRecommendAndValidate(t *testing.T) {
	path := writeProfile(t, sizingtest.Bursts)
	code, out, errOut := run(t, "recommend", "--profile", path, "--json")
	if code != 0 {
		t.Fatalf("recommend exit %d: %s", code, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"backlog_limit", "peak_depth", "memory_bytes", "memory_bytes_upper_bound",
		"sustained_overload", "arrival_rate", "drain_rate"} {
		if _, ok := r[k]; !ok {
			t.Errorf("recommend --json has no %s", k)
		}
	}
	limit := int(r["backlog_limit"].(float64))
	if limit < 64 || r["sustained_overload"].(bool) {
		t.Fatalf("recommendation %v", r)
	}

	code, out, errOut = run(t, "validate", "--profile", path, "--backlog-limit", "64", "--json")
	if code != 0 {
		t.Fatalf("validate exit %d: %s", code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"predicted_lost", "predicted_wait_ns", "predicted_max_depth"} {
		if _, ok := v[k]; !ok {
			t.Errorf("validate --json has no %s", k)
		}
	}
	if v["predicted_lost"].(float64) == 0 {
		t.Errorf("limit 64 predicted to hold a workload that lost %v", v["recorded_lost"])
	}
	code, out, _ = run(t, "validate", "--profile", path, "--backlog-limit", itoa(limit))
	if code != 0 || !strings.Contains(out, "held: the replay loses nothing") {
		t.Errorf("validate at the recommended %d: exit %d\n%s", limit, code, out)
	}
	// Text output carries the reasoning.
	code, out, _ = run(t, "recommend", "--profile", path)
	if code != 0 || !strings.Contains(out, "recommended backlog_limit: "+itoa(limit)) || !strings.Contains(out, "peak depth") {
		t.Errorf("recommend text: exit %d\n%s", code, out)
	}
	// A wait time beyond what the kernel takes.
	if code, _, errOut := run(t, "validate", "--profile", path, "--backlog-limit", "64", "--backlog-wait-time", "11m"); code != ExitUsage {
		t.Errorf("an 11m wait time: exit %d (%s)", code, errOut)
	}
}

func TestRecommendSustainedAndRefusals(t *testing.T) {
	path := writeProfile(t, func(int) float64 { return 1.5 })
	code, out, _ := run(t, "recommend", "--profile", path)
	if code != 0 || !strings.Contains(out, "no backlog_limit is enough") || !strings.Contains(out, "noisiest rules") {
		t.Errorf("sustained: exit %d\n%s", code, out)
	}
	// --apply refuses to apply "no limit".
	if code, _, errOut := run(t, "recommend", "--profile", path, "--apply", "--dry-run"); code == 0 ||
		!strings.Contains(errOut, "no backlog_limit is enough") {
		t.Errorf("recommend --apply on sustained overload: exit %d %s", code, errOut)
	}
	// Too little to decide: a usage error naming why.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"schema_version":1,"attach":"netlink","timeline":{"bucket_ns":0}}`), 0o644)
	if code, _, errOut := run(t, "recommend", "--profile", bad); code != ExitUsage || !strings.Contains(errOut, "too little to decide") {
		t.Errorf("netlink profile: exit %d %s", code, errOut)
	}
	os.WriteFile(bad, []byte(`{"schema_version":1,`), 0o644)
	if code, _, errOut := run(t, "validate", "--profile", bad, "--backlog-limit", "9"); code != ExitUsage || strings.Count(errOut, "\n") != 1 {
		t.Errorf("truncated profile: exit %d %q", code, errOut)
	}
}

// TestApplyDryRun reads AUDIT_GET on this machine and changes nothing: the
// real AUDIT_SET is proven in the VM.
func TestApplyDryRun(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "50-backlog.rules")
	os.WriteFile(filepath.Join(dir, "99-late.rules"), []byte("-b 320\n"), 0o640)
	code, out, errOut := run(t, "apply", "--backlog-limit", "1300", "--backlog-wait-time", "0", "--persist", file, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("apply --dry-run exit %d: %s", code, errOut)
	}
	var r applyReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.DryRun || r.After != nil || r.Persisted == nil || len(r.Persisted.Changes) != 2 {
		t.Errorf("dry run report %+v", r)
	}
	if len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "99-late.rules:1 sets -b 320") {
		t.Errorf("warnings %q", r.Warnings)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("dry run wrote the rules file")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// What the replay cannot see is said: the consumer's pace inferred where
// the recorded queue had emptied (a recording at 64 between bursts), and
// kauditd's retry queue in use.
func TestRecommendCautions(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	code, out, errOut := run(t, "recommend", "--profile", saveProfile(t, p))
	if code != 0 || !strings.Contains(out, "caution: in ") || strings.Contains(out, "retry queue") {
		t.Fatalf("recommend at 64: exit %d (%s)\n%s", code, errOut, out)
	}
	p.Totals.RetryQueued = 1200
	code, out, errOut = run(t, "recommend", "--profile", saveProfile(t, p))
	if code != 0 || !strings.Contains(out, "warning: kauditd moved 1,200 records to its retry queue") {
		t.Fatalf("recommend with the retry queue used: exit %d (%s)\n%s", code, errOut, out)
	}
	// Recorded with room, the pace was measured where the replay needs it.
	p, _ = sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 0)
	if code, out, _ := run(t, "recommend", "--profile", saveProfile(t, p)); code != 0 || strings.Contains(out, "caution:") {
		t.Fatalf("recommend with no limit: exit %d\n%s", code, out)
	}
}
