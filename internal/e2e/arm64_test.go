package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// TestArm64 proves auditprof on arm64: Debian 12's 6.12 cloud kernel
// (linux-image-6.12-cloud-arm64, voluntary preemption, HZ 250) in
// qemu-system-aarch64 -M virt, with the static GOARCH=arm64 build and its
// committed arm64 BPF objects (kprobe programs read arguments from arm64's
// pt_regs), in both attach modes, each in its own guest:
//
//   - (a) of TestScenarios, backlog_limit 64, wait time 0, auditd held to a
//     fifth of the vCPU, two stress-ng openers: every assertion of
//     checkOverloadDrop, first of all lost equal to the kernel's AUDIT_GET
//     lost delta exactly;
//   - (b), wait time 5 jiffies, three openers: checkOverloadWait (wait time
//     against backlog_wait_time_actual, lost exact), recorded with
//     --attach auto in the fentry guest, where it must pick fentry (this
//     kernel does not preempt kernel code) with audit_log_start's fexit
//     alone (checkFexitAlone), and kprobe in the other;
//   - (c), two keyed rules at different rates that lose nothing
//     (keyed_rules), recorded with --attach fentry and kprobe: all of
//     checkRules, first of all each key's events and records equal to
//     auditd's log over the recording's serial range, exactly, and no
//     recursion miss or missed return (checkRulesArm64);
//   - HZ on a kernel without /boot/config or /proc/config.gz: `status`
//     must read the kernel's CONFIG_HZ (from the package's config in the
//     assets) from the jiffies counted since boot.
//
// The guest runs in instruction-counted time, as the amd64 guests do, so
// nothing here depends on the host's speed: not the overloads, not the
// waits, not the uptime at which HZ is read. With one vCPU and
// pauth-impdef that costs little on arm64 (a sixth more qemu CPU than
// without), so no assertion had to be given up for speed.
func TestArm64(t *testing.T) {
	top, ok := vmtest.AssetsDir()
	if !ok {
		t.Skip("AUDITPROF_VM_ASSETS is not set: run `make test`, which prepares the VM kernels and packages")
	}
	// Under make test the arm64 assets are part of the suite: missing,
	// they fail the test.
	assets, err := vmtest.ArchAssets(top, vmtest.ARM64)
	if err != nil {
		t.Fatal(err)
	}
	kernels, err := vmtest.Kernels(assets)
	if err != nil {
		t.Fatal(err)
	}
	var k vmtest.Kernel
	for _, c := range kernels {
		if c.Name == "6.12" {
			k = c
		}
	}
	if k.Vmlinuz == "" {
		t.Fatalf("no arm64 6.12 kernel in %s (scripts/vm-assets-arm64.sh fetches it)", assets)
	}
	wantHZ := configHZ(t, k)
	files := map[string]string{"/bin/auditprof": guestBinary(t, "arm64", "../../cmd/auditprof")}
	// The consumer is measured the default way (from /proc) in the fentry
	// run, by the sched_switch program in the kprobe run.
	for _, v := range []struct{ mode, modeB, recordFlags, consumer string }{
		{"fentry", "auto", "", profile.ConsumerSourceSample},
		{"kprobe", "kprobe", "--consumer sched-switch", profile.ConsumerSourceSchedSwitch}} {
		t.Run(k.Name+"/"+v.mode, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: assets, Files: files, Arch: vmtest.ARM64,
				Vars:   map[string]string{"MODE_A": v.mode, "MODE_B": v.modeB, "RECORD_FLAGS": v.recordFlags},
				Script: guestScript(arm64Sh), Timeout: 25 * time.Minute})
			if u := strings.TrimSpace(g.section("uname")); u != k.Release {
				t.Errorf("the guest runs %q, want %q", u, k.Release)
			}
			checkHZNoConfig(t, g, wantHZ)
			checkOverloadDrop(t, g, v.mode, "task-storage")
			checkOverloadWait(t, g)
			if v.mode == "fentry" {
				checkFexitAlone(t, "(b)", g.profile("b"))
			}
			checkRulesArm64(t, g, v.mode, v.consumer)
			if p := g.profile("b"); p.Attach != v.mode {
				t.Errorf("(b) --attach %s attached %s (note %q), want %s", v.modeB, p.Attach, p.AttachNote, v.mode)
			}
			// This kernel does not preempt kernel code: no program run
			// is skipped, in either mode.
			for _, name := range []string{"a", "b"} {
				p := g.profile(name)
				t.Logf("(%s) %s: lost %d, kernel lost delta %d; recursion misses %d; note %q",
					name, p.Attach, p.Totals.Lost, g.delta(name, "lost"), p.Overflows.RecursionMisses, p.AttachNote)
				if p.Overflows.RecursionMisses != 0 {
					t.Errorf("(%s) %d recursion misses: %v", name, p.Overflows.RecursionMisses, misses(p))
				}
			}
		})
	}
}

