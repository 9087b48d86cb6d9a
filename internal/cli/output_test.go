package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// TestBadOutputRefusedAtOnce: every file a command will write is checked
// before anything attaches, records or changes: exit 2, one line naming the
// path and what to do, at once, and nothing left behind.
func TestBadOutputRefusedAtOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := writeProfile(t, sizingtest.Bursts)
	const missing = "/nonexistent/dir"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"record", "--output", missing + "/p.json", "--duration", "30s"},
			"--output /nonexistent/dir/p.json: directory /nonexistent/dir does not exist; create it or name a file in another directory"},
		{[]string{"record", "--output", dir, "--duration", "30s"}, "--output " + dir + " is a directory; name a file in it"},
		{[]string{"record", "--output", file + "/p.json", "--duration", "30s"}, file + " is not a directory"},
		{[]string{"record", "--output", "/sys/p.json", "--duration", "30s"}, "--output /sys/p.json: cannot create files in /sys (permission denied)"},
		{[]string{"record", "--output", "/dev/null", "--duration", "30s"}, "--output /dev/null is not a regular file"},
		{[]string{"record", "--ready-file", missing + "/ready", "--duration", "30s"}, "--ready-file /nonexistent/dir/ready: directory"},
		{[]string{"recommend", "--duration", "30s", "--output", missing + "/p.json"}, "--output /nonexistent/dir/p.json: directory"},
		{[]string{"recommend", "--duration", "30s", "--ready-file", missing + "/r"}, "--ready-file /nonexistent/dir/r: directory"},
		{[]string{"recommend", "--profile", prof, "--apply", "--persist", missing + "/50.rules"}, "--persist /nonexistent/dir/50.rules: directory"},
		{[]string{"rules", "--duration", "30s", "--output", missing + "/p.json"}, "--output /nonexistent/dir/p.json: directory"},
		{[]string{"report", "--profile", prof, "--output", missing + "/r.html"}, "--output /nonexistent/dir/r.html: directory"},
		{[]string{"exporter", "--output", missing + "/p.json"}, "--output /nonexistent/dir/p.json: directory"},
		{[]string{"exporter", "--ready-file", "/sys/ready"}, "--ready-file /sys/ready: cannot create files in /sys"},
		{[]string{"apply", "--backlog-limit", "100", "--persist", missing + "/50.rules"}, "--persist /nonexistent/dir/50.rules: directory"},
		{[]string{"apply", "--backlog-limit", "100", "--persist", "/sys/50.rules"}, "--persist /sys/50.rules: cannot create files in /sys"},
	} {
		start := time.Now()
		code, _, stderr := run(t, tc.args...)
		// A refusal comes before anything records: well within the
		// 30 s --duration, however loaded the host.
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%v: took %s, want a refusal before recording", tc.args, took)
		}
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, code, stderr, ExitUsage, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the checks left files behind in %s: %v", dir, ents)
	}
}

// TestCheckOutputCreatesNothing: a good path passes and nothing is made
// there or beside it.
func TestCheckOutputCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"new.json", "existing.json"} {
		if name == "existing.json" {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := checkOutput("--output", filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "existing.json" {
		t.Errorf("directory holds %v after the checks, want only existing.json", ents)
	}
}

// TestSaveRecordingFallback: when the final write fails (here: the
// directory was removed after the check) the profile lands in a fallback
// file that the error names.
func TestSaveRecordingFallback(t *testing.T) {
	fallback := t.TempDir()
	old := fallbackDirs
	fallbackDirs = func() []string { return []string{filepath.Join(fallback, "missing"), fallback} }
	t.Cleanup(func() { fallbackDirs = old })

	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.json")
	if err := checkOutput("--output", path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	p := snap(42)
	saved, err := saveRecording(p, path)
	if err == nil {
		t.Fatal("no error for a profile not written where asked")
	}
	if filepath.Dir(saved) != fallback || !strings.Contains(err.Error(), "the profile is saved in "+saved+" instead") {
		t.Fatalf("saved in %q, error %v: want a file in %s named by the error", saved, err, fallback)
	}
	got, rerr := profile.ReadFile(saved)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !reflect.DeepEqual(got.Totals, p.Totals) {
		t.Errorf("saved totals %+v, want %+v", got.Totals, p.Totals)
	}

	// Nowhere to save it: the error says so.
	fallbackDirs = func() []string { return []string{filepath.Join(fallback, "missing")} }
	if saved, err := saveRecording(p, path); saved != "" || err == nil || !strings.Contains(err.Error(), "failed too") {
		t.Errorf("saved %q, err %v", saved, err)
	}
}

// TestRecordOutputGoneMidway: a real recording whose output directory
// disappears while it records still keeps what it recorded.
func TestRecordOutputGoneMidway(t *testing.T) {
	needRoot(t)
	fallback := t.TempDir()
	old := fallbackDirs
	fallbackDirs = func() []string { return []string{fallback} }
	t.Cleanup(func() { fallbackDirs = old })
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(t.TempDir(), "ready")
	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := run(t, "record", "--duration", "2s", "--ready-file", ready, "--output", filepath.Join(dir, "p.json"))
		done <- result{code, out, stderr}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("record never became ready")
		}
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, ExitFailure, r.stderr)
	}
	ents, _ := os.ReadDir(fallback)
	if len(ents) != 1 {
		t.Fatalf("fallback directory holds %v; stderr %s", ents, r.stderr)
	}
	saved := filepath.Join(fallback, ents[0].Name())
	if !strings.Contains(r.stderr, "the profile is saved in "+saved+" instead") {
		t.Errorf("stderr %q does not name %s", r.stderr, saved)
	}
	if _, err := profile.ReadFile(saved); err != nil {
		t.Error(err)
	}
	if !strings.Contains(r.out, "recorded ") {
		t.Errorf("no summary:\n%s", r.out)
	}
}
