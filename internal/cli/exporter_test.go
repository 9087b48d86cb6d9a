package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/exporter"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/procsample"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
)

func TestExporterUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "9812"}, "want host:port"},
		{[]string{"--listen", "localhost"}, "want host:port"},
		{[]string{"--listen", "127.0.0.1:99999"}, "the port must be a number from 0 to 65535"},
		{[]string{"--listen", "127.0.0.1:http"}, "the port must be a number from 0 to 65535"},
		{[]string{"--listen", "127.0.0.1:"}, "the port must be a number from 0 to 65535"},
		{[]string{"--listen", "exa mple:80"}, "is not an IP address or a host name"},
		{[]string{"--interval", "10ms"}, "--interval must be between 100ms and 1h0m0s"},
		{[]string{"--interval", "99ms"}, "--interval must be between 100ms and 1h0m0s"},
		{[]string{"--interval", "61m"}, "--interval must be between 100ms and 1h0m0s"},
		{[]string{"--top", "0"}, "--top must be at least 1"},
		{[]string{"--attach", "uprobe"}, `--attach must be one of {auto|fentry|kprobe}, not "uprobe"`},
		{[]string{"--output", "/nonexistent/dir/p.json"}, "directory /nonexistent/dir does not exist"},
		{[]string{"extra"}, "unknown command"},
	} {
		args := append([]string{"exporter"}, tc.args...)
		code, _, stderr := run(t, args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, stderr)
		}
		if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line containing %q", args, stderr, tc.want)
		}
	}
}

// TestExporterPortInUse: a port in use is one error, exit 1, before
// anything is attached.
func TestExporterPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ready := filepath.Join(t.TempDir(), "ready")
	code, _, stderr := run(t, "exporter", "--listen", ln.Addr().String(), "--ready-file", ready)
	if code != ExitFailure || strings.Count(stderr, "\n") != 1 ||
		!strings.Contains(stderr, "listening on "+ln.Addr().String()+": bind: address already in use") {
		t.Errorf("exit %d, stderr %q: want exit 1 and one line saying the address is in use", code, stderr)
	}
	if _, err := os.Stat(ready); err == nil {
		t.Error("ready file created")
	}
}

// skipIfBPFAttaches skips where the exporter would attach and run until
// stopped (the VM tests cover that).
func skipIfBPFAttaches(t *testing.T) {
	t.Helper()
	needRoot(t)
	pr, err := probe.Open(probe.Options{})
	if err == nil {
		pr.Close()
		t.Skip("BPF attaches on this kernel; the VM tests cover the exporter there")
	}
	if !errors.Is(err, probe.ErrNoAttach) {
		t.Skipf("probe.Open: %v", err)
	}
}

// TestExporterNoBPF: where nothing can attach the exporter says so in one
// line and exits 4; it does not fall back to netlink.
func TestExporterNoBPF(t *testing.T) {
	skipIfBPFAttaches(t)
	dir := t.TempDir()
	ready, out := filepath.Join(dir, "ready"), filepath.Join(dir, "p.json")
	code, stdout, stderr := run(t, "exporter", "--listen", "127.0.0.1:0", "--ready-file", ready, "--output", out)
	if code != ExitUnsupported || strings.Count(stderr, "\n") != 1 || stdout != "" ||
		!strings.Contains(stderr, "the exporter needs BPF (kprobes or fentry on audit_log_start)") ||
		strings.Count(stderr, "cannot attach") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q: want exit %d and one line saying the exporter needs BPF", code, stdout, stderr, ExitUnsupported)
	}
	for _, f := range []string{ready, out} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s created", f)
		}
	}

	// Not on loopback: one warning line first.
	code, _, stderr = run(t, "exporter", "--listen", "0.0.0.0:0")
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != ExitUnsupported || len(lines) != 2 || !strings.Contains(lines[0], "warning: listening on 0.0.0.0:") ||
		!strings.Contains(lines[0], "reachable from the network") {
		t.Errorf("exit %d, stderr %q: want a warning line, then the error", code, stderr)
	}
}

