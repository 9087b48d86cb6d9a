package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"
)

func TestMain(m *testing.M) {
	// AUDIT_GET runs in a re-exec of this test binary.
	auditnl.ServeChild()
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"record", "--attach", "uprobe"}, `--attach must be one of {auto|fentry|kprobe|netlink}, not "uprobe"`},
		{[]string{"record", "--task-state", "stack"}, `--task-state must be one of {auto|task-storage|hash}, not "stack"`},
		{[]string{"record", "--attach", "netlink", "--task-state", "hash"}, "--task-state is for BPF"},
		{[]string{"record", "--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"record", "--bucket", "1us"}, "--bucket must be between 1ms and 1s"},
		{[]string{"record", "--checkpoint", "500ms"}, "--checkpoint must be at least 1s, or 0 for none, not 500ms"},
		{[]string{"record", "--checkpoint", "-1m"}, "--checkpoint must be at least 1s, or 0 for none, not -1m0s"},
		{[]string{"record", "--attach", "netlink", "--checkpoint", "30s"}, "--checkpoint needs BPF"},
		{[]string{"record", "--output", ""}, "--output must name a file"},
		{[]string{"record", "--durationn", "1s"}, "unknown flag: --durationn"},
		{[]string{"record", "--consumer", "bpf"}, `--consumer must be one of {sample|sched-switch|off}, not "bpf"`},
		{[]string{"record", "--consumer-hz", "0"}, "--consumer-hz must be more than 0 and at most 1000, not 0"},
		{[]string{"record", "--consumer-hz", "1001"}, "--consumer-hz must be more than 0 and at most 1000, not 1001"},
		{[]string{"record", "--consumer", "sched-switch", "--consumer-hz", "50"}, "--consumer-hz is for --consumer sample, not --consumer sched-switch"},
		{[]string{"record", "--attach", "netlink", "--consumer", "off"}, "--consumer and --consumer-hz are for BPF"},
		{[]string{"exporter", "--consumer-hz", "-1"}, "--consumer-hz must be more than 0 and at most 1000, not -1"},
		{[]string{"exporter", "--consumer", "stat"}, `--consumer must be one of {sample|sched-switch|off}, not "stat"`},
		{[]string{"status", "extra"}, "unknown command"},
		{[]string{"nosuchcommand"}, "unknown command"},
		{[]string{"recommend"}, "give one of --profile FILE or --duration D"},
		{[]string{"recommend", "--profile", "p.json", "--duration", "1s"}, "give one of --profile FILE or --duration D"},
		{[]string{"recommend", "--profile", "p.json", "--headroom", "0.9"}, "--headroom must be between 1 and 100"},
		{[]string{"recommend", "--profile", "p.json", "--memory-budget", "lots"}, "--memory-budget \"lots\" is not a size"},
		{[]string{"recommend", "--profile", "p.json", "--persist", "x.rules"}, "--persist and --dry-run go with --apply"},
		{[]string{"recommend", "--profile", "/nonexistent/p.json"}, "no such file"},
		{[]string{"validate", "--backlog-limit", "10"}, "--profile is required"},
		{[]string{"validate", "--profile", "p.json", "--backlog-limit", "0"}, "--backlog-limit must be between 1 and"},
		{[]string{"apply", "--backlog-limit", "-5"}, "--backlog-limit must be between 1 and"},
		{[]string{"apply", "--backlog-limit", "99999999999"}, "--backlog-limit must be between 1 and"},
		{[]string{"apply", "--backlog-limit", "100", "--persist", "/etc/audit/rules.d/backlog.conf"}, "augenrules only loads files ending in .rules"},
		{[]string{"report", "--output", "r.html"}, "--profile is required"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, ExitUsage, stderr)
		}
		if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, stderr, tc.want)
		}
	}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (AUDIT_GET)")
	}
}

