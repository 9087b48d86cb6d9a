package vmtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smokeScript starts the real auditd, adds a syscall rule, generates load
// with stress-ng and reports what auditd logged.
//
//go:embed testdata/smoke.sh
var smokeScript string

// TestSmoke boots every kernel of the assets, runs auditd with a rule and a
// stress-ng load, and checks that auditd logged matching records.
func TestSmoke(t *testing.T) {
	assets := AssetsOrSkip(t)
	t.Parallel()
	kernels, err := Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			res, err := Run(ctx, Options{
				Kernel:  k,
				Assets:  assets,
				Script:  smokeScript,
				Timeout: 5 * time.Minute,
			})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			t.Logf("kernel %s (%s %s): initramfs %.1f MiB, boot %s, boot-to-exit %s",
				k.Release, k.Package, k.Version, float64(res.InitramfsSize)/(1<<20),
				res.BootTime.Round(time.Millisecond), res.Duration.Round(time.Millisecond))
			if res.ExitCode != 0 {
				t.Fatalf("script exit code %d\n%s", res.ExitCode, res.Console)
			}

			status := res.Sections["status"]
			m := regexp.MustCompile(`(?m)^pid (\d+)`).FindStringSubmatch(status)
			if m == nil || m[1] == "0" {
				t.Errorf("auditctl -s shows no auditd pid:\n%s", status)
			}
			t.Logf("auditctl -s:\n%s", strings.TrimSpace(status))

			n, err := strconv.Atoi(strings.TrimSpace(res.Sections["count"]))
			if err != nil {
				t.Errorf("count section %q: %v", res.Sections["count"], err)
			} else if n <= 0 {
				t.Errorf(`no key="smoke" records in audit.log`)
			} else {
				t.Logf(`%d key="smoke" records in audit.log`, n)
			}

			uname := strings.TrimSpace(res.Sections["uname"])
			if k.Release != "" && uname != k.Release {
				t.Errorf("uname -r = %q, want %q", uname, k.Release)
			}
			if !strings.HasPrefix(uname, k.Name+".") {
				t.Errorf("uname -r = %q, not a %s kernel", uname, k.Name)
			}
			for _, l := range strings.Split(res.Console, "\n") {
				if strings.HasPrefix(l, "step ") {
					t.Log(l)
				}
			}
			if t.Failed() {
				t.Logf("console:\n%s", res.Console)
			}
		})
	}
}

func TestAssetsDir(t *testing.T) {
	t.Setenv(EnvAssets, "")
	if _, ok := AssetsDir(); ok {
		t.Error("AssetsDir reports assets with the variable empty")
	}
	t.Setenv(EnvAssets, "/some/dir")
	if d, ok := AssetsDir(); !ok || d != "/some/dir" {
		t.Errorf("AssetsDir() = %q, %v", d, ok)
	}
}

func TestKernelsOrder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"6.12", "6.1", "5.15"} {
		d := filepath.Join(dir, "kernels", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "vmlinuz"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "release"), []byte(name+".0-1-cloud-amd64\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := Kernels(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range ks {
		names = append(names, k.Name)
	}
	if got := strings.Join(names, " "); got != "5.15 6.1 6.12" {
		t.Errorf("kernels = %s", got)
	}
	if ks[1].Release != "6.1.0-1-cloud-amd64" {
		t.Errorf("release = %q", ks[1].Release)
	}
	if _, err := Kernels(t.TempDir()); err == nil {
		t.Error("no error for an assets dir without kernels")
	}
}

// emitted is what emit prints for data, with lines broken at 76 columns.
func emitted(name, data string) string {
	sum := sha256hex(data)
	enc := b64(data)
	var b strings.Builder
	fmt.Fprintf(&b, "=== BEGIN %s ===\r\n=== BASE64 sha256=%s ===\r\n", name, sum)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\r\n")
	}
	fmt.Fprintf(&b, "=== END %s ===\r\n", name)
	return b.String()
}

