package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvAssets is the environment variable that names the directory filled by
// scripts/vm-assets.sh.
const EnvAssets = "AUDITPROF_VM_ASSETS"

// EnvQemu names the qemu binary to use instead of qemu-system-x86_64 from
// PATH.
const EnvQemu = "AUDITPROF_QEMU"

// Defaults used when the corresponding Options field is zero.
const (
	DefaultTimeout  = 5 * time.Minute
	DefaultSMP      = 1
	DefaultMemoryMB = 1024
)

// BaseKernelArgs is the kernel command line every VM boots with, before
// Options.KernelArgs (on arm64 console=ttyAMA0 and no tsc=, arch.go).
//
// loglevel=4: only messages more severe than warning reach the console;
// dmesg has them all ("loglevel=7" in KernelArgs shows everything).
// audit=1 enables audit from boot: until auditd registers, records go to
// printk at level notice, and "audit: backlog limit exceeded" is a warning,
// so both stay off the console.
//
// tsc=reliable: under TCG, 6.1 judges the emulated TSC unstable and falls
// back to the HPET, whose every read is an emulated device access costing
// microseconds, so a clock read (bpf_ktime_get_ns, ~20 ns on real hardware)
// would dominate the overhead benchmark. Real servers run on the TSC.
var BaseKernelArgs = []string{"console=ttyS0", "audit=1", "panic=-1", "quiet", "loglevel=4", "printk.time=1", "tsc=reliable"}

// AssetsDir returns the assets directory named by AUDITPROF_VM_ASSETS, and
// false when the variable is unset or empty.
func AssetsDir() (string, bool) {
	dir := os.Getenv(EnvAssets)
	return dir, dir != ""
}

// AssetsOrSkip returns the assets directory, or skips the test with a message
// saying how to provide it when AUDITPROF_VM_ASSETS is unset. It fails the
// test when the variable is set but the directory is not complete.
func AssetsOrSkip(tb testing.TB) string {
	tb.Helper()
	dir, ok := AssetsDir()
	if !ok {
		tb.Skipf("VM test skipped: %s is not set (run scripts/vm-assets.sh DIR and set %s=DIR, or use `make test`)", EnvAssets, EnvAssets)
	}
	if err := checkAssets(dir); err != nil {
		tb.Fatalf("%s=%s: %v", EnvAssets, dir, err)
	}
	return dir
}

func checkAssets(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		return fmt.Errorf("assets incomplete (run scripts/vm-assets.sh %s): %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs", "bin", "busybox")); err != nil {
		return fmt.Errorf("assets have no rootfs: %w", err)
	}
	return nil
}

// Kernel is a bootable kernel from the assets directory.
type Kernel struct {
	// Name is the short name of the kernel series: "6.1", "6.12".
	Name string
	// Vmlinuz is the path of the kernel image.
	Vmlinuz string
	// Release is what `uname -r` prints in the guest, e.g.
	// "6.1.0-56-cloud-amd64" (empty if unknown).
	Release string
	// Package and Version are the Debian package the kernel comes from.
	Package, Version string
	// Config is the path of the kernel's build configuration (empty if
	// the package had none).
	Config string
}

