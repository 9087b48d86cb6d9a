package probe

import (
	"testing"
)

// TestMapMemory logs the attribution maps' key and value bytes at the
// default sizes (docs/profile.md quotes them).
func TestMapMemory(t *testing.T) {
	spec, err := loadBacklog()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, name := range []string{"proc_slots", "procs", "prog_slots", "progs", "prog_seen", "rule_slots", "rules", "slot_claims"} {
		m := spec.Maps[name]
		b := uint64(m.KeySize+m.ValueSize) * uint64(m.MaxEntries)
		total += b
		t.Logf("%-12s %-10s key %3d value %3d entries %6d: %8d bytes", name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, b)
	}
	t.Logf("total %d bytes", total)
}
