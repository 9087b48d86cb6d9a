package e2e

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// The guest scripts (testdata/*.sh): a test's own runs after prelude.sh
// and keyed-rules.sh (guestScript).
var (
	//go:embed testdata/prelude.sh
	preludeSh string
	//go:embed testdata/keyed-rules.sh
	keyedRulesSh string
	//go:embed testdata/scenarios.sh
	scenariosSh string
	//go:embed testdata/silent-drops.sh
	silentDropsSh string
	//go:embed testdata/arm64.sh
	arm64Sh string
	//go:embed testdata/preempt.sh
	preemptSh string
	//go:embed testdata/no-kallsyms-all.sh
	noKallsymsAllSh string
	//go:embed testdata/trampoline.sh
	trampolineSh string
	//go:embed testdata/ruleset.sh
	ruleSetSh string
	//go:embed testdata/sizing.sh
	sizingSh string
	//go:embed testdata/stall.sh
	stallSh string
	//go:embed testdata/bench-overhead.sh
	benchOverheadSh string
	//go:embed testdata/rounds.sh
	roundsSh string
	//go:embed testdata/offpath.sh
	offPathSh string
	//go:embed testdata/onpath.sh
	onPathSh string
)

// guestScript is a test's script: the prelude (auditd, the helpers), the
// keyed_rules scenario some tests call, then the test's own.
func guestScript(test string) string {
	return preludeSh + keyedRulesSh + test
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var (
	buildMu  sync.Mutex
	builtBin = map[string]*builtBinary{}
)

// guestBinary builds the static binary of pkg (a path relative to this
// package) for GOARCH goarch, once per test binary, as `make build` builds
// bin/auditprof and bin/auditprof-arm64 (the BPF objects of both arches
// are committed: no clang).
func guestBinary(t testing.TB, goarch, pkg string) string {
	t.Helper()
	key := goarch + " " + pkg
	buildMu.Lock()
	b := builtBin[key]
	if b == nil {
		b = &builtBinary{}
		builtBin[key] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "auditprof-e2e-"+goarch+"-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-trimpath", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s for %s: %v\n%s", pkg, goarch, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// binaries are the static amd64 binaries that go into the guest.
func binaries(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{
		"/bin/auditprof":  guestBinary(t, "amd64", "../../cmd/auditprof"),
		"/bin/guestcheck": guestBinary(t, "amd64", "./guestcheck"),
		"/bin/auditget":   guestBinary(t, "amd64", "./auditget"),
	}
}

type guestRun struct {
	t        testing.TB
	sections map[string]string
}

// runGuest boots the VM, runs the script and fails the test unless the
// script exited 0.
func runGuest(tb testing.TB, opts vmtest.Options) guestRun {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+time.Minute)
	defer cancel()
	start := time.Now()
	res, err := vmtest.Run(ctx, opts)
	if err != nil {
		if res != nil {
			tb.Fatalf("%v; console:\n%s", err, tail(res.Console, 80))
		}
		tb.Fatal(err)
	}
	tb.Logf("%s: guest ran in %s", opts.Kernel.Name, time.Since(start).Round(time.Second))
	if res.BootRetries > 0 {
		tb.Logf("%s: the kernel panicked while booting, before the script, and was booted again %d time(s)", opts.Kernel.Name, res.BootRetries)
	}
	if res.ExitCode != 0 {
		tb.Fatalf("guest script exited %d; console:\n%s", res.ExitCode, tail(res.Console, 80))
	}
	keepSections(tb, opts.Kernel.Name, res.Sections)
	return guestRun{t: tb, sections: res.Sections}
}

// keepSections writes what the guest emitted (profiles, command output,
// status) to $AUDITPROF_E2E_KEEP/<test>/, one file per section, when that
// is set: the recordings of a run, to replay and read after it.
func keepSections(tb testing.TB, kernel string, sections map[string]string) {
	root := os.Getenv("AUDITPROF_E2E_KEEP")
	if root == "" {
		return
	}
	dir := filepath.Join(root, strings.ReplaceAll(tb.Name(), "/", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Logf("keeping the guest's output: %v", err)
		return
	}
	for name, s := range sections {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(s), 0o644); err != nil {
			tb.Logf("keeping the guest's output: %v", err)
			return
		}
	}
	tb.Logf("%s: the guest's output is in %s", kernel, dir)
}

func (g guestRun) section(name string) string {
	g.t.Helper()
	s, ok := g.sections[name]
	if !ok {
		g.t.Fatalf("the guest did not emit %q", name)
	}
	return s
}

func (g guestRun) profile(name string) *profile.Profile {
	g.t.Helper()
	p, err := profile.Decode(strings.NewReader(g.section(name + ".json")))
	if err != nil {
		g.t.Fatalf("%s: %v\n%s", name, err, g.sections[name+".out"])
	}
	return p
}

// status parses `auditctl -s` output.
// delta is how much a counter of auditctl -s moved from NAME.before to
// NAME.after.
func (g guestRun) delta(name, field string) uint64 {
	return g.status(name + ".after")[field] - g.status(name + ".before")[field]
}

func (g guestRun) status(name string) map[string]uint64 {
	g.t.Helper()
	m := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(g.section(name)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

func (g guestRun) exitCode(name string) int {
	g.t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(g.section(name + ".rc")))
	if err != nil {
		g.t.Fatalf("%s: exit code %q", name, g.section(name+".rc"))
	}
	return n
}

// guestSetup returns the VM assets, the guest binaries and the kernels, or
// skips when `make test` did not prepare the assets.
func guestSetup(tb testing.TB) (dir string, files map[string]string, kernels []vmtest.Kernel) {
	tb.Helper()
	dir, ok := vmtest.AssetsDir()
	if !ok {
		tb.Skip("AUDITPROF_VM_ASSETS is not set: run `make test`, which prepares the VM kernels and packages")
	}
	files = binaries(tb)
	kernels, err := vmtest.Kernels(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, files, kernels
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