// Kernels lists the kernels in assets (DIR/kernels/NAME/vmlinuz), oldest
// series first: 6.1, then 6.12.
func Kernels(assets string) ([]Kernel, error) {
	root := filepath.Join(assets, "kernels")
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing kernels: %w", err)
	}
	var ks []Kernel
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(root, e.Name())
		k := Kernel{Name: e.Name(), Vmlinuz: filepath.Join(d, "vmlinuz")}
		if _, err := os.Stat(k.Vmlinuz); err != nil {
			continue
		}
		k.Release = readTrim(filepath.Join(d, "release"))
		k.Package = readTrim(filepath.Join(d, "package"))
		k.Version = readTrim(filepath.Join(d, "version"))
		if _, err := os.Stat(filepath.Join(d, "config")); err == nil {
			k.Config = filepath.Join(d, "config")
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("listing kernels: no DIR/NAME/vmlinuz under %s (run scripts/vm-assets.sh)", root)
	}
	sort.Slice(ks, func(i, j int) bool { return versionLess(ks[i].Name, ks[j].Name) })
	return ks, nil
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// versionLess compares dotted versions numerically ("6.1" < "6.12").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// Options describes one VM run.
type Options struct {
	// Kernel to boot (from Kernels).
	Kernel Kernel
	// Assets is the directory made by scripts/vm-assets.sh; its rootfs is
	// the base of the initramfs. Empty means AssetsDir().
	Assets string
	// Files are added to the initramfs: guest path -> host path, e.g.
	// "/bin/auditprof" -> a statically linked binary built by the test.
	// Host symlinks are followed, modes are kept, a host directory is
	// copied recursively, missing parent directories are created, and
	// files override the base tree. Dynamically linked binaries only work
	// if their libraries are in the base tree (glibc, libaudit, ...).
	Files map[string]string
	// Script is the body of a busybox sh script run as the test after
	// boot, with the helpers of lib.sh. It runs without -e (it may
	// `set -e` itself), stdin /dev/null, stdout and stderr on the console.
	Script string
	// Vars are shell variables set (not exported) before Script runs,
	// name -> value, e.g. {"MODE": "fentry"}: how a test hands values to
	// a script kept in a file. Names must be shell identifiers.
	Vars map[string]string
	// Timeout bounds the life of qemu, boot included (DefaultTimeout when
	// zero); qemu is killed when it expires. Building the initramfs
	// (about 0.4 s) comes before and is not counted.
	Timeout time.Duration
	// SMP is the number of virtual CPUs (DefaultSMP when zero). One vCPU
	// runs the same way every time up to where interrupts fall; with two,
	// the guest's scheduler interleaves them differently from run to run,
	// so use two only for concurrency one CPU cannot show, with
	// assertions that hold whatever the interleaving.
	SMP int
	// MemoryMB is the guest memory in MiB (DefaultMemoryMB when zero).
	MemoryMB int
	// KernelArgs are appended to BaseKernelArgs, e.g.
	// "audit_backlog_limit=64".
	KernelArgs []string
	// NoAuditBootArg boots without "audit=1": audit_default stays 0, as on
	// hosts where only auditd turns audit on, and kauditd then frees the
	// records it cannot deliver without counting them lost.
	NoAuditBootArg bool
	// Output, when set, receives the serial console as it arrives (for
	// example a writer that calls t.Log, or os.Stderr when debugging).
	Output io.Writer
	// ICountShift is qemu's -icount shift: each guest instruction advances
	// the guest's clocks by 2^shift ns. 0 (the default) is a 1 GHz guest
	// that retires one instruction per cycle; under host load its time
	// passes slower than real time, never differently.
	ICountShift int
	// Arch is the guest's architecture (arch.go); zero is AMD64. Assets
	// must then be that arch's (ArchAssets).
	Arch Arch
	// Disks are raw disk images, host paths, attached in order as NVMe
	// drives: /dev/nvme0n1, /dev/nvme1n1, ... (Debian's cloud kernels
	// build NVMe in; virtio-blk is a module). A write reaches the image
	// when the guest writes back or flushes it: a guest ended by
	// power_cut (lib.sh) leaves on it what a power cut leaves on a disk.
	Disks []string
}

// Result is what a VM run produced.
type Result struct {
	// Console is everything qemu printed on the serial console (kernel
	// messages and the script's output), with "\r\n" turned into "\n".
	Console string
	// ExitCode is the exit status of the script, -1 if it never
	// reported one (timeout, kernel panic).
	ExitCode int
	// Sections are the blocks the script printed with emit, or between
	// `=== BEGIN name ===` and `=== END name ===`, by name. A name
	// emitted twice keeps the last block. Plain (not emitted) sections
	// lose the lines that look like kernel console messages
	// ("[   12.345678] ..."): dmesg output must go through emit.
	Sections map[string]string
	// BootTime is the time from starting qemu until the script started
	// (host clock), zero if it never started.
	BootTime time.Duration
	// Duration is the time from starting qemu until it exited.
	Duration time.Duration
	// InitramfsSize is the size in bytes of the compressed initramfs.
	InitramfsSize int64
	// BootRetries is how often the kernel panicked before the script
	// started and was booted again (see maxBootRetries).
	BootRetries int
}

// Markers printed by the guest's /init.
const (
	startMarker = "=== VMTEST START"
	exitMarker  = "=== VMTEST EXIT "
)

