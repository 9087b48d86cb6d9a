// Command guestcheck runs inside the test VM and prints, one per line, the
// BPF programs, links and kprobe events left on the kernel, so the host test
// can check that auditprof left nothing attached after it exited.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func main() {
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "guestcheck: listing programs:", err)
			os.Exit(1)
		}
		id = next
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := prog.Info()
		if err == nil {
			fmt.Printf("prog %d %s\n", id, info.Name)
		}
		prog.Close()
	}
	it := new(link.Iterator)
	for it.Next() {
		fmt.Printf("link %d\n", it.ID)
	}
	if err := it.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "guestcheck: listing links:", err)
		os.Exit(1)
	}
	it.Close()
	for _, f := range []string{"/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				fmt.Printf("kprobe_event %s\n", l)
			}
		}
		break
	}
}
