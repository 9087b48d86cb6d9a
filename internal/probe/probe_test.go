package probe

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

func kallsymsOrSkip(t *testing.T) map[string]uint64 {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	syms, _, err := kernelSymbols()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := syms["audit_log_start"]; !ok {
		t.Skip("kernel without CONFIG_AUDIT")
	}
	return syms
}

// TestKprobeVariantLoads puts the kprobe programs through the verifier of
// the kernel running the tests (attaching is proven in the VM tests), with
// the per-call state in task storage and in the pre-5.12 fallback hash.
func TestKprobeVariantLoads(t *testing.T) {
	syms := kallsymsOrSkip(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		state string
		enq   enqueueHook
	}{{TaskStateStorage, enqueueLogEnd}, {TaskStateStorage, enqueueQueueTail}, {TaskStateHash, enqueueLogEnd}, {TaskStateHash, enqueueQueueTail}} {
		state := v.state
		t.Run(fmt.Sprintf("%s/%s", state, enqueueName(v.enq)), func(t *testing.T) {
			opts := Options{TaskState: state}
			opts.defaults()
			spec, points, err := collectionSpec(opts, ModeKprobe, syms, v.enq)
			if err != nil {
				t.Fatal(err)
			}
			checkEnqueuePrograms(t, spec, points, ModeKprobe, v.enq)
			for name, p := range spec.Programs {
				// The consumer's program is a BTF tracepoint in both families.
				if name != consumerProgram && p.Type != ebpf.Kprobe {
					t.Errorf("%s has type %s in the kprobe family", name, p.Type)
				}
			}
			if len(points) != len(spec.Programs) {
				t.Errorf("%d attach points, %d programs", len(points), len(spec.Programs))
			}
			if got := spec.Maps["task_states"].Type == ebpf.TaskStorage; got != (state == TaskStateStorage) {
				t.Errorf("task_states is a %s map with task state %s", spec.Maps["task_states"].Type, state)
			}
			coll, err := ebpf.NewCollection(spec)
			if err != nil {
				t.Fatalf("kprobe variant rejected: %v", unwrapVerifier(err))
			}
			coll.Close()
		})
	}
	opts := Options{TaskState: "disk"}
	opts.defaults()
	if _, _, err := collectionSpec(opts, ModeKprobe, syms, enqueueQueueTail); err == nil {
		t.Error("an unknown task state was accepted")
	}
}

// TestFentryVariantSpec checks that the fentry family has one program per
// declared point and nothing of the kprobe family.
func TestFentryVariantSpec(t *testing.T) {
	syms := kallsymsOrSkip(t)
	opts := Options{}
	opts.defaults()
	for _, enq := range []enqueueHook{enqueueLogEnd, enqueueQueueTail} {
		spec, points, err := collectionSpec(opts, ModeFentry, syms, enq)
		if err != nil {
			t.Fatal(err)
		}
		checkEnqueuePrograms(t, spec, points, ModeFentry, enq)
		checkFentrySpec(t, spec, points)
	}
}

// enqueueName names an enqueue hook by its attach point, for test names.
func enqueueName(e enqueueHook) string {
	if e == enqueueLogEnd {
		return "audit_log_end"
	}
	return "skb_queue_tail"
}

