package probe

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// TestMapMemory logs the attribution maps' sizes at the defaults: key and
// value bytes times max_entries from the spec, and, where the running
// kernel lets a map be made, what it charges for it (fdinfo's memlock,
// the kernel's own estimate since 6.4, per-element headers and per-CPU
// free lists included). docs/profile.md quotes them.
func TestMapMemory(t *testing.T) {
	spec, err := loadBacklog()
	if err != nil {
		t.Fatal(err)
	}
	canCreate := rlimit.RemoveMemlock() == nil
	var total, totalKernel uint64
	for _, name := range []string{"proc_slots", "procs", "prog_slots", "progs", "prog_seen", "rule_slots", "rules", "rule_prog_slots", "rule_progs", "slot_claims"} {
		m := spec.Maps[name]
		b := uint64(m.KeySize+m.ValueSize) * uint64(m.MaxEntries)
		total += b
		kernel := "-"
		if canCreate {
			if n, err := memlock(m); err == nil {
				kernel = fmt.Sprint(n)
				totalKernel += n
			} else {
				kernel = err.Error()
			}
		}
		t.Logf("%-15s %-10s key %3d value %3d entries %6d: %8d bytes; the kernel charges %s", name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, b, kernel)
	}
	t.Logf("total %d bytes of keys and values; the kernel charges %d", total, totalKernel)
}

func memlock(ms *ebpf.MapSpec) (uint64, error) {
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", m.FD()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "memlock:"); ok {
			var n uint64
			_, err := fmt.Sscan(strings.TrimSpace(v), &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no memlock in fdinfo")
}
