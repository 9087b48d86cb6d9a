package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/auditprof/auditprof/internal/live"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

func TestTopUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "--interval", "99ms"}, "--interval must be between 100ms and 1h, not 99ms"},
		{[]string{"top", "--interval", "0s"}, "--interval must be between 100ms and 1h"},
		{[]string{"top", "--interval", "-1s"}, "--interval must be between 100ms and 1h"},
		{[]string{"top", "--interval", "61m"}, "--interval must be between 100ms and 1h, not 1h1m0s"},
		{[]string{"top", "--interval", "soon"}, "invalid argument \"soon\" for \"--interval\""},
		{[]string{"top", "--sort", "size"}, `--sort must be one of {records|lost|wait}, not "size"`},
		{[]string{"top", "--top", "-1"}, "--top must be 0 (all) or more"},
		{[]string{"top", "--attach", "uprobe"}, `--attach must be one of {auto|fentry|kprobe}, not "uprobe"`},
		{[]string{"top", "extra"}, "unknown command \"extra\""},
		{[]string{"top", "--onec"}, "unknown flag: --onec"},
	} {
		code, stdout, stderr := run(t, tc.args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, ExitUsage, stderr)
		}
		if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("%v: stderr %q, stdout %q: want one line on stderr containing %q", tc.args, stderr, stdout, tc.want)
		}
	}
}

// TestTopNeedsBPF: where BPF cannot attach (this development machine), top
// does not fall back to netlink: it fails in one line, exit 4, and points
// at status.
func TestTopNeedsBPF(t *testing.T) {
	code, stdout, stderr := run(t, "top", "--once", "--interval", "100ms")
	if code == ExitOK {
		t.Skip("BPF attaches on this kernel; the VM tests cover top there")
	}
	if os.Geteuid() != 0 {
		// Not root: the probe refuses before trying to attach.
		if code != ExitPrivilege || strings.Count(stderr, "\n") != 1 {
			t.Errorf("not root: exit %d, stderr %q: want exit %d and one line", code, stderr, ExitPrivilege)
		}
		return
	}
	if code != ExitUnsupported || strings.Count(stderr, "\n") != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q: want exit %d and one line on stderr", code, stdout, stderr, ExitUnsupported)
	}
	for _, want := range []string{"top needs BPF (kprobes or fentry on audit_log_start)", "`auditprof status` shows the kernel's counters"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	if strings.Contains(stderr, probe.ErrNoAttach.Error()) || strings.Count(stderr, "cannot attach") != 1 {
		t.Errorf("the reason is said twice: %q", stderr)
	}
}

func TestNoBPFError(t *testing.T) {
	e := noBPFError{"top", probe.ErrNoAttach}
	if got := e.Error(); got != "top needs BPF (kprobes or fentry on audit_log_start), which cannot attach here; `auditprof status` shows the kernel's counters" {
		t.Errorf("bare: %q", got)
	}
	e = noBPFError{"top", wrapNoAttach("kprobe: the kernel has no kprobes")}
	if got := e.Error(); got != "top needs BPF (kprobes or fentry on audit_log_start), which cannot attach here (kprobe: the kernel has no kprobes); `auditprof status` shows the kernel's counters" {
		t.Errorf("with a reason: %q", got)
	}
	if exitCode(e) != ExitUnsupported {
		t.Errorf("exit code %d, want %d", exitCode(e), ExitUnsupported)
	}
}

func wrapNoAttach(why string) error { return &wrapErr{why} }

type wrapErr struct{ why string }

func (e *wrapErr) Error() string { return probe.ErrNoAttach.Error() + ": " + e.why }
func (e *wrapErr) Unwrap() error { return probe.ErrNoAttach }

