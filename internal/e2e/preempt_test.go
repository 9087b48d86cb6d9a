package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// guestPreempt overloads the backlog at 64 twice on a kernel booted with
// preempt=full: once with --attach auto, once with an explicit fentry.
const guestPreempt = `
consumer_quota 20000
MODE=auto
overload auto 0 3
MODE=fentry
overload fentry 0 3
`

// TestPreemptFull proves auditprof on a kernel that preempts kernel code
// (Debian 6.12 cloud, a PREEMPT_DYNAMIC kernel, booted with preempt=full).
// There a fentry program can be preempted, and another task entering the
// same program on that CPU is skipped (a recursion miss): seen, fentry's
// lost fell short of the kernel's by exactly the audit_log_lost program's
// misses. So: --attach auto picks kprobes and is exact, and an explicit
// fentry says before it starts that it can be short, and then its lost
// plus its audit_log_lost program's misses is the kernel's lost, exactly,
// with the summary naming the shortfall whenever there is one.
func TestPreemptFull(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	k := kernels[len(kernels)-1]
	t.Run(k.Name, func(t *testing.T) {
		t.Parallel()
		g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, KernelArgs: []string{"preempt=full"},
			Script: guestPrelude + guestPreempt, Timeout: 25 * time.Minute})

		auto := g.profile("auto")
		kernelLost := g.delta("auto", "lost")
		t.Logf("auto: attach %s (%s); lost %d, kernel %d; recursion misses %v", auto.Attach, auto.AttachNote, auto.Totals.Lost, kernelLost, misses(auto))
		if auto.Attach != profile.AttachKprobe || !strings.Contains(auto.AttachNote, "preempt") {
			t.Errorf("--attach auto on preempt=full chose %s (note %q), want kprobe and why", auto.Attach, auto.AttachNote)
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
		t.Logf("fentry: lost %d + %d skipped runs of audit_log_lost's program, kernel %d; %d misses in all; note %q",
			fe.Totals.Lost, lostMisses, kernelLost, fe.Overflows.RecursionMisses, fe.AttachNote)
		if fe.Attach != profile.AttachFentry {
			t.Fatalf("--attach fentry attached %s", fe.Attach)
		}
		if !strings.Contains(out, "auditprof: attach: ") || !strings.Contains(fe.AttachNote, "kprobe is exact") {
			t.Errorf("explicit fentry on preempt=full did not say before counting that it can be short:\n%s", out)
		}
		if fe.Totals.Lost+lostMisses != kernelLost {
			t.Errorf("fentry: lost %d + %d recursion misses of audit_log_lost's program != kernel lost %d", fe.Totals.Lost, lostMisses, kernelLost)
		}
		if short := fe.Overflows.RecursionMisses > 0; short != strings.Contains(out, "totals short") || short && strings.Contains(out, "totals exact") {
			t.Errorf("%d recursion misses, and the summary says:\n%s", fe.Overflows.RecursionMisses, out)
		}
	})
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
