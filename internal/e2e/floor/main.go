package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// hooks are auditprof's attach points (internal/probe's attachPoints) with
// the exit side where auditprof has one.
var hooks = []struct {
	symbol string
	exit   bool
}{
	{"audit_log_start", true},
	{"audit_log_lost", false},
	{"skb_queue_tail", false},
	{"schedule_timeout", true},
	{"kauditd_send_queue", true},
	{"kauditd_hold_skb", true},
}

func main() {
	mode := flag.String("mode", "fentry", "fentry or kprobe")
	ready := flag.String("ready-file", "", "written once every program is attached")
	flag.Parse()
	if err := run(*mode, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(mode, ready string) error {
	entry, exit := "fentry_", "fexit_"
	switch mode {
	case "fentry":
	case "kprobe":
		entry, exit = "kprobe_", "kretprobe_"
	default:
		return fmt.Errorf("unknown mode %q: fentry or kprobe", mode)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("removing the memlock limit: %w", err)
	}
	spec, err := loadFloor()
	if err != nil {
		return fmt.Errorf("loading the spec: %w", err)
	}
	// The other family is removed before load, as auditprof does.
	for name := range spec.Programs {
		if !strings.HasPrefix(name, entry) && !strings.HasPrefix(name, exit) {
			delete(spec.Programs, name)
		}
	}
	var objs struct {
		Runs *ebpf.Map `ebpf:"runs"`
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return fmt.Errorf("loading the programs: %w", err)
	}
	defer coll.Close()
	if err := coll.Assign(&objs); err != nil {
		return fmt.Errorf("assigning the map: %w", err)
	}
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, h := range hooks {
		names := []string{entry + h.symbol}
		if h.exit {
			names = append(names, exit+h.symbol)
		}
		for _, name := range names {
			prog := coll.Programs[name]
			if prog == nil {
				return fmt.Errorf("attaching %s: no such program", name)
			}
			var l link.Link
			switch {
			case mode == "fentry":
				l, err = link.AttachTracing(link.TracingOptions{Program: prog})
			case strings.HasPrefix(name, "kretprobe_"):
				// auditprof's maxactive, so that both pay the same.
				l, err = link.Kretprobe(h.symbol, prog, &link.KprobeOptions{RetprobeMaxActive: 4096, TraceFSPrefix: "floor"})
			default:
				l, err = link.Kprobe(h.symbol, prog, nil)
			}
			if err != nil {
				return fmt.Errorf("attaching %s: %w", name, err)
			}
			links = append(links, l)
		}
	}
	if ready != "" {
		if err := os.WriteFile(ready, []byte("ready\n"), 0o644); err != nil {
			return fmt.Errorf("writing the ready file: %w", err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return report(objs.Runs)
}

// report prints each slot's runs, summed over CPUs, so that a round can be
// checked to have run the programs at all.
func report(m *ebpf.Map) error {
	var (
		key  uint32
		vals []uint64
		out  []string
	)
	iter := m.Iterate()
	for iter.Next(&key, &vals) {
		var n uint64
		for _, v := range vals {
			n += v
		}
		out = append(out, fmt.Sprintf("slot %d: %d runs", key, n))
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("reading the run counts: %w", err)
	}
	if len(out) == 0 {
		return errors.New("reading the run counts: empty map")
	}
	sort.Strings(out)
	fmt.Println(strings.Join(out, "\n"))
	return nil
}