// TestTopOutputs drives the outputs top writes to with two snapshots, as
// recording.Run would.
func TestTopOutputs(t *testing.T) {
	opts := live.Options{SortBy: ranking.Records, Top: 10}
	p1 := &profile.Profile{DurationNs: 1e9, Totals: profile.Totals{Records: 10},
		Rules: []profile.Rule{{Key: "k", Syscall: 2, Records: 10}}, AuditAfter: &profile.AuditStatus{Backlog: 3, BacklogLimit: 64}}
	p2 := &profile.Profile{DurationNs: 2e9, Totals: profile.Totals{Records: 30},
		Rules: []profile.Rule{{Key: "k", Syscall: 2, Records: 30}}, AuditAfter: &profile.AuditStatus{Backlog: 5, BacklogLimit: 64}}

	var b bytes.Buffer
	batch := &batchOutput{w: &b, opts: opts}
	if err := batch.frame(&profile.Profile{}, p1); err != nil {
		t.Fatal(err)
	}
	if err := batch.frame(p1, p2); err != nil {
		t.Fatal(err)
	}
	frames := strings.Split(b.String(), "\n\nauditprof top:")
	if len(frames) != 2 || strings.ContainsRune(b.String(), 0x1b) || !strings.HasPrefix(b.String(), "auditprof top:") {
		t.Errorf("batch: want two plain frames separated by a blank line:\n%s", b.String())
	}

	b.Reset()
	nd := &ndjsonOutput{enc: json.NewEncoder(&b), opts: opts}
	nd.frame(&profile.Profile{}, p1)
	nd.frame(p1, p2)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("ndjson: %d lines, want 2:\n%s", len(lines), b.String())
	}
	var v live.View
	if err := json.Unmarshal([]byte(lines[1]), &v); err != nil {
		t.Fatal(err)
	}
	if *v.Depth.Now != 5 || len(v.Rules) != 1 || v.Rules[0].Key != "k" || v.Rules[0].Records != 30 || v.Rules[0].RecordsPerSec != 20 {
		t.Errorf("second line: %s", lines[1])
	}

	b.Reset()
	once := &onceOutput{w: &b, json: true, opts: opts}
	if err := once.frame(&profile.Profile{}, p1); !errors.Is(err, errTopOnce) {
		t.Errorf("once: %v, want errTopOnce", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("once --json: %v\n%s", err, b.String())
	}
	if m["depth"].(map[string]any)["now"] != 3.0 || m["rules"].([]any)[0].(map[string]any)["records"] != 10.0 {
		t.Errorf("once --json: %s", b.String())
	}
}

// TestScreenFrame: the interactive screen fits the terminal, keeps rows of
// both tables, and draws over the previous screen line by line.
func TestScreenFrame(t *testing.T) {
	cur := &profile.Profile{DurationNs: 1e9, AuditAfter: &profile.AuditStatus{Backlog: 7, BacklogLimit: 64}}
	for i := range 20 {
		cur.Processes = append(cur.Processes, profile.Process{Tgid: uint32(100 + i), Comm: fmt.Sprintf("proc-%02d", i),
			Cgroup: "/system.slice/a-very-long-unit-name-that-does-not-fit-on-one-line-of-the-terminal.service", Records: uint64(1000 - i)})
		cur.Rules = append(cur.Rules, profile.Rule{Key: fmt.Sprintf("key-%02d", i), Syscall: 257, SyscallName: "openat", Records: uint64(1000 - i)})
	}
	v := live.Frame(nil, cur, live.Options{SortBy: ranking.Records, Top: 10})
	b, err := screenFrame(v, "keys: r records  l lost  w wait  q quit", 60, 24)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, ansiHome+"keys: r records  l lost  w wait  q quit"+ansiClearLine+"\r\n") || !strings.HasSuffix(s, ansiClearBelow) {
		t.Errorf("screen does not start at home with the keys or end clearing below:\n%q", s)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, ansiHome), ansiClearBelow), "\r\n")
	if n := len(lines) - 1; n != 23 {
		t.Errorf("%d lines on a 24-line terminal, want 23:\n%s", n, s)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(strings.TrimSuffix(l, ansiClearLine)); n > 60 {
			t.Errorf("line of %d characters on a 60-column terminal: %q", n, l)
		}
	}
	for _, want := range []string{"proc-00", "key-00", "RULES (top "} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen:\n%s", want, s)
		}
	}
	// A terminal tall enough shows every row asked for.
	b, _ = screenFrame(v, "keys", 200, 100)
	if strings.Count(string(b), "proc-") != 10 || strings.Count(string(b), "key-") != 10 {
		t.Errorf("tall terminal:\n%s", b)
	}
}
