package probe

import (
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
)

// specMap makes the object's map name from its own spec, closed when the
// test ends.
func specMap(tb testing.TB, name string) *ebpf.Map {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create BPF maps")
	}
	spec, err := loadBacklog()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := ebpf.NewMap(spec.Maps[name])
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// procTable makes the process table's two maps from the object's own specs
// and fills them as the programs leave them: rows the slot hash names,
// "other" (slot 0) with records, the short-lived row (slot 1) empty, and a
// row a racing CPU claimed and lost (its tgid written, not in the hash,
// nothing counted).
func procTable(t testing.TB, rows int) (procs, slots *ebpf.Map) {
	t.Helper()
	procs, slots = specMap(t, "procs"), specMap(t, "proc_slots")
	put := func(slot uint32, v backlogProcStats, hashed bool) {
		t.Helper()
		if err := procs.Put(slot, v); err != nil {
			t.Fatal(err)
		}
		if hashed {
			if err := slots.Put(v.Tgid, slot); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, backlogProcStats{Records: 7, Lost: 2}, false)
	first := uint32(backlogProcSlotPROC_SLOT_FIRST)
	for i := range uint32(rows) {
		put(first+i, backlogProcStats{Tgid: 1000 + i, Records: uint64(i) + 1, Queued: uint64(i)}, true)
	}
	put(first+uint32(rows), backlogProcStats{Tgid: 99}, false) // the lost claim
	return procs, slots
}

// TestReadRows: the batch read and the slot-hash read (kernels without
// batch lookups) return the same rows, in slot order, each row that
// counted a record and no other.
func TestReadRows(t *testing.T) {
	const rows = 600 // more than two batches
	procs, slots := procTable(t, rows)
	counted := func(v *backlogProcStats) bool { return v.Records > 0 }
	read := func(noBatch bool) []slotRow[backlogProcStats] {
		t.Helper()
		p := &Probe{}
		p.noBatch.Store(noBatch)
		got, err := readRows[uint32](p, procs, slots, counted, uint32(backlogProcSlotPROC_SLOT_SHORT))
		if err != nil {
			t.Fatalf("noBatch %v: %v", noBatch, err)
		}
		return got
	}
	batch, hash := read(false), read(true)
	if len(batch) != rows+1 {
		t.Fatalf("batch read %d rows, want %d (other and %d processes)", len(batch), rows+1, rows)
	}
	if batch[0].slot != 0 || batch[0].v.Records != 7 {
		t.Errorf("first row: slot %d records %d, want other's (slot 0, 7)", batch[0].slot, batch[0].v.Records)
	}
	for i, r := range batch[1:] {
		if want := uint32(backlogProcSlotPROC_SLOT_FIRST) + uint32(i); r.slot != want || r.v.Tgid != 1000+uint32(i) {
			t.Fatalf("row %d: slot %d tgid %d, want slot %d tgid %d", i+1, r.slot, r.v.Tgid, want, 1000+i)
		}
	}
	if !reflect.DeepEqual(batch, hash) {
		t.Errorf("the batch read and the slot-hash read differ: %d and %d rows", len(batch), len(hash))
	}
}

// BenchmarkReadRows reads a full process table (every slot in use) with
// batch lookups and through the slot hash, side by side: compare the two
// ns/op of one run.
func BenchmarkReadRows(b *testing.B) {
	probe := specMap(b, "procs") // for its size
	procs, slots := procTable(b, int(probe.MaxEntries())-int(backlogProcSlotPROC_SLOT_FIRST)-1)
	counted := func(v *backlogProcStats) bool { return v.Records > 0 }
	for _, mode := range []struct {
		name    string
		noBatch bool
	}{{"batch", false}, {"slot-hash", true}} {
		b.Run(mode.name, func(b *testing.B) {
			p := &Probe{}
			p.noBatch.Store(mode.noBatch)
			for b.Loop() {
				if _, err := readRows[uint32](p, procs, slots, counted, uint32(backlogProcSlotPROC_SLOT_SHORT)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSumPerCPU: the wait histogram summed over CPUs, read in one batch
// and slot by slot, gives each slot's sum.
func TestSumPerCPU(t *testing.T) {
	m := specMap(t, "wait_hist")
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, m.MaxEntries())
	for slot := range m.MaxEntries() {
		per := make([]uint64, ncpu)
		for c := range per {
			per[c] = uint64(slot)*10 + uint64(c)
			want[slot] += per[c]
		}
		if err := m.Put(slot, per); err != nil {
			t.Fatal(err)
		}
	}
	for _, noBatch := range []bool{false, true} {
		p := &Probe{}
		p.noBatch.Store(noBatch)
		got, err := p.sumPerCPU(m)
		if err != nil {
			t.Fatalf("noBatch %v: %v", noBatch, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("noBatch %v: %v, want %v", noBatch, got, want)
		}
	}
}

// BenchmarkTimelineRead is a busy poll (100 buckets of 10 ms) on the ring
// at its default size, with batch lookups and with
// one lookup a slot, side by side: compare the two ns/op of one run.
func BenchmarkTimelineRead(b *testing.B) {
	m := specMap(b, "timeline")
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	slots := m.MaxEntries()
	for e := range uint64(slots) {
		per := make([]backlogTlSlot, ncpu)
		per[0] = backlogTlSlot{Epoch: e, Arrivals: 3}
		if err := m.Put(uint32(e), per); err != nil {
			b.Fatal(err)
		}
	}
	for _, noBatch := range []bool{false, true} {
		b.Run(fmt.Sprintf("noBatch=%v", noBatch), func(b *testing.B) {
			r := timelineReader{m: m, bucketNs: 10, slots: slots, first: 0, next: 0, noBatch: noBatch,
				spill: func(backlogTlSlot) error { return nil }}
			for b.Loop() {
				if err := r.readUntil(r.next + 99); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
