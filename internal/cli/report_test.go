package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

func TestReportCommand(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	in := saveProfile(t, p)
	out := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := run(t, "report", "--profile", in, "--output", out, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Output string `json:"output"`
		Bytes  int    `json:"bytes"`
		Charts int    `json:"charts"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("report --json: %v\n%s", err, stdout)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Output != out || r.Bytes != len(html) || r.Charts < 4 {
		t.Errorf("report --json %+v; file has %d bytes", r, len(html))
	}
	if !bytes.HasPrefix(html, []byte("<!DOCTYPE html>")) || !bytes.Contains(html, []byte("recommended backlog_limit: ")) {
		t.Errorf("%s is not the report", out)
	}
	code, stdout, _ = run(t, "report", "--profile", in, "--output", out)
	if code != ExitOK || !strings.Contains(stdout, "report written to "+out) {
		t.Errorf("text output: exit %d %q", code, stdout)
	}
}

// TestReportRefusals: each refusal is one line, exit 2, and writes nothing.
func TestReportRefusals(t *testing.T) {
	netlink, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	netlink.Attach = profile.AttachNetlink
	netlink.Totals.LostByReason = nil
	noTimeline, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	noTimeline.Timeline = profile.Timeline{}
	dir := t.TempDir()
	out := filepath.Join(dir, "report.html")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"netlink", []string{"--profile", saveProfile(t, netlink), "--output", out},
			[]string{"netlink", "no queue timeline", "record again", "BPF can attach"}},
		{"empty timeline", []string{"--profile", saveProfile(t, noTimeline), "--output", out},
			[]string{"no queue timeline", "record again"}},
		{"missing directory", []string{"--profile", saveProfile(t, noTimeline), "--output", filepath.Join(dir, "nodir", "r.html")},
			[]string{"directory " + filepath.Join(dir, "nodir") + " does not exist"}},
		{"output is a directory", []string{"--profile", saveProfile(t, noTimeline), "--output", dir},
			[]string{"is a directory"}},
		{"no profile file", []string{"--profile", filepath.Join(dir, "none.json"), "--output", out},
			[]string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"report"}, tc.args...)...)
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q: want exit %d and one line", code, stderr, ExitUsage)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused report wrote %s", out)
			}
		})
	}
}