// checkRulesArm64 asserts checkRules on the arm64 guest's (c), recorded
// with --attach mode, and that no program run was skipped and no
// audit_log_start return missed: this kernel does not preempt kernel
// code, and nothing else attaches, so the per-key counts have nothing to
// be short by.
//
// checkRules asserts that the keyed rows name aarch64, the syscall's
// AUDIT_ARCH as the kernel's audit context gives it.
func checkRulesArm64(t *testing.T, g guestRun, mode, consumer string) {
	t.Helper()
	p := g.profile("c")
	if rc := g.exitCode("c"); rc != 0 {
		t.Errorf("(c) record exited %d:\n%s", rc, g.sections["c.out"])
	}
	t.Logf("(c) attach %s; recursion misses %d, returns missed %d; kernel lost delta %d",
		p.Attach, p.Overflows.RecursionMisses, p.Overflows.ReturnsMissed, g.delta("c", "lost"))
	if p.Attach != mode {
		t.Errorf("(c) --attach %s attached %s (note %q)", mode, p.Attach, p.AttachNote)
	}
	if p.Overflows.RecursionMisses != 0 || p.Overflows.ReturnsMissed != 0 {
		t.Errorf("(c) recursion misses %d %v, returns missed %d: want none",
			p.Overflows.RecursionMisses, misses(p), p.Overflows.ReturnsMissed)
	}
	checkRules(t, g, "aarch64")
	checkConsumerArm64(t, p, consumer)
}

// checkConsumerArm64: the consumer section on arm64, whose syscall numbers
// differ from x86-64's (and, for the sched_switch program, the saved
// registers: syscallno): measured as source says, auditd's main thread
// watched throughout, asleep in syscalls named from aarch64's table,
// waiting for records among them, and every record drained put on its
// socket.
func checkConsumerArm64(t *testing.T, p *profile.Profile, source string) {
	t.Helper()
	c, th := mainThread(t, "(c)", p, "incremental_async")
	checkSource(t, "(c)", p, source)
	// auditd free to run, nothing lost, no producer waiting: it kept up,
	// and the diagnosis must say so both ways (sampled, the wait for a CPU
	// after each wakeup for records is runnable, not wait: with two CPUs
	// busy it was 31% of the time in one run, and the diagnosis then
	// decides on the queue's and the socket's evidence).
	if p.Totals.Lost == 0 && p.Totals.Waits == 0 && (c.Diagnosis == nil || c.Diagnosis.Bottleneck != "none") {
		t.Errorf("(c) nothing lost, no producer waited: diagnosis %+v, want none", c.Diagnosis)
	}
	if th.OffCPUNs[profile.ConsumerWait] == 0 || th.OffCPUNs[profile.ConsumerUnknown] != 0 {
		t.Errorf("(c) main thread off CPU %v: want time waiting for records, none unknown", th.OffCPUNs)
	}
	for _, s := range th.Syscalls {
		if strings.HasPrefix(s.Name, "syscall_") {
			t.Errorf("(c) syscall %d has no aarch64 name", s.Nr)
		}
	}
	if p.Totals.Lost == 0 && p.Totals.RetryQueued == 0 && c.Received != p.Totals.Drained {
		t.Errorf("(c) auditd received %d, kauditd drained %d", c.Received, p.Totals.Drained)
	}
}

// configHZ is CONFIG_HZ from the kernel package's config, kept in the
// assets (the guest has none).
func configHZ(t *testing.T, k vmtest.Kernel) int {
	t.Helper()
	if k.Config == "" {
		t.Fatalf("kernel %s has no config in the assets", k.Name)
	}
	f, err := os.Open(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			hz, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: CONFIG_HZ=%q", k.Config, v)
			}
			return hz
		}
	}
	t.Fatalf("%s: no CONFIG_HZ", k.Config)
	return 0
}

// checkHZNoConfig: with no kernel config to read, status finds HZ from one
// read of /proc/timer_list, the jiffies counted since boot. That answers
// only where every wrong candidate is far off: the nearest pair, 250 and
// 300, differ by (1 - 250/300) * (300 s - uptime), over the 30 s it needs
// while the uptime is below 120 s. Under icount the guest reads it at the
// same guest uptime every run, so the source is not a matter of luck;
// the uptime is checked all the same.
func checkHZNoConfig(t *testing.T, g guestRun, want int) {
	t.Helper()
	if c := g.section("configs"); !strings.Contains(c, "/proc/config.gz") || strings.Count(c, "No such file") != 2 {
		t.Fatalf("the guest has a kernel config: %q", c)
	}
	up, err := strconv.ParseFloat(strings.TrimSpace(g.section("hz.uptime")), 64)
	if err != nil {
		t.Fatal(err)
	}
	if rc := g.exitCode("hz"); rc != 0 {
		t.Fatalf("status exited %d: %s", rc, g.section("hz.out"))
	}
	var st struct {
		HZ     int    `json:"hz"`
		Source string `json:"hz_source"`
		Note   string `json:"hz_note"`
	}
	if err := json.Unmarshal([]byte(g.section("hz.out")), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, g.section("hz.out"))
	}
	t.Logf("HZ %d from %s at guest uptime %.1f s (CONFIG_HZ %d) %s", st.HZ, st.Source, up, want, st.Note)
	if up >= 100 {
		t.Fatalf("status ran at guest uptime %.0f s: too close to 300 s for the since-boot method", up)
	}
	if st.HZ != want || st.Source != kernel.HZSourceSinceBoot || st.Note != "" {
		t.Errorf("status: HZ %d from %q (note %q), want %d from %s", st.HZ, st.Source, st.Note, want, kernel.HZSourceSinceBoot)
	}
}