func TestSectionsInterleaved(t *testing.T) {
	payload := `{"records": [1, 2, 3], "note": "=== END profile === inside the payload"}` + "\n" + strings.Repeat("0123456789abcdef", 40)
	em := emitted("profile", payload)
	// Inject kernel messages: on a line of its own, in the middle of a
	// base64 line, and in the middle of the END marker.
	lines := strings.SplitAfter(strings.TrimSuffix(em, "\r\n"), "\r\n")
	lines[len(lines)-1] += "\r\n"
	lines[3] = lines[3][:30] + "[   12.345678] audit: type=1300 audit(1.2:3): arch=c000003e syscall=257 key=\"smoke\"\r\n" + lines[3][30:]
	lines = append(lines[:2], append([]string{"[    3.100000] audit: backlog limit exceeded\r\n"}, lines[2:]...)...)
	last := len(lines) - 1
	lines[last] = lines[last][:9] + "[   13.000001] random: crng init done\r\n" + lines[last][9:]
	console := "[    0.000000] Linux version 6.1.0\r\nboot noise\r\n" + strings.Join(lines, "") +
		"=== BEGIN plain ===\r\nline one\r\n[   14.000000] kernel says hi\r\nline two\r\n=== END plain ===\r\n" +
		"=== VMTEST EXIT 3 uptime=15.00 ===\r\n"
	console = strings.ReplaceAll(console, "\r\n", "\n")

	secs, err := parseSections(console)
	if err != nil {
		t.Fatal(err)
	}
	if secs["profile"] != payload {
		t.Errorf("profile = %q\nwant %q", secs["profile"], payload)
	}
	if secs["plain"] != "line one\nline two" {
		t.Errorf("plain = %q", secs["plain"])
	}
	if code := exitCode(console); code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
}

func TestSectionsCorrupt(t *testing.T) {
	em := emitted("x", strings.Repeat("hello world ", 20))
	// A kernel message without its timestamp cannot be told from the
	// payload: the checksum must catch it.
	bad := strings.Replace(em, "aGVsbG8", "aGVsbG9", 1)
	if _, err := parseSections(strings.ReplaceAll(bad, "\r\n", "\n")); err == nil {
		t.Error("no error for a corrupted section")
	}
	if _, err := parseSections("=== BEGIN y ===\nabc\n"); err == nil {
		t.Error("no error for an unterminated section")
	}
	secs, err := parseSections(emitted("empty", ""))
	if err != nil || secs["empty"] != "" {
		t.Errorf("empty section: %q, %v", secs["empty"], err)
	}
	if _, ok := secs["empty"]; !ok {
		t.Error("empty section missing")
	}
}

// TestInitramfs checks the archive against a minimal newc reader.
func TestInitramfs(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	must(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "bin", "busybox"), []byte("BB"), 0o755))
	must(t, os.Symlink("/bin/busybox", filepath.Join(root, "bin", "sh")))
	must(t, os.WriteFile(filepath.Join(root, "bin", "old"), []byte("old"), 0o644))
	host := filepath.Join(dir, "tool")
	must(t, os.WriteFile(host, []byte("#!/bin/sh\necho tool\n"), 0o750))
	out := filepath.Join(dir, "initrd.gz")
	size, err := buildInitramfs(out, root, map[string]string{"/opt/x/tool": host, "/bin/old": host}, "echo hi\n")
	if err != nil {
		t.Fatal(err)
	}
	if size <= 0 {
		t.Fatalf("size %d", size)
	}
	ents := readNewc(t, out)
	want := map[string]string{
		"bin/busybox":      "100755 BB",
		"bin/sh":           "120777 /bin/busybox",
		"bin/old":          "100750 #!/bin/sh\necho tool\n",
		"opt":              "40755 ",
		"opt/x":            "40755 ",
		"opt/x/tool":       "100750 #!/bin/sh\necho tool\n",
		"dev/console":      "20600 ",
		"vmtest/script.sh": "100755 echo hi\n",
		"init":             "100755 " + initSh,
		"vmtest/lib.sh":    "100755 " + libSh,
		"TRAILER!!!":       "0 ",
		"bin":              "40755 ",
		"dev":              "40755 ",
		"vmtest":           "40755 ",
	}
	for name, w := range want {
		if got, ok := ents[name]; !ok {
			t.Errorf("%s missing", name)
		} else if got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	if len(ents) != len(want) {
		t.Errorf("%d entries, want %d: %v", len(ents), len(want), ents)
	}
}

