package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dustin/go-humanize"

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

// runJSON runs a command that must succeed and decodes its JSON.
func runJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var r map[string]any
	decodeRun(t, &r, args...)
	return r
}

// decodeRun runs a command that must succeed and decodes its JSON into v.
func decodeRun(t *testing.T, v any, args ...string) {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestRecommendSeveral: one limit for several recordings, named by the
// one that set it; a recording of another kernel noted; an unreadable one
// an error naming it.
func TestRecommendSeveral(t *testing.T) {
	light, _ := sizingtest.Simulate(10_000, func(int) float64 { return 0.5 }, 5, 5, 5000)
	heavy, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	heavy.KernelRelease = "other"
	a, b := saveProfile(t, light), saveProfile(t, heavy)
	one := func(path string) float64 {
		return runJSON(t, "recommend", "--profile", path, "--json")["backlog_limit"].(float64)
	}
	la, lb := one(a), one(b)
	var r struct {
		BacklogLimit float64 `json:"backlog_limit"`
		SetBy        string  `json:"set_by"`
		Profiles     []struct {
			File         string  `json:"file"`
			BacklogLimit float64 `json:"backlog_limit"`
		} `json:"profiles"`
		Notes []string `json:"notes"`
	}
	decodeRun(t, &r, "recommend", "--profile", a, "--profile", b, "--json")
	if r.BacklogLimit != max(la, lb) || r.SetBy != b || len(r.Profiles) != 2 || r.Profiles[0].BacklogLimit != la {
		t.Errorf("limits %v and %v alone, together %+v", la, lb, r)
	}
	if len(r.Notes) != 2 || r.Notes[0] != "the recordings differ in kernel: sim ("+a+"); other ("+b+")" ||
		r.Notes[1] != "the recordings differ in backlog_limit in force: 5000 ("+a+"); 64 ("+b+")" {
		t.Errorf("notes %q", r.Notes)
	}
	code, out, _ := run(t, "recommend", "--profile", a, "--profile", b)
	if code != 0 || !strings.Contains(out, "set by: "+b) || !strings.Contains(out, "note: the recordings differ in kernel") {
		t.Errorf("text: exit %d\n%s", code, out)
	}
	missing := filepath.Join(t.TempDir(), "gone.json")
	code, _, errOut := run(t, "recommend", "--profile", a, "--profile", missing)
	if code != ExitUsage || !strings.Contains(errOut, missing) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("unreadable profile: exit %d, %q", code, errOut)
	}

	// validate: each recording's prediction and the worst.
	var v struct {
		Worst         string  `json:"worst"`
		PredictedLost float64 `json:"predicted_lost"`
		Profiles      []struct {
			File          string  `json:"file"`
			PredictedLost float64 `json:"predicted_lost"`
		} `json:"profiles"`
	}
	decodeRun(t, &v, "validate", "--profile", a, "--profile", b, "--backlog-limit", "64", "--json")
	if v.Worst != b || len(v.Profiles) != 2 || v.Profiles[0].PredictedLost != 0 || v.PredictedLost != v.Profiles[1].PredictedLost || v.PredictedLost == 0 {
		t.Errorf("validate of both at 64: %+v", v)
	}
	code, out, _ = run(t, "validate", "--profile", a, "--profile", b, "--backlog-limit", "64")
	if code != 0 || !strings.Contains(out, "worst of 2 recordings: the worst, "+b) {
		t.Errorf("validate text: exit %d\n%s", code, out)
	}
}

// TestRecommendStallFlag: --stall sizes for the consumer stopping, says so,
// and a bad value is a usage error.
func TestRecommendStallFlag(t *testing.T) {
	p, _ := sizingtest.Simulate(8_000, func(int) float64 { return 0.25 }, 5, 5, 5000)
	path := saveProfile(t, p)
	limit := func(args ...string) (float64, map[string]any) {
		r := runJSON(t, append([]string{"recommend", "--profile", path, "--json"}, args...)...)
		return r["backlog_limit"].(float64), r
	}
	none, _ := limit("--stall", "0")
	two, r := limit("--stall", "2s")
	if two <= none || r["stall_ns"].(float64) != 2e9 || r["stall_from"] != "given" {
		t.Errorf("no stall %v, 2 s stall %v: %v", none, two, r)
	}
	if _, r := limit(); r["stall_from"] != "longest measured" {
		t.Errorf("default stall: %v", r)
	}
	code, out, _ := run(t, "recommend", "--profile", path, "--stall", "2s")
	if code != 0 || !strings.Contains(out, "rides out: a consumer stall of 2s at the worst moment (given)") || !strings.Contains(out, "stalls: ") {
		t.Errorf("text: exit %d\n%s", code, out)
	}
	for _, bad := range []string{"-1s", "soon", "2h"} {
		if code, _, errOut := run(t, "recommend", "--profile", path, "--stall", bad); code != ExitUsage || !strings.Contains(errOut, "--stall") {
			t.Errorf("--stall %s: exit %d, %q", bad, code, errOut)
		}
	}
	code, out, _ = run(t, "validate", "--profile", path, "--backlog-limit", itoa(int(none)), "--stall", "2s")
	if code != 0 || !strings.Contains(out, "would not hold") || !strings.Contains(out, "consumer stall:      2s") {
		t.Errorf("validate --stall 2s at the no-stall limit %v: exit %d\n%s", none, code, out)
	}
}

