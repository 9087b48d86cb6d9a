package probe

import (
	"os/exec"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestConsumerSleep watches a process as if it were auditd where the
// tracepoint attaches (the development machine's kernel refuses kprobes
// and fentry, not tp_btf): `sleep 1` must show about a second asleep in
// its sleeping syscall and a little on CPU, and nothing else.
func TestConsumerSleep(t *testing.T) {
	syms := kallsymsOrSkip(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	opts := Options{SchedSwitch: true}
	opts.defaults()
	spec, points, err := collectionSpec(opts, ModeKprobe, syms, enqueueQueueTail)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("loading: %v", unwrapVerifier(err))
	}
	defer coll.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[consumerProgram]})
	if err != nil {
		t.Skipf("tp_btf/sched_switch does not attach here: %v", err)
	}
	defer l.Close()
	for i := range points {
		points[i].Attached = points[i].Program == consumerProgram
	}
	p := &Probe{opts: opts, coll: coll, points: points}

	// The process goes to sleep only once it is watched: a `sleep 1`
	// started at once was asleep before counting began on a loaded host
	// (a make test's VMs alongside), and only its exit was seen. It waits
	// on its stdin first, then becomes `sleep 1` (the same pid).
	cmd := exec.Command("sh", "-c", "read go && exec sleep 1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	if err := p.SetConsumer(uint32(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	if err := p.setCounting(true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := p.setCounting(false); err != nil {
		t.Fatal(err)
	}
	watched := time.Since(start)
	var prof profile.Profile
	tot, err := p.Totals()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.fillConsumer(&prof, tot); err != nil {
		t.Fatal(err)
	}
	c := prof.Consumer
	if c == nil || len(c.Threads) != 1 || !c.Threads[0].Main {
		t.Fatalf("consumer %+v", c)
	}
	th := c.Threads[0]
	t.Logf("thread %+v, watched %v", th, watched)
	if len(th.Syscalls) == 0 || th.Syscalls[0].Name != "clock_nanosleep" && th.Syscalls[0].Name != "nanosleep" {
		t.Fatalf("longest sleep not in nanosleep: %+v", th.Syscalls)
	}
	if ns := th.Syscalls[0].Ns; ns < uint64(900*time.Millisecond) || ns > uint64(watched) {
		t.Errorf("asleep %v in %s, watched %v", time.Duration(ns), th.Syscalls[0].Name, watched)
	}
	if th.WatchedNs() > uint64(watched) {
		t.Errorf("thread watched %v, more than the %v counted", time.Duration(th.WatchedNs()), watched)
	}
}

// TestConsumerProgramOptIn: without Options.SchedSwitch the sched_switch
// program is neither in the spec nor among the attach points, and the rest
// loads (the kprobe family passes the verifier here); with it, both.
func TestConsumerProgramOptIn(t *testing.T) {
	syms := kallsymsOrSkip(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		opts := Options{SchedSwitch: on}
		opts.defaults()
		spec, points, err := collectionSpec(opts, ModeKprobe, syms, enqueueQueueTail)
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, pt := range points {
			listed = listed || pt.Program == consumerProgram
		}
		if _, inSpec := spec.Programs[consumerProgram]; inSpec != on || listed != on {
			t.Errorf("SchedSwitch %v: %s in the spec %v, among the attach points %v", on, consumerProgram, inSpec, listed)
		}
		for _, name := range []string{"kprobe_kauditd_send_queue", "kretprobe_kauditd_send_queue"} {
			if spec.Programs[name] == nil {
				t.Errorf("SchedSwitch %v: %s not in the spec", on, name)
			}
		}
		coll, err := ebpf.NewCollection(spec)
		if err != nil {
			t.Fatalf("SchedSwitch %v: loading: %v", on, unwrapVerifier(err))
		}
		coll.Close()
	}
}