// syncBuffer is stderr written by the exporter while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func snap(records uint64) *profile.Profile {
	return &profile.Profile{
		SchemaVersion: profile.SchemaVersion, Attach: profile.AttachKprobe, KernelRelease: "test", HZ: 100,
		AuditAfter:      &profile.AuditStatus{BacklogLimit: 64},
		Totals:          profile.Totals{Records: records, Queued: records, LostByReason: map[string]uint64{}},
		Rules:           []profile.Rule{{Key: "k", Syscall: 257, SyscallName: "openat", Arch: "x86_64", Records: records}},
		Processes:       []profile.Process{{Tgid: 7, Comm: "load", Records: records}},
		WaitHistogramNs: []profile.HistogramBucket{{Le: 1<<20 - 1, Count: records / 10}},
	}
}

// TestExporterServes runs the command with the recording replaced by
// snapshots: the ready line and file come with the first snapshot, a scrape
// serves the latest, and on stop the server shuts down and --output holds
// the final profile.
func TestExporterServes(t *testing.T) {
	dir := t.TempDir()
	var stderr syncBuffer
	o := &exporterOptions{
		consumer: consumerFlags{Source: recording.ConsumerSample, Hz: procsample.DefaultHz},
		streams:  streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &stderr},
		Listen:   "127.0.0.1:0", Interval: 100 * time.Millisecond, Top: 3, Attach: "auto",
		ReadyFile: filepath.Join(dir, "ready"), Output: filepath.Join(dir, "final.json"),
	}
	final := snap(500)
	second := make(chan struct{})
	o.record = func(ctx context.Context, opts recording.Options) (*profile.Profile, error) {
		if opts.Every != 100*time.Millisecond || opts.Snapshot == nil || opts.KeepBuckets == 0 {
			t.Errorf("recording options %+v", opts)
		}
		if _, err := os.Stat(o.ReadyFile); err == nil {
			t.Error("ready file exists before the first snapshot")
		}
		if err := opts.Snapshot(snap(100)); err != nil {
			return nil, err
		}
		if err := opts.Snapshot(snap(300)); err != nil {
			return nil, err
		}
		close(second)
		<-ctx.Done()
		return final, nil
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.run(ctx) }()

	select {
	case <-second:
	case err := <-done:
		t.Fatalf("exporter stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot")
	}
	if _, err := os.Stat(o.ReadyFile); err != nil {
		t.Errorf("ready file: %v", err)
	}
	m := regexp.MustCompile(`attached \(kprobe\), counting and serving (http://127\.0\.0\.1:\d+/metrics); Ctrl-C to stop\n`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no ready line in %q", stderr.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	fams, err := exporter.ParseText(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := exporter.Value(fams, "auditprof_records_total"); !ok || v != 300 {
		t.Errorf("auditprof_records_total = %g, %v; want 300 (the latest snapshot)", v, ok)
	}
	if v, ok := exporter.Value(fams, "auditprof_process_records_total", "comm", "load"); !ok || v != 300 {
		t.Errorf("auditprof_process_records_total{comm=load} = %g, %v", v, ok)
	}
	if v, ok := exporter.Value(fams, "auditprof_backlog_blocked_seconds_count"); !ok || v != 30 {
		t.Errorf("histogram count = %g, %v", v, ok)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exporter did not stop")
	}
	if _, err := http.Get(m[1]); err == nil {
		t.Error("still serving after stop")
	}
	p, err := profile.ReadFile(o.Output)
	if err != nil {
		t.Fatal(err)
	}
	if p.Totals.Records != 500 {
		t.Errorf("--output holds %d records, want the final profile's 500", p.Totals.Records)
	}
	if n := strings.Count(stderr.String(), "counting and serving"); n != 1 {
		t.Errorf("ready line printed %d times", n)
	}
	if !strings.Contains(stderr.String(), "auditprof: profile written to "+o.Output+"\n") {
		t.Errorf("stderr %q", stderr.String())
	}
}

// TestExporterReadyFileError: a ready file that cannot be created (its
// directory removed after the check) ends the run with that error, and
// the listener is closed.
func TestExporterReadyFileError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := &exporterOptions{
		consumer: consumerFlags{Source: recording.ConsumerSample, Hz: procsample.DefaultHz},
		streams:  streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}},
		Listen:   "127.0.0.1:0", Interval: time.Second, Top: 1, Attach: "auto",
		ReadyFile: filepath.Join(dir, "ready"),
	}
	o.record = func(ctx context.Context, opts recording.Options) (*profile.Profile, error) {
		return nil, opts.Snapshot(snap(1))
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	err := o.run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "creating ready file: ") || exitCode(err) != ExitFailure {
		t.Errorf("run: %v", err)
	}
}