// TestStatusJSON runs a real AUDIT_GET on this machine's kernel.
func TestStatusJSON(t *testing.T) {
	needRoot(t)
	code, out, stderr := run(t, "status", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if r.Audit == nil || r.HZ <= 0 || r.HZSource == "" || r.RecordBytes < 2048 {
		t.Fatalf("implausible status: %+v", r)
	}
	if want := float64(r.Audit.BacklogWaitTime) / float64(r.HZ); r.BacklogWaitTimeSeconds != want {
		t.Errorf("backlog_wait_time_seconds %v, want %v", r.BacklogWaitTimeSeconds, want)
	}
	if r.LimitBytesUpperBound != uint64(r.Audit.BacklogLimit)*8970 || r.LimitBytes != uint64(r.Audit.BacklogLimit)*r.RecordBytes {
		t.Errorf("memory figures inconsistent: %+v", r)
	}
	code, text, _ := run(t, "status")
	if code != 0 || !strings.Contains(text, "backlog_limit:") || !strings.Contains(text, "upper bound") {
		t.Errorf("status text:\n%s", text)
	}
}

// TestStatusHZOverride: AUDITPROF_HZ is the operator's word, shown as the
// source and used for the seconds.
func TestStatusHZOverride(t *testing.T) {
	needRoot(t)
	t.Setenv(kernel.HZEnv, "1000")
	code, out, stderr := run(t, "status", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.HZ != 1000 || r.HZSource != kernel.HZSourceOverride {
		t.Errorf("hz %d from %q, want 1000 from %s", r.HZ, r.HZSource, kernel.HZEnv)
	}
}

// TestHZEnvInvalid: a mistyped AUDITPROF_HZ is bad input (exit 2), one line
// saying what to set.
func TestHZEnvInvalid(t *testing.T) {
	t.Setenv(kernel.HZEnv, "250Hz")
	code, _, stderr := run(t, "apply", "--backlog-limit", "100", "--backlog-wait-time", "15s", "--dry-run")
	if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "set it to this kernel's CONFIG_HZ") {
		t.Errorf("exit %d, stderr %q; want exit %d and one line saying what to set", code, stderr, ExitUsage)
	}
}

// TestRecordNetlinkChosen: --attach netlink records over netlink without
// trying BPF, so without the line saying BPF cannot attach.
func TestRecordNetlinkChosen(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "p.json")
	code, _, stderr := run(t, "record", "--attach", "netlink", "--duration", "1s", "--output", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p, err := profile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Attach != profile.AttachNetlink || strings.Contains(stderr, "BPF cannot attach") {
		t.Errorf("attach %q; stderr:\n%s", p.Attach, stderr)
	}
}

// TestRecordHere: on this machine's kernel record either attaches or says in
// one line why not and records through netlink; either way it stops on time
// and writes a valid profile.
func TestRecordHere(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "p.json")
	start := time.Now()
	code, out, stderr := run(t, "record", "--duration", "1500ms", "--output", path)
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if elapsed > 15*time.Second {
		t.Errorf("record --duration 1.5s took %s", elapsed)
	}
	p, err := profile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Attach == profile.AttachNetlink {
		var degraded []string
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, "BPF cannot attach") {
				degraded = append(degraded, l)
			}
		}
		if len(degraded) != 1 || !strings.Contains(degraded[0], "netlink") {
			t.Errorf("want one line saying why BPF cannot attach and that netlink is used; stderr:\n%s", stderr)
		}
	}
	if p.AuditBefore == nil || p.AuditAfter == nil {
		t.Errorf("profile lacks the kernel's counters: %+v %+v", p.AuditBefore, p.AuditAfter)
	}
	if !strings.Contains(out, "profile written to "+path) {
		t.Errorf("summary:\n%s", out)
	}
}

// TestRecordExplicitAttachRefused: an explicit --attach that this kernel
// cannot honour is an error (exit 4), not a silent fallback to netlink.
func TestRecordExplicitAttachRefused(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "p.json")
	code, _, stderr := run(t, "record", "--attach", "fentry", "--duration", "1s", "--output", path)
	if code == 0 {
		t.Skip("fentry attaches on this kernel; the VM tests cover that path")
	}
	if code != ExitUnsupported || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "fentry") {
		t.Errorf("exit %d, stderr %q: want exit %d and one line naming fentry", code, stderr, ExitUnsupported)
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a refused recording wrote %s", path)
	}
}