// Run boots opts.Kernel with an initramfs made of the assets' rootfs,
// opts.Files and an /init that runs opts.Script, waits for the guest to power
// off, and returns what it printed. A script that fails is not an error: its
// status is in Result.ExitCode. Run returns an error (and the Result so far,
// when qemu ran) if the VM cannot be built or started, the timeout expires,
// the guest never reports the script's exit status, or an emitted section is
// corrupt. A kernel panic before the script started is an emulator fault, not
// the test's: Run boots again, at most maxBootRetries times, each with the
// whole Timeout. Several Runs may proceed concurrently: under icount what one
// guest measures does not depend on the others.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Assets == "" {
		dir, ok := AssetsDir()
		if !ok {
			return nil, fmt.Errorf("no assets: Options.Assets is empty and %s is unset", EnvAssets)
		}
		opts.Assets = dir
	}
	if opts.Kernel.Vmlinuz == "" {
		return nil, errors.New("no kernel: Options.Kernel.Vmlinuz is empty")
	}
	if _, err := os.Stat(opts.Kernel.Vmlinuz); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", opts.Kernel.Name, err)
	}
	for _, d := range opts.Disks {
		// qemu's -drive takes options after commas.
		if strings.Contains(d, ",") {
			return nil, fmt.Errorf("disk %q: a comma in the path cannot be passed to qemu's -drive", d)
		}
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("disk: %w", err)
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.SMP <= 0 {
		opts.SMP = DefaultSMP
	}
	if opts.MemoryMB <= 0 {
		opts.MemoryMB = DefaultMemoryMB
	}
	qemu, err := opts.Arch.qemuBinary()
	if err != nil {
		return nil, err
	}
	qemuPath, err := exec.LookPath(qemu)
	if err != nil {
		return nil, fmt.Errorf("finding qemu: %w", err)
	}

	tmp, err := os.MkdirTemp("", "auditprof-vmtest-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	script, err := withVars(opts.Vars, opts.Script)
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(tmp, "initramfs.cpio.gz")
	size, err := buildInitramfs(initrd, filepath.Join(opts.Assets, "rootfs"), opts.Files, script)
	if err != nil {
		return nil, fmt.Errorf("building initramfs: %w", err)
	}

	var res *Result
	for attempt := 0; ; attempt++ {
		res, err = boot(ctx, qemuPath, tmp, initrd, opts)
		if res != nil {
			res.InitramfsSize = size
			res.BootRetries = attempt
		}
		if err == nil || !panickedBeforeScript(res) || attempt == maxBootRetries || ctx.Err() != nil {
			return res, err
		}
		if opts.Output != nil {
			fmt.Fprintf(opts.Output, "vmtest: the kernel (%s) panicked while booting, before the script started; booting again\n", opts.Kernel.Name)
		}
	}
}

// withVars prepends to script one assignment per variable, by name, each
// value single-quoted so that the shell takes it as it is.
func withVars(vars map[string]string, script string) (string, error) {
	names := make([]string, 0, len(vars))
	for n := range vars {
		if !shellName.MatchString(n) {
			return "", fmt.Errorf("Options.Vars: %q is not a shell variable name", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s='%s'\n", n, strings.ReplaceAll(vars[n], "'", `'\''`))
	}
	return b.String() + script, nil
}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxBootRetries bounds how often Run boots again after a kernel panic that
// came before the script started.
//
// Why retry at all: under multi-threaded TCG a vCPU can execute a stale
// translation of code the kernel is live-patching (text_poke_bp of a static
// key: the int3 it plants is gone by the time the trap is handled), and the
// guest dies with "Oops: int3" in code such as sched_clock_cpu during its
// initcalls (on 6.12, late_initcall flipping __sched_clock_stable). Nothing
// of the test has run at that point (the script, and so auditprof, starts
// after the start marker), so booting again hides nothing about the code
// under test; a panic after the start marker is never retried. The VMs run
// on one TCG thread (see boot), which should rule this out; the retry stays
// for emulator faults nobody has seen yet.
const maxBootRetries = 2

// panickedBeforeScript reports whether the guest died in a kernel panic
// before /init printed the start marker.
func panickedBeforeScript(res *Result) bool {
	return res != nil && res.BootTime == 0 && res.ExitCode == -1 &&
		strings.Contains(res.Console, "Kernel panic") && !strings.Contains(res.Console, startMarker)
}

// boot runs qemu once and collects what the guest printed.
//
// -icount runs the guest in instruction-counted time (docs/testing.md,
// "Guest time"), and every vCPU on one host thread. That also rules out
// what multi-threaded TCG allowed: a vCPU running a stale translation of
// kernel text another vCPU was patching (text_poke_bp), which killed guests
// with "Oops: int3" when programs were attached under load.
func boot(ctx context.Context, qemuPath, dir, initrd string, opts Options) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	arch, _ := opts.Arch.spec() // checked by Run
	args := append(append([]string{
		"-accel", "tcg,thread=single", "-icount", fmt.Sprintf("shift=%d,sleep=off", opts.ICountShift)},
		arch.machine...),
		"-smp", strconv.Itoa(opts.SMP), "-m", strconv.Itoa(opts.MemoryMB),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
		"-no-reboot",
		"-kernel", opts.Kernel.Vmlinuz, "-initrd", initrd,
		"-append", strings.Join(kernelArgs(opts), " "),
	)
	for i, d := range opts.Disks {
		args = append(args, "-drive", fmt.Sprintf("file=%s,if=none,format=raw,id=disk%d", d, i),
			"-device", fmt.Sprintf("nvme,drive=disk%d,serial=vmtest%d", i, i))
	}
	cmd := exec.CommandContext(ctx, qemuPath, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	con := &consoleWriter{out: opts.Output}
	cmd.Stdout = con
	cmd.WaitDelay = 5 * time.Second
	// A test binary killed outright (go test's -timeout, Ctrl-C twice)
	// takes its guests with it instead of leaving them burning a core.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	res := &Result{ExitCode: -1}
	start := time.Now()
	con.start = start
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	waitErr := cmd.Wait()
	res.Duration = time.Since(start)
	res.Console = con.text()
	res.BootTime = con.bootTime()
	res.ExitCode = exitCode(res.Console)

	var secErr error
	res.Sections, secErr = parseSections(res.Console)

	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && res.ExitCode == -1:
		return res, fmt.Errorf("running vm (%s): no exit after %s: %w%s", opts.Kernel.Name, opts.Timeout, ctx.Err(), tail(res.Console))
	case ctx.Err() != nil && res.ExitCode == -1:
		return res, fmt.Errorf("running vm (%s): %w", opts.Kernel.Name, ctx.Err())
	case waitErr != nil && res.ExitCode == -1:
		return res, fmt.Errorf("running qemu (%s): %w: %s%s", opts.Kernel.Name, waitErr, strings.TrimSpace(stderr.String()), tail(res.Console))
	case res.ExitCode == -1:
		why := "guest stopped without reporting the script's exit status"
		if strings.Contains(res.Console, "Kernel panic") {
			why = "kernel panic"
		}
		return res, fmt.Errorf("running vm (%s): %s%s", opts.Kernel.Name, why, tail(res.Console))
	}
	if secErr != nil {
		return res, fmt.Errorf("reading sections (%s): %w", opts.Kernel.Name, secErr)
	}
	return res, nil
}

// tail returns the last lines of the console for error messages.
func tail(console string) string {
	lines := strings.Split(strings.TrimRight(console, "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return "\nlast console lines:\n" + strings.Join(lines, "\n")
}

// exitCode finds the script's exit status on the console, -1 if absent.
func exitCode(console string) int {
	code := -1
	for _, line := range repairLines(console) {
		rest, ok := strings.CutPrefix(line, exitMarker)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil {
			code = n
		}
	}
	return code
}

// consoleWriter collects qemu's stdout, forwards it to out, and notes when
// the script started.
type consoleWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	out     io.Writer
	start   time.Time
	started time.Time
}

func (c *consoleWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.started.IsZero() {
		// The marker may straddle two writes: look a little before p.
		from := max(0, c.buf.Len()-len(p)-len(startMarker))
		if bytes.Contains(c.buf.Bytes()[from:], []byte(startMarker)) {
			c.started = time.Now()
		}
	}
	if c.out != nil {
		// The console is best-effort: a failing writer must not kill qemu.
		_, _ = c.out.Write(bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n")))
	}
	return len(p), nil
}

func (c *consoleWriter) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.ReplaceAll(c.buf.String(), "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "")
}

func (c *consoleWriter) bootTime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started.IsZero() {
		return 0
	}
	return c.started.Sub(c.start)
}

// LineWriter returns an io.Writer for Options.Output that calls logf once
// per complete console line, e.g. t.Logf to see the console with go test -v.
// Run writes the last partial line, if any, only when it ends.
func LineWriter(logf func(format string, args ...any)) io.Writer {
	return &lineWriter{logf: logf}
}

type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	logf func(format string, args ...any)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.logf("%s", strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func kernelArgs(opts Options) []string {
	var args []string
	arch, _ := opts.Arch.spec()
	for _, a := range arch.kernelArgs(BaseKernelArgs) {
		if opts.NoAuditBootArg && a == "audit=1" {
			continue
		}
		args = append(args, a)
	}
	return append(args, opts.KernelArgs...)
}