// checkEnqueuePrograms: the spec and the attach points hold the chosen
// enqueue hook's programs and none of the other's, so that the profile's
// attach_points say which ran.
func checkEnqueuePrograms(t *testing.T, spec *ebpf.CollectionSpec, points []profile.AttachPoint, mode Mode, enq enqueueHook) {
	t.Helper()
	for _, ap := range attachPoints {
		if ap.Enqueue == enqueueAny {
			continue
		}
		name := progName(mode, !ap.Entry, ap.Symbol)
		listed := false
		for _, pt := range points {
			listed = listed || pt.Symbol == ap.Symbol
		}
		if inSpec := spec.Programs[name] != nil; inSpec != (ap.Enqueue == enq) || listed != (ap.Enqueue == enq) {
			t.Errorf("enqueue at %s: %s in the spec %v, in the attach points %v", enqueueName(enq), name, inSpec, listed)
		}
	}
	v := spec.Variables["enqueue_at_log_end"]
	var got bool
	if err := v.Get(&got); err != nil {
		t.Fatal(err)
	}
	if got != (enq == enqueueLogEnd) {
		t.Errorf("enqueue_at_log_end %v with the enqueue at %s", got, enqueueName(enq))
	}
	// kauditd_send_queue's exit: only with skb_queue_tail, or where an
	// error hook is missing (these specs are made without the consumer's
	// sched_switch program).
	hooks := 0
	for _, pt := range points {
		if (pt.Symbol == "kauditd_hold_skb" || pt.Symbol == "kauditd_retry_skb") && pt.Error == "" && spec.Programs[pt.Program] != nil {
			hooks++
		}
	}
	// Entry and exit of both hooks.
	wantExit := enq == enqueueQueueTail || hooks < 4
	exit := progName(mode, true, "kauditd_send_queue")
	if inSpec := spec.Programs[exit] != nil; inSpec != wantExit {
		t.Errorf("enqueue at %s, %d hook programs: %s in the spec %v", enqueueName(enq), hooks, exit, inSpec)
	}
	if err := spec.Variables["send_exit"].Get(&got); err != nil {
		t.Fatal(err)
	}
	if got != wantExit {
		t.Errorf("send_exit %v with the enqueue at %s, %d hook programs", got, enqueueName(enq), hooks)
	}
}

// TestSendExit: kauditd_send_queue's exit program is needed with the
// enqueue on skb_queue_tail, for the consumer's sched_switch program, or
// where an error hook is missing (the drain is counted at them without it).
func TestSendExit(t *testing.T) {
	for _, c := range []struct {
		enq   enqueueHook
		sched bool
		hooks bool
		want  bool
	}{
		{enqueueLogEnd, false, true, false}, {enqueueLogEnd, true, true, true},
		{enqueueQueueTail, false, true, true}, {enqueueQueueTail, true, true, true},
		{enqueueLogEnd, false, false, true}, {enqueueQueueTail, false, false, true},
	} {
		if got := sendExit(c.enq, Options{SchedSwitch: c.sched}, c.hooks); got != c.want {
			t.Errorf("sendExit(%s, SchedSwitch %v, hooks %v) = %v", enqueueName(c.enq), c.sched, c.hooks, got)
		}
	}
}

// TestStartEntry: audit_log_start's entry program is needed with kprobes,
// and with fentry where what replaces it cannot be used (no
// audit_backlog_wait address, either function missing from BTF, or the
// enqueue on skb_queue_tail).
func TestStartEntry(t *testing.T) {
	all := func(string) bool { return true }
	noReceive := func(s string) bool { return s != "audit_receive" }
	noJoin := func(s string) bool { return s != "add_wait_queue_exclusive" }
	addr := map[string]uint64{"audit_backlog_wait": 0xffffffff81000000}
	for _, c := range []struct {
		mode Mode
		syms map[string]uint64
		have func(string) bool
		enq  enqueueHook
		want bool
	}{
		{ModeFentry, addr, all, enqueueLogEnd, false},
		{ModeKprobe, addr, all, enqueueLogEnd, true},
		{ModeFentry, map[string]uint64{}, all, enqueueLogEnd, true},
		{ModeFentry, addr, noReceive, enqueueLogEnd, true},
		{ModeFentry, addr, noJoin, enqueueLogEnd, true},
		{ModeFentry, addr, all, enqueueQueueTail, true},
	} {
		if got := startEntry(c.mode, c.syms, c.have, c.enq); got != c.want {
			t.Errorf("startEntry(%s, audit_backlog_wait %#x, audit_receive %v, add_wait_queue_exclusive %v, enqueue at %s) = %v",
				c.mode, c.syms["audit_backlog_wait"], c.have("audit_receive"), c.have("add_wait_queue_exclusive"), enqueueName(c.enq), got)
		}
	}
}

func checkFentrySpec(t *testing.T, spec *ebpf.CollectionSpec, points []profile.AttachPoint) {
	t.Helper()
	for _, pt := range points {
		p := spec.Programs[pt.Program]
		if p == nil {
			t.Errorf("no program %s", pt.Program)
			continue
		}
		if p.Type != ebpf.Tracing || p.AttachTo != pt.Symbol {
			t.Errorf("%s: type %s attach to %q, want tracing on %s", pt.Program, p.Type, p.AttachTo, pt.Symbol)
		}
	}
	if len(spec.Programs) != len(points) {
		t.Errorf("%d programs for %d points", len(spec.Programs), len(points))
	}
}

