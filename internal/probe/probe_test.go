package probe

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

func kallsymsOrSkip(t *testing.T) map[string]uint64 {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	syms, err := kernelSymbols()
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
	for _, state := range []string{"task-storage", "hash"} {
		t.Run(state, func(t *testing.T) {
			opts := Options{TaskState: state}
			opts.defaults()
			spec, points, err := collectionSpec(opts, ModeKprobe, syms)
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range spec.Programs {
				if p.Type != ebpf.Kprobe {
					t.Errorf("%s has type %s in the kprobe family", name, p.Type)
				}
			}
			if len(points) != len(spec.Programs) {
				t.Errorf("%d attach points, %d programs", len(points), len(spec.Programs))
			}
			if got := spec.Maps["task_states"].Type == ebpf.TaskStorage; got != (state == "task-storage") {
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
	if _, _, err := collectionSpec(opts, ModeKprobe, syms); err == nil {
		t.Error("an unknown task state was accepted")
	}
}

// TestFentryVariantSpec checks that the fentry family has one program per
// declared point and nothing of the kprobe family.
func TestFentryVariantSpec(t *testing.T) {
	syms := kallsymsOrSkip(t)
	opts := Options{}
	opts.defaults()
	spec, points, err := collectionSpec(opts, ModeFentry, syms)
	if err != nil {
		t.Fatal(err)
	}
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

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "fentry", "kprobe"} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "kprobe-multi", "FENTRY"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
}
