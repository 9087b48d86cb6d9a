package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// hook is an attach point, with its exit side if exit (and its entry side
// unless noEntry).
type hook struct {
	symbol  string
	exit    bool
	noEntry bool
}

// hookSets are the sets -set chooses. old (the default) is auditprof's old
// attach points (internal/probe's attachPoints before issue 14) with the
// exit side where auditprof had one. S0 is auditprof's hook set on 6.1 and
// 6.12 with kprobes (enqueue at audit_log_end), and was with fentry until
// audit_log_start's entry was left out there (S5 now); S1, S2 and S3 are issue 14's
// candidate designs (one hook, two hooks at the end, two at the start).
// S4, S5 and S6 are S0 less one per-record cost each (fromS0): S4 hooks
// kauditd_send_multicast_skb, the main pass's skb_hook (once a record
// kauditd takes off audit_queue), instead of kauditd_send_queue (once a
// pass: 6.1's kauditd makes three a wake, about a wake a record); S5 drops
// audit_log_start's entry (its exit alone) and adds the two hooks that
// replace it (a backlog wait's join, audit_receive's exit: not a record's),
// fentry's set since; S6 both.
var hookSets = map[string][]hook{
	"old": {
		{symbol: "audit_log_start", exit: true},
		{symbol: "audit_log_lost"},
		{symbol: "skb_queue_tail"},
		{symbol: "schedule_timeout", exit: true},
		{symbol: "kauditd_send_queue", exit: true},
		{symbol: "kauditd_hold_skb", exit: true},
	},
	"S0": {
		{symbol: "audit_log_start", exit: true},
		{symbol: "audit_log_end"},
		{symbol: "netlink_unicast", exit: true, noEntry: true},
		{symbol: "kauditd_send_queue"},
		{symbol: "schedule_timeout", exit: true},
		{symbol: "audit_log_lost"},
	},
	"S1": {
		{symbol: "audit_log_end"},
	},
	"S2": {
		{symbol: "audit_log_end"},
		{symbol: "netlink_unicast", exit: true, noEntry: true},
	},
	"S3": {
		{symbol: "audit_log_start", exit: true, noEntry: true},
		{symbol: "netlink_unicast", exit: true, noEntry: true},
	},
}

func init() {
	multicast := func(h hook) hook {
		if h.symbol == "kauditd_send_queue" {
			h.symbol = "kauditd_send_multicast_skb"
		}
		return h
	}
	exitAlone := func(h hook) hook {
		if h.symbol == "audit_log_start" {
			h.noEntry = true
		}
		return h
	}
	join := []hook{{symbol: "add_wait_queue_exclusive"}, {symbol: "audit_receive", exit: true, noEntry: true}}
	hookSets["S4"] = fromS0(multicast)
	hookSets["S5"] = append(fromS0(exitAlone), join...)
	hookSets["S6"] = append(fromS0(func(h hook) hook { return exitAlone(multicast(h)) }), join...)
}

// fromS0 is S0 with each hook changed by change.
func fromS0(change func(hook) hook) []hook {
	var set []hook
	for _, h := range hookSets["S0"] {
		set = append(set, change(h))
	}
	return set
}

func main() {
	mode := flag.String("mode", "fentry", "fentry or kprobe")
	set := flag.String("set", "old", "the hooks: old (the default), S0 to S6")
	ready := flag.String("ready-file", "", "written once every program is attached")
	flag.Parse()
	if err := run(*mode, *set, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(mode, set, ready string) error {
	entry, exit := "fentry_", "fexit_"
	switch mode {
	case "fentry":
	case "kprobe":
		entry, exit = "kprobe_", "kretprobe_"
	default:
		return fmt.Errorf("unknown mode %q: fentry or kprobe", mode)
	}
	hooks, ok := hookSets[set]
	if !ok {
		return fmt.Errorf("unknown set %q: old, S0 to S6", set)
	}
	// The programs the set attaches, in attach order.
	var attach []string
	for _, h := range hooks {
		if !h.noEntry {
			attach = append(attach, entry+h.symbol)
		}
		if h.exit {
			attach = append(attach, exit+h.symbol)
		}
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("removing the memlock limit: %w", err)
	}
	spec, err := loadFloor()
	if err != nil {
		return fmt.Errorf("loading the spec: %w", err)
	}
	// The other family, and the programs the set does not attach, are
	// removed before load, as auditprof does.
	for name := range spec.Programs {
		if !slices.Contains(attach, name) {
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
	for _, name := range attach {
		prog := coll.Programs[name]
		if prog == nil {
			return fmt.Errorf("attaching %s: no such program", name)
		}
		symbol := name[strings.Index(name, "_")+1:]
		var l link.Link
		switch {
		case mode == "fentry":
			l, err = link.AttachTracing(link.TracingOptions{Program: prog})
		case strings.HasPrefix(name, "kretprobe_"):
			// auditprof's maxactive, so that both pay the same.
			l, err = link.Kretprobe(symbol, prog, &link.KprobeOptions{RetprobeMaxActive: 4096, TraceFSPrefix: "floor"})
		default:
			l, err = link.Kprobe(symbol, prog, nil)
		}
		if err != nil {
			return fmt.Errorf("attaching %s: %w", name, err)
		}
		links = append(links, l)
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