// TestRecommendSegments: where the limit changed during the recording,
// recommend and validate check the replay a setting at a time
// (current_segments, and the text's check); where it did not, or where
// only other settings changed, their outputs have no segments.
func TestRecommendSegments(t *testing.T) {
	twoBursts := func(ms int) float64 {
		if ms >= 1000 && ms < 1300 || ms >= 6000 && ms < 6300 {
			return 3
		}
		return 0.05
	}
	raised, _ := sizingtest.SimulateLimits(10_000, twoBursts, 5, func(float64) float64 { return 5 }, func(ms int) uint32 {
		if ms < 4000 {
			return 300
		}
		return 20000
	})
	same, _ := sizingtest.Simulate(10_000, twoBursts, 5, 5, 300)
	pid := *same
	pid.Settings = []profile.SettingChange{{MonoNs: 3e9, Field: profile.SettingPID, Old: 640, New: 0, Seen: profile.SeenPoll, SinceNs: 2e9}}
	type segment struct {
		FromNs        int64   `json:"from_ns"`
		Limit         uint32  `json:"backlog_limit"`
		Wait          uint32  `json:"backlog_wait_time"`
		PredictedLost float64 `json:"predicted_lost"`
		RecordedLost  uint64  `json:"recorded_lost"`
	}
	for _, tc := range []struct {
		name     string
		p        *profile.Profile
		segments bool
	}{{"raised", raised, true}, {"no settings", same, false}, {"pid only", &pid, false}} {
		t.Run(tc.name, func(t *testing.T) {
			path := saveProfile(t, tc.p)
			var rec struct {
				PredictedLost float64   `json:"current_predicted_lost"`
				RecordedLost  uint64    `json:"recorded_lost"`
				Segments      []segment `json:"current_segments"`
				Reasoning     []string  `json:"reasoning"`
			}
			decodeRun(t, &rec, "recommend", "--profile", path, "--json")
			var val struct {
				Segments []segment `json:"current_segments"`
			}
			decodeRun(t, &val, "validate", "--profile", path, "--backlog-limit", "300", "--json")
			for _, args := range [][]string{{"recommend", "--json"}, {"validate", "--backlog-limit", "300", "--json"}} {
				_, out, _ := run(t, append(args, "--profile", path)...)
				if got := strings.Contains(out, `"current_segments"`); got != tc.segments {
					t.Errorf("%s: current_segments in the output %v, want %v", args[0], got, tc.segments)
				}
			}
			_, text, _ := run(t, "recommend", "--profile", path)
			_, vtext, _ := run(t, "validate", "--profile", path, "--backlog-limit", "300")
			if !tc.segments {
				if !strings.Contains(text, "check: the replay loses") || !strings.Contains(vtext, "lost at backlog_limit 300") {
					t.Errorf("the check of one setting:\n%s\n%s", text, vtext)
				}
				return
			}
			if len(rec.Segments) != 2 || !slices.Equal(rec.Segments, val.Segments) {
				t.Fatalf("recommend's segments %+v, validate's %+v", rec.Segments, val.Segments)
			}
			a, b := rec.Segments[0], rec.Segments[1]
			if a.FromNs != 0 || a.Limit != 300 || b.FromNs != 4_010_000_000 || b.Limit != 20000 || a.Wait != 0 || b.Wait != 0 {
				t.Errorf("segments %+v", rec.Segments)
			}
			if a.RecordedLost != rec.RecordedLost || b.RecordedLost != 0 || rec.RecordedLost == 0 {
				t.Errorf("recorded lost %d and %d, in all %d", a.RecordedLost, b.RecordedLost, rec.RecordedLost)
			}
			if math.Abs(a.PredictedLost-float64(a.RecordedLost)) > 0.1*float64(a.RecordedLost) || b.PredictedLost >= 0.5 ||
				rec.PredictedLost != a.PredictedLost+b.PredictedLost {
				t.Errorf("predicted %v and %v, in all %v", a.PredictedLost, b.PredictedLost, rec.PredictedLost)
			}
			check := fmt.Sprintf("%s lost at 300 until 4.01s, then 0 at 20000; replayed at those: %s, then 0",
				humanize.Comma(int64(a.RecordedLost)), humanize.Comma(int64(math.Round(a.PredictedLost))))
			if !strings.Contains(text, "check, a setting at a time (the replay takes each bucket's): recorded "+check) ||
				!strings.Contains(text, "were in force at its start, then changed: 20000 and 0 from 4.01s") ||
				!strings.Contains(vtext, "  recorded:            "+check+"\n") {
				t.Errorf("the text does not check %q:\n%s\n%s", check, text, vtext)
			}
		})
	}
}

// TestCheckpointProfileSaid: recommend, validate and report read a
// checkpoint (a recording that had not finished) and say so, and where it
// ended.
func TestCheckpointProfileSaid(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	p.Checkpoint = &profile.Checkpoint{Seq: 3, UnixNs: 1.7e18, EveryNs: 60e9}
	path := saveProfile(t, p)
	want := path + " is a checkpoint (the 3rd, written 2023-11-14 22:13:20 UTC): the recording had not finished; this is its first " +
		time.Duration(p.DurationNs).Round(time.Millisecond).String()
	for _, args := range [][]string{{"recommend"}, {"validate", "--backlog-limit", "64"}} {
		code, out, errOut := run(t, append(args, "--profile", path)...)
		if code != 0 || !strings.Contains(out, "note: "+want) {
			t.Errorf("%v: exit %d (%s), want a note %q:\n%s", args, code, errOut, want, out)
		}
	}
	html := filepath.Join(t.TempDir(), "r.html")
	if code, _, errOut := run(t, "report", "--profile", path, "--output", html); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "this profile is a checkpoint (the 3rd") {
		t.Error("the report does not say it is a checkpoint")
	}
}
