package probe

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/auditprof/auditprof/internal/kernel"
)

// Choosing the program family and attaching one program: which family a
// kernel gets (planAttach), whether it can attach at all (probeMode), and
// the attachment itself (attach).

// preemptionModel is kernel.PreemptionModel, a variable for tests.
var preemptionModel = kernel.PreemptionModel

// unknownNote is the caveat of fentry where the preemption model could not
// be read.
func unknownNote(pre kernel.Preemption) string {
	return "fentry's totals are exact only if the kernel does not preempt kernel code, which could not be told here (" +
		pre.Source + "); --attach kprobe is exact either way"
}

// attachPlan is the order in which Open tries the program families, why
// (when auto mode does not start with fentry), and what to say about the
// family finally used.
type attachPlan struct {
	modes  []Mode
	why    string
	caveat map[Mode]string
}

// planAttach orders the families for the requested mode. fentry/fexit
// programs run in BPF trampolines with preemption enabled: on a kernel
// that preempts kernel code (preempt=full or lazy, PREEMPT_RT) a program
// preempted mid-run makes the kernel skip another task's run of it on that
// CPU (counted in its recursion_misses), and the totals fall short of the
// kernel's. kprobe handlers run with preemption disabled and miss nothing.
// So auto mode tries kprobes first there; elsewhere fentry first (cheaper).
func planAttach(req Mode, pre kernel.Preemption) attachPlan {
	short := fmt.Sprintf("this kernel preempts kernel code (%s); fentry programs can be skipped there (recursion misses) and the totals would be short", pre)
	switch req {
	case ModeAuto:
		if pre.Preemptible() {
			return attachPlan{modes: []Mode{ModeKprobe, ModeFentry}, why: "kprobe: " + short,
				caveat: map[Mode]string{ModeFentry: "fentry used although this kernel preempts kernel code: totals can be short by the programs' recursion misses (the summary says by how much)"}}
		}
		pl := attachPlan{modes: []Mode{ModeFentry, ModeKprobe}}
		if pre.Model == kernel.PreemptUnknown {
			pl.caveat = map[Mode]string{ModeFentry: unknownNote(pre)}
		}
		return pl
	case ModeFentry:
		if pre.Preemptible() {
			return attachPlan{modes: []Mode{ModeFentry}, caveat: map[Mode]string{ModeFentry: "fentry as asked, but " + short + "; --attach kprobe is exact"}}
		}
		if pre.Model == kernel.PreemptUnknown {
			return attachPlan{modes: []Mode{ModeFentry}, caveat: map[Mode]string{ModeFentry: unknownNote(pre)}}
		}
	}
	return attachPlan{modes: []Mode{req}}
}

// probeMode tries the smallest program of the family on audit_log_start:
// a program type the kernel knows is not enough (this is how lockdown or a
// kernel without CONFIG_KPROBES shows up), so it loads and attaches.
func probeMode(m Mode) error {
	spec := &ebpf.ProgramSpec{
		Name:         "auditprof_probe",
		Instructions: returnZero(),
		License:      "GPL",
	}
	switch m {
	case ModeFentry:
		spec.Type = ebpf.Tracing
		spec.AttachType = ebpf.AttachTraceFEntry
		spec.AttachTo = "audit_log_start"
	case ModeKprobe:
		spec.Type = ebpf.Kprobe
	}
	if m == ModeKprobe && !haveKprobes() {
		return errors.New("the kernel has no kprobes (CONFIG_KPROBES not set)")
	}
	prog, err := ebpf.NewProgram(spec)
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("the kernel refused to load a %s program (EPERM: lockdown or a security policy)", m)
	}
	if err != nil {
		return fmt.Errorf("loading a %s program: %w", m, unwrapVerifier(err))
	}
	defer prog.Close()
	var l link.Link
	switch m {
	case ModeFentry:
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	case ModeKprobe:
		l, err = link.Kprobe("audit_log_start", prog, nil)
	}
	if err != nil {
		return fmt.Errorf("attaching to audit_log_start: %w", err)
	}
	return l.Close()
}

// attach attaches one program. The note, when not empty, says how the
// attachment is weaker than wanted; it goes into the profile.
func attach(mode Mode, name, symbol string, prog *ebpf.Program) (link.Link, string, error) {
	switch {
	case mode == ModeFentry || name == consumerProgram:
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		return l, "", err
	case strings.HasPrefix(name, "kretprobe_"):
		// maxactive bounds how many tasks can be inside the function at
		// once and still be seen on return; producers sleeping in the
		// backlog wait are exactly such tasks. The default (about 2 per
		// CPU) is far too few; 4096 is the kernel's KRETPROBE_MAXACTIVE_MAX
		// and needs the tracefs path.
		l, err := link.Kretprobe(symbol, prog, &link.KprobeOptions{RetprobeMaxActive: 4096, TraceFSPrefix: kprobeTraceFSPrefix()})
		if err == nil {
			return l, "", nil
		}
		l, err2 := link.Kretprobe(symbol, prog, nil)
		note := fmt.Sprintf("attached with the kernel's default maxactive (tracefs path failed: %v): returns of tasks beyond that many inside %s at once are missed", err, symbol)
		return l, note, err2
	default:
		l, err := link.Kprobe(symbol, prog, nil)
		return l, "", err
	}
}

// haveKprobes reports whether the kernel can create kprobes: through the
// perf PMU (4.17+) or tracefs.
func haveKprobes() bool {
	for _, f := range []string{"/sys/bus/event_source/devices/kprobe", "/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}

func returnZero() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
}