// TestOpenDegrades: on a kernel where neither family can attach (like the
// development machine: no CONFIG_KPROBES, fentry refused) Open must say so
// with ErrNoAttach, naming why for each family, and leave nothing behind.
func TestOpenDegrades(t *testing.T) {
	kallsymsOrSkip(t)
	if probeMode(ModeFentry) == nil || probeMode(ModeKprobe) == nil {
		t.Skip("this kernel can attach; the VM tests cover that path")
	}
	p, err := Open(Options{Mode: ModeAuto})
	if err == nil {
		p.Close()
		t.Fatal("Open succeeded on a kernel where the probes failed")
	}
	if !errors.Is(err, ErrNoAttach) {
		t.Fatalf("Open: %v, want ErrNoAttach", err)
	}
	t.Logf("degraded: %v", err)
}

// TestPlanAttach: auto mode tries kprobes first where the kernel preempts
// kernel code and says why; an unknown model keeps fentry first with a
// caveat; an explicit fentry is kept with a warning.
func TestPlanAttach(t *testing.T) {
	full := kernel.Preemption{Model: kernel.PreemptFull, Source: "/sys/kernel/debug/sched/preempt"}
	rt := kernel.Preemption{Model: kernel.PreemptRT, Source: "/sys/kernel/realtime"}
	vol := kernel.Preemption{Model: kernel.PreemptVoluntary, Source: "/sys/kernel/debug/sched/preempt"}
	unk := kernel.Preemption{Model: kernel.PreemptUnknown, Source: "nothing could be read"}
	cases := []struct {
		name   string
		req    Mode
		pre    kernel.Preemption
		modes  []Mode
		why    []string
		fentry []string // in the caveat when fentry is used
		kprobe []string
	}{
		{name: "auto, full", req: ModeAuto, pre: full, modes: []Mode{ModeKprobe, ModeFentry},
			why:    []string{"kprobe: this kernel preempts kernel code (preempt=full, from /sys/kernel/debug/sched/preempt)", "recursion misses", "totals would be short"},
			fentry: []string{"recursion misses", "summary says by how much"}},
		{name: "auto, rt", req: ModeAuto, pre: rt, modes: []Mode{ModeKprobe, ModeFentry},
			why: []string{"preempt=rt, from /sys/kernel/realtime"}, fentry: []string{"short"}},
		{name: "auto, voluntary", req: ModeAuto, pre: vol, modes: []Mode{ModeFentry, ModeKprobe}},
		{name: "auto, unknown", req: ModeAuto, pre: unk, modes: []Mode{ModeFentry, ModeKprobe},
			fentry: []string{"exact only if the kernel does not preempt kernel code", "nothing could be read", "--attach kprobe is exact"}},
		{name: "fentry, full", req: ModeFentry, pre: full, modes: []Mode{ModeFentry},
			fentry: []string{"fentry as asked", "preempt=full", "totals would be short", "--attach kprobe is exact"}},
		{name: "fentry, voluntary", req: ModeFentry, pre: vol, modes: []Mode{ModeFentry}},
		{name: "fentry, unknown", req: ModeFentry, pre: unk, modes: []Mode{ModeFentry}, fentry: []string{"exact only if"}},
		{name: "kprobe, full", req: ModeKprobe, pre: full, modes: []Mode{ModeKprobe}},
	}
	has := func(t *testing.T, what, s string, want []string) {
		t.Helper()
		if len(want) == 0 && s != "" {
			t.Errorf("%s = %q, want none", what, s)
		}
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s = %q, want it to say %q", what, s, w)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl := planAttach(c.req, c.pre)
			if !reflect.DeepEqual(pl.modes, c.modes) {
				t.Errorf("modes = %v, want %v", pl.modes, c.modes)
			}
			has(t, "why", pl.why, c.why)
			has(t, "fentry caveat", pl.caveat[ModeFentry], c.fentry)
			has(t, "kprobe caveat", pl.caveat[ModeKprobe], c.kprobe)
		})
	}
}
