package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// TestPreemptFull proves auditprof on a kernel that preempts kernel code
// (Debian 6.12 cloud, a PREEMPT_DYNAMIC kernel, booted with preempt=full).
// There a fentry program can be preempted, and another task entering the
// same program on that CPU is skipped (a recursion miss), and fentry's
// lost falls short of the kernel's by exactly the audit_log_lost program's
// misses. So: --attach auto picks kprobes and is exact, and an explicit
// fentry says before it starts that it can be short, and then its lost
// plus its audit_log_lost program's misses is the kernel's lost, exactly,
// with the summary naming the shortfall whenever there is one. In the
// default mode the rest is proven as on the voluntary kernels: the wait
// time of (b) against backlog_wait_time_actual, and (c)'s per-key events
// and records against auditd's log.
func TestPreemptFull(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	k := kernels[len(kernels)-1]
	t.Run(k.Name, func(t *testing.T) {
		t.Parallel()
		g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, KernelArgs: []string{"preempt=full"},
			Script: guestScript(preemptSh), Timeout: 25 * time.Minute})
		checkPreempt(t, g, kernel.PreemptFull)
	})
}

// TestPreemptRT proves the same on Debian's PREEMPT_RT builds, 6.1
// (linux-image-rt-amd64) and 6.12 (linux-image-6.12-rt-amd64), which
// scripts/vm-assets.sh keeps in DIR/rt/kernels so that the tests looping
// over the cloud kernels do not boot them. Nothing on the command line:
// the kernel is RT as built, and auditprof must tell so
// (/sys/kernel/realtime).
func TestPreemptRT(t *testing.T) {
	dir, files, _ := guestSetup(t)
	kernels, err := vmtest.Kernels(filepath.Join(dir, "rt"))
	if err != nil {
		t.Fatalf("the PREEMPT_RT kernels are missing (scripts/vm-assets.sh %s fetches them into %s): %v",
			dir, filepath.Join(dir, "rt", "kernels"), err)
	}
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Script: guestScript(preemptSh), Timeout: 25 * time.Minute})
			if r := strings.TrimSpace(g.section("uname")); r != k.Release {
				t.Errorf("the guest runs %q, want %q", r, k.Release)
			}
			checkPreempt(t, g, kernel.PreemptRT)
		})
	}
}

// checkPreempt asserts what preempt.sh's recordings must show on a
// kernel whose preemption model is model (full or rt): auto picks
// kprobes, names the model and is exact; an explicit fentry warns before
// counting and is short by exactly its audit_log_lost program's recursion
// misses, which the summary reports. And, in the default mode, what
// TestScenarios asserts on the voluntary kernels: (b)'s wait time equals
// backlog_wait_time_actual and its lost the kernel's (checkOverloadWait),
// (c)'s events and records per key equal auditd's log over the
// recording's serial range (checkRules), both with kprobes picked and no
// program run skipped.
func checkPreempt(t *testing.T, g guestRun, model string) {
	t.Helper()
	auto := g.profile("auto")
	kernelLost := g.delta("auto", "lost")
	t.Logf("auto: attach %s (%s); lost %d, kernel %d; recursion misses %v", auto.Attach, auto.AttachNote, auto.Totals.Lost, kernelLost, misses(auto))
	if auto.Attach != profile.AttachKprobe || !strings.Contains(auto.AttachNote, "preempt="+model) {
		t.Errorf("--attach auto on a preempt=%s kernel chose %s (note %q), want kprobe and why", model, auto.Attach, auto.AttachNote)
	}
	if kernelLost == 0 {
		t.Fatal("the load lost nothing: not an overload")
	}
	// kprobes run with preemption disabled, and the maps are read
	// on a real-time thread (recording.readerPriority): nothing
	// leaves bpf_prog_active raised while a producer runs.
	if auto.Totals.Lost != kernelLost || auto.Overflows.RecursionMisses != 0 {
		t.Errorf("auto: lost %d, kernel %d, recursion misses %d", auto.Totals.Lost, kernelLost, auto.Overflows.RecursionMisses)
	}

	fe := g.profile("fentry")
	kernelLost = g.delta("fentry", "lost")
	lostMisses := misses(fe)["fentry_audit_log_lost"]
	out := g.section("fentry.out")
	t.Logf("fentry: lost %d + %d skipped runs of audit_log_lost's program, kernel %d; %d misses in all %v; note %q",
		fe.Totals.Lost, lostMisses, kernelLost, fe.Overflows.RecursionMisses, misses(fe), fe.AttachNote)
	if fe.Attach != profile.AttachFentry {
		t.Fatalf("--attach fentry attached %s", fe.Attach)
	}
	if !strings.Contains(out, "auditprof: attach: ") || !strings.Contains(fe.AttachNote, "kprobe is exact") ||
		!strings.Contains(fe.AttachNote, "preempt="+model) {
		t.Errorf("explicit fentry on a preempt=%s kernel did not say before counting that it can be short:\n%s", model, out)
	}
	if fe.Totals.Lost+lostMisses != kernelLost {
		t.Errorf("fentry: lost %d + %d recursion misses of audit_log_lost's program != kernel lost %d", fe.Totals.Lost, lostMisses, kernelLost)
	}
	if short := fe.Overflows.RecursionMisses > 0; short != strings.Contains(out, "totals short") || short && strings.Contains(out, "totals exact") {
		t.Errorf("%d recursion misses, and the summary says:\n%s", fe.Overflows.RecursionMisses, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "totals short") {
			t.Logf("fentry's summary: %s", l)
		}
	}

	// (b) and (c), recorded with --attach auto: kprobes, nothing skipped.
	for _, name := range []string{"b", "c"} {
		p := g.profile(name)
		t.Logf("(%s) attach %s; recursion misses %d, returns missed %d", name, p.Attach, p.Overflows.RecursionMisses, p.Overflows.ReturnsMissed)
		if rc := g.exitCode(name); rc != 0 {
			t.Errorf("(%s) record exited %d:\n%s", name, rc, g.sections[name+".out"])
		}
		if p.Attach != profile.AttachKprobe || p.Overflows.RecursionMisses != 0 || p.Overflows.ReturnsMissed != 0 {
			t.Errorf("(%s) --attach auto on a preempt=%s kernel: attach %s (note %q), recursion misses %v, returns missed %d; want kprobe and none",
				name, model, p.Attach, p.AttachNote, misses(p), p.Overflows.ReturnsMissed)
		}
	}
	checkOverloadWait(t, g)
	checkRules(t, g, "x86_64")
}

// misses is each program's recursion misses, for those that had any.
func misses(p *profile.Profile) map[string]uint64 {
	m := map[string]uint64{}
	for _, pr := range p.Programs {
		if pr.RecursionMisses > 0 {
			m[pr.Name] = pr.RecursionMisses
		}
	}
	return m
}