// TestWithVars: Options.Vars become assignments before the script, values
// quoted so that the shell takes them as they are; a name the shell would
// not take as a variable is refused.
func TestWithVars(t *testing.T) {
	got, err := withVars(map[string]string{"MODE": "fentry", "FLAGS": "--task-state hash", "Q": "it's $x"}, "echo $MODE\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "FLAGS='--task-state hash'\nMODE='fentry'\nQ='it'\\''s $x'\necho $MODE\n"
	if got != want {
		t.Errorf("withVars = %q, want %q", got, want)
	}
	if got, err := withVars(nil, "echo hi\n"); err != nil || got != "echo hi\n" {
		t.Errorf("no vars: %q, %v", got, err)
	}
	for _, bad := range []string{"", "1X", "A-B", "A B", "X=1"} {
		if _, err := withVars(map[string]string{bad: "v"}, ""); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readNewc returns "octal-mode data" by name; it checks alignment and that
// parents come before children.
func readNewc(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	must(t, err)
	data, err := io.ReadAll(zr)
	must(t, err)
	ents := map[string]string{}
	off := 0
	field := func(i int) int {
		v, err := strconv.ParseUint(string(data[off+6+8*i:off+14+8*i]), 16, 32)
		must(t, err)
		return int(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off < len(data) {
		if !bytes.HasPrefix(data[off:], []byte("070701")) {
			t.Fatalf("bad magic at %d", off)
		}
		mode, size, namesize := field(1), field(6), field(11)
		name := string(data[off+110 : off+110+namesize-1])
		if data[off+110+namesize-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		if dir := filepath.Dir(name); dir != "." && name != "TRAILER!!!" {
			if _, ok := ents[dir]; !ok {
				t.Errorf("%s comes before its directory", name)
			}
		}
		if name == "dev/console" && (field(9) != 5 || field(10) != 1) {
			t.Errorf("dev/console is %d:%d", field(9), field(10))
		}
		doff := align(off + 110 + namesize)
		ents[name] = fmt.Sprintf("%o %s", mode, data[doff:doff+size])
		off = align(doff + size)
		if name == "TRAILER!!!" {
			break
		}
	}
	return ents
}

// noiseScript emits random data while another process floods the console
// with kernel messages (level err, shown despite loglevel=4).
//
//go:embed testdata/console-noise.sh
var noiseScript string

// TestConsoleNoise checks that sections survive kernel messages printed in
// the middle of them.
func TestConsoleNoise(t *testing.T) {
	assets := AssetsOrSkip(t)
	kernels, err := Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	k := kernels[len(kernels)-1]
	t.Parallel()
	res, err := Run(context.Background(), Options{
		Kernel: k, Assets: assets, Script: noiseScript,
		KernelArgs: []string{"printk.devkmsg=on"},
		Timeout:    5 * time.Minute,
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d\n%s", res.ExitCode, res.Console)
	}
	// How much noise landed inside sections, and how much mid-line.
	inside, midLine := 0, 0
	in := false
	for _, l := range strings.Split(res.Console, "\n") {
		switch {
		case strings.HasPrefix(l, "=== BEGIN "):
			in = true
		case strings.HasPrefix(l, "=== END "):
			in = false
		case in && strings.Contains(l, "vmtest noise"):
			inside++
			if !kmsgRE.MatchString(l) || kmsgRE.FindStringIndex(l)[0] > 0 {
				midLine++
			}
		}
	}
	t.Logf("%s: %d kernel messages inside sections, %d of them mid-line; console %d bytes, run %s",
		k.Name, inside, midLine, len(res.Console), res.Duration.Round(time.Millisecond))
	if inside == 0 {
		t.Log("no kernel message landed inside a section: the repair path was not exercised")
	}
	if got, want := sha256hex(res.Sections["random"]), strings.TrimSpace(res.Sections["sum"]); got != want {
		t.Errorf("random section: sha256 %s, guest says %s", got, want)
	}
	var want strings.Builder
	for i := 1; i <= 2000; i++ {
		if i > 1 {
			want.WriteString("\n")
		}
		want.WriteString(strconv.Itoa(i))
	}
	if res.Sections["plain"] != want.String() {
		t.Errorf("plain section damaged: %d bytes, want %d", len(res.Sections["plain"]), want.Len())
	}
}

// TestTimeout checks that a guest that never finishes is killed.
func TestTimeout(t *testing.T) {
	assets := AssetsOrSkip(t)
	kernels, err := Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Parallel()
	const timeout = 20 * time.Second
	start := time.Now()
	res, err := Run(context.Background(), Options{
		Kernel: kernels[0], Assets: assets, Timeout: timeout,
		// Busy, not asleep: under icount an idle guest's clock jumps to its next
		// timer, and a `sleep 1000` would end in seconds of wall time.
		Script: "echo spinning; while :; do :; done",
	})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("no error for a script that never ends (exit code %d)", res.ExitCode)
	}
	if !strings.Contains(err.Error(), "no exit after") {
		t.Errorf("error = %v", err)
	}
	if res == nil || res.ExitCode != -1 {
		t.Errorf("result = %+v", res)
	}
	if res != nil && res.Duration > timeout+10*time.Second {
		t.Errorf("qemu ran for %s with a timeout of %s", res.Duration, timeout)
	}
	t.Logf("timed out as expected: Run took %s", elapsed.Round(time.Millisecond))
}

// TestPanicRetry checks that a kernel that panics while booting, before the
// script starts, is booted again (and the failure still reported when it
// keeps panicking), and that a panic after the script started is reported
// at once, never retried.
func TestPanicRetry(t *testing.T) {
	assets := AssetsOrSkip(t)
	kernels, err := Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Parallel()
	t.Run("before", func(t *testing.T) {
		// No such init: the kernel falls back to mounting a root it does
		// not have and panics ("VFS: Unable to mount root fs").
		res, err := Run(context.Background(), Options{
			Kernel: kernels[0], Assets: assets, Timeout: 5 * time.Minute,
			Script: "echo never", KernelArgs: []string{"rdinit=/no-such-init"},
		})
		if err == nil || !strings.Contains(err.Error(), "kernel panic") {
			t.Fatalf("error = %v", err)
		}
		if res == nil || res.BootRetries != maxBootRetries {
			t.Fatalf("result = %+v, want %d boot retries", res, maxBootRetries)
		}
	})
	t.Run("after", func(t *testing.T) {
		res, err := Run(context.Background(), Options{
			Kernel: kernels[0], Assets: assets, Timeout: 5 * time.Minute,
			Script: "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger",
		})
		if err == nil || !strings.Contains(err.Error(), "kernel panic") {
			t.Fatalf("error = %v", err)
		}
		if res == nil || res.BootRetries != 0 || res.BootTime == 0 {
			t.Fatalf("result = %+v, want a started script and no retry", res)
		}
	})
}

// TestAdHoc runs the script in VMTEST_SCRIPT (skipped when unset) on each
// kernel, or only on VMTEST_KERNEL ("6.1", "6.12"), with the extra kernel
// arguments in VMTEST_ARGS (space separated), and shows the console live:
//
//	AUDITPROF_VM_ASSETS=/work/vm-assets VMTEST_SCRIPT='auditd; wait_for_auditd; auditctl -s' \
//		go test ./internal/vmtest -run TestAdHoc -v -count=1
func TestAdHoc(t *testing.T) {
	script := os.Getenv("VMTEST_SCRIPT")
	if script == "" {
		t.Skip("VMTEST_SCRIPT is not set")
	}
	assets := AssetsOrSkip(t)
	kernels, err := Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kernels {
		if want := os.Getenv("VMTEST_KERNEL"); want != "" && want != k.Name {
			continue
		}
		res, err := Run(context.Background(), Options{
			Kernel: k, Assets: assets, Script: script,
			KernelArgs: strings.Fields(os.Getenv("VMTEST_ARGS")),
			Output:     LineWriter(t.Logf),
		})
		if err != nil {
			t.Errorf("%s: %v", k.Name, err)
			continue
		}
		for name, s := range res.Sections {
			t.Logf("section %s (%d bytes):\n%s", name, len(s), s)
		}
		t.Logf("%s: exit code %d, boot %s, total %s, initramfs %d bytes", k.Name, res.ExitCode,
			res.BootTime.Round(time.Millisecond), res.Duration.Round(time.Millisecond), res.InitramfsSize)
	}
}

// guestTimeScript times a fixed amount of work (a busybox shell loop) on
// the guest's own clock.
//
//go:embed testdata/guest-time.sh
var guestTimeScript string

// TestGuestTime proves the property every VM assertion rests on
// (docs/testing.md, "Guest time"): the same work takes the same guest time
// whether or not the host's CPUs are busy. It boots the newest kernel
// twice, the second time with every host CPU kept busy by spinning
// goroutines, which halves (or worse) the speed qemu runs at. Without
// icount the guest's clocks follow the host's and the second run reads
// about twice as long. With it, the two differ only by what else the guest
// did meanwhile (where interrupts fall, its own kernel threads), a few
// percent: 10% is above that and ten times below what host load does
// without icount.
func TestGuestTime(t *testing.T) {
	assets := AssetsOrSkip(t)
	t.Parallel()
	kernels, err := Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	k := kernels[len(kernels)-1]
	measure := func(burn bool) float64 {
		t.Helper()
		stop := make(chan struct{})
		if burn {
			for range runtime.NumCPU() {
				go func() {
					for n := 0; ; n++ {
						if n%1024 == 0 {
							select {
							case <-stop:
								return
							default:
							}
						}
					}
				}()
			}
		}
		start := time.Now()
		res, err := Run(context.Background(), Options{Kernel: k, Assets: assets, Script: guestTimeScript, Timeout: 10 * time.Minute})
		close(stop)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if res.ExitCode != 0 {
			t.Fatalf("script exit code %d\n%s", res.ExitCode, tail(res.Console))
		}
		var a, b float64
		if _, err := fmt.Sscan(res.Sections["uptime"], &a, &b); err != nil || b <= a {
			t.Fatalf("uptime section %q: %v", res.Sections["uptime"], err)
		}
		t.Logf("host busy %v: the loop took %.2f guest seconds, the VM %s of wall time", burn, b-a, time.Since(start).Round(time.Second))
		return b - a
	}
	idle, busy := measure(false), measure(true)
	if d := busy/idle - 1; d > 0.10 || d < -0.10 {
		t.Errorf("the same work took %.2f guest seconds, then %.2f with the host's CPUs busy (%+.1f%%): guest time follows the host's load", idle, busy, 100*d)
	}
}
