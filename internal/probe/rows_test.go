package probe

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
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

// supported is a batchSupport of batch lookups on both kinds of array, or
// on none (the reads of a kernel before 5.6).
func supported(batch bool) *batchSupport {
	return &batchSupport{array: batch, perCPU: batch}
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
		p := &Probe{batch: *supported(!noBatch)}
		got, err := readRows[uint32](p, procs, slots, procs.MaxEntries(), counted, uint32(backlogProcSlotPROC_SLOT_SHORT))
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
// ns/op of one run. few-*: a table of 20 processes, read up to its rows in
// use (rowsUsed) and whole (as before the bound).
func BenchmarkReadRows(b *testing.B) {
	probe := specMap(b, "procs") // for its size
	procs, slots := procTable(b, int(probe.MaxEntries())-int(backlogProcSlotPROC_SLOT_FIRST)-1)
	const few = 20
	fewProcs, fewSlots := procTable(b, few)
	counted := func(v *backlogProcStats) bool { return v.Records > 0 }
	for _, mode := range []struct {
		name         string
		noBatch      bool
		procs, slots *ebpf.Map
		used         uint32
	}{
		{"batch", false, procs, slots, procs.MaxEntries()},
		{"slot-hash", true, procs, slots, procs.MaxEntries()},
		{"few-used", false, fewProcs, fewSlots, uint32(backlogProcSlotPROC_SLOT_FIRST) + few + 1},
		{"few-whole", false, fewProcs, fewSlots, fewProcs.MaxEntries()},
	} {
		b.Run(mode.name, func(b *testing.B) {
			p := &Probe{batch: *supported(!mode.noBatch)}
			for b.Loop() {
				if _, err := readRows[uint32](p, mode.procs, mode.slots, mode.used, counted, uint32(backlogProcSlotPROC_SLOT_SHORT)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// few-bound: few-used with the bound's own lookup (rowsUsed from an
	// exact hint: one slot_claims lookup, which finds no claim).
	claims := specMap(b, "slot_claims")
	b.Run("few-bound", func(b *testing.B) {
		p := &Probe{batch: *supported(true)}
		for b.Loop() {
			used, err := rowsUsed(fewProcs, claims, uint32(backlogProcSlotPROC_SLOT_FIRST)+few+1, backlogClaimTableCLAIM_PROCS)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := readRows[uint32](p, fewProcs, fewSlots, used, counted, uint32(backlogProcSlotPROC_SLOT_SHORT)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReadRowsUsed: a read up to the rows in use (rowsUsed, from a claim
// hint that lags the claims) returns what the whole array's read and the
// slot hash's return, and never reads a row above the bound.
func TestReadRowsUsed(t *testing.T) {
	const rows = 300
	procs, slots := procTable(t, rows)
	claims := specMap(t, "slot_claims")
	first := uint32(backlogProcSlotPROC_SLOT_FIRST)
	// Claimed: every process row and the lost claim above them.
	for s := first; s <= first+rows; s++ {
		if err := claims.Put(uint64(backlogClaimTableCLAIM_PROCS)<<32|uint64(s), uint8(1)); err != nil {
			t.Fatal(err)
		}
	}
	// Another table's claims above them are not this table's.
	if err := claims.Put(uint64(backlogClaimTableCLAIM_RULES)<<32|uint64(first+rows+1), uint8(1)); err != nil {
		t.Fatal(err)
	}
	used, err := rowsUsed(procs, claims, first+rows-40, backlogClaimTableCLAIM_PROCS) // a hint moved back by a race
	if err != nil {
		t.Fatal(err)
	}
	if used != first+rows+1 {
		t.Fatalf("rows in use %d, want %d", used, first+rows+1)
	}
	counted := func(v *backlogProcStats) bool { return v.Records > 0 }
	read := func(noBatch bool, used uint32) []slotRow[backlogProcStats] {
		t.Helper()
		got, err := readRows[uint32](&Probe{batch: *supported(!noBatch)}, procs, slots, used, counted,
			uint32(backlogProcSlotPROC_SLOT_SHORT))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	bounded, whole, hash := read(false, used), read(false, procs.MaxEntries()), read(true, used)
	if len(bounded) != rows+1 || !reflect.DeepEqual(bounded, whole) || !reflect.DeepEqual(bounded, hash) {
		t.Fatalf("bounded read %d rows, whole %d, slot hash %d; want %d, all equal", len(bounded), len(whole), len(hash), rows+1)
	}
	// A row above the bound is not read (no program writes one: its slot
	// is not claimed).
	if err := procs.Put(used, backlogProcStats{Tgid: 5, Records: 9}); err != nil {
		t.Fatal(err)
	}
	if got := read(false, used); !reflect.DeepEqual(got, bounded) {
		t.Errorf("the bounded read took a row above its bound: %d rows", len(got))
	}
	if got := read(false, procs.MaxEntries()); len(got) != rows+2 {
		t.Errorf("the whole read: %d rows, want %d", len(got), rows+2)
	}
}

// TestRowsUsed: the rows in use are the claims' prefix from the hint on
// (an exact hint costs one lookup), at most the array.
func TestRowsUsed(t *testing.T) {
	claims := specMap(t, "slot_claims")
	if os.Geteuid() != 0 {
		t.Skip("needs root to create BPF maps")
	}
	arr, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer arr.Close()
	for s := uint64(1); s <= 5; s++ {
		if err := claims.Put(uint64(backlogClaimTableCLAIM_RULES)<<32|s, uint8(1)); err != nil {
			t.Fatal(err)
		}
	}
	for s := uint64(1); s <= 20; s++ {
		if err := claims.Put(uint64(backlogClaimTableCLAIM_PROGS)<<32|s, uint8(1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		hint  uint32
		table backlogClaimTable
		want  uint32
	}{
		{6, backlogClaimTableCLAIM_RULES, 6},      // exact
		{3, backlogClaimTableCLAIM_RULES, 6},      // behind the claims
		{1, backlogClaimTableCLAIM_RULE_PROGS, 1}, // nothing claimed
		{4, backlogClaimTableCLAIM_PROGS, 8},      // claims past the array
		{9, backlogClaimTableCLAIM_PROGS, 8},      // a hint past it
	} {
		got, err := rowsUsed(arr, claims, c.hint, c.table)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("hint %d table %d: %d rows in use, want %d", c.hint, c.table, got, c.want)
		}
	}
}

// TestCheckBatch: this host's kernel (5.13 or later) has batch lookups on
// both kinds of array; a map the call cannot use is an error, not "no".
func TestCheckBatch(t *testing.T) {
	arr, hist := specMap(t, "rules"), specMap(t, "wait_hist")
	b, err := checkBatch(arr, hist)
	if err != nil {
		t.Fatal(err)
	}
	if !b.array || !b.perCPU {
		t.Errorf("batch lookups on arrays %v, per-CPU arrays %v: want both on this host", b.array, b.perCPU)
	}
	closed := specMap(t, "rules")
	closed.Close()
	if _, err := checkBatch(closed, hist); !errors.Is(err, unix.EBADF) {
		t.Errorf("a closed map: %v, want EBADF", err)
	}
}

// TestBatchErrors: once batch lookups are known to work, a batch read that
// fails returns its error, as a malformed call must: a closed map (bad
// fd), values of the wrong size, slots past the array, a map type without
// the batch op (ENOTSUPP, which the reads once took for "no batch
// lookups" and fell back on).
func TestBatchErrors(t *testing.T) {
	procs, slots := procTable(t, 10)
	hist := specMap(t, "wait_hist")
	p := &Probe{batch: *supported(true)}
	counted := func(v *backlogProcStats) bool { return v.Records > 0 }
	keys := make([]uint32, 4)
	if err := readArray(procs, &p.batch, 0, keys, make([]uint64, 4)); err == nil {
		t.Error("values of the wrong size: no error")
	}
	if err := readArray(procs, &p.batch, procs.MaxEntries()-2, keys, make([]backlogProcStats, 4)); err == nil {
		t.Error("slots past the array: no error")
	}
	if err := readArray(hist, &p.batch, 0, keys, make([]uint64, 4)); err == nil {
		t.Error("one value a slot of a per-CPU array: no error")
	}
	progs, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer progs.Close()
	if err := readArray(progs, &p.batch, 0, keys, make([]uint32, 4)); !errors.Is(err, errnoENOTSUPP) {
		t.Errorf("a map without the batch op: %v, want ENOTSUPP", err)
	}
	tl, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(unsafe.Sizeof(backlogTlSlot{})), MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	procs.Close()
	hist.Close()
	tl.Close()
	if _, err := readRows[uint32](p, procs, slots, procs.MaxEntries(), counted); !errors.Is(err, unix.EBADF) {
		t.Errorf("rows of a closed map: %v, want EBADF", err)
	}
	if _, err := p.sumPerCPU(hist); !errors.Is(err, unix.EBADF) {
		t.Errorf("sum of a closed map: %v, want EBADF", err)
	}
	r := timelineReader{m: tl, bucketNs: 10, slots: 8, batch: &p.batch}
	if err := r.readUntil(3); !errors.Is(err, unix.EBADF) {
		t.Errorf("timeline of a closed map: %v, want EBADF", err)
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
		p := &Probe{batch: *supported(!noBatch)}
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
			r := timelineReader{m: m, bucketNs: 10, slots: slots, first: 0, next: 0, batch: supported(!noBatch),
				spill: func(backlogTlSlot) error { return nil }}
			for b.Loop() {
				if err := r.readUntil(r.next + 99); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTableRows loads the programs (without attaching them) and reads the
// process table as fill does: from the claim hint the object declares
// (proc_next), through its slot_claims, no row above the claims.
func TestTableRows(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	opts := Options{Mode: ModeKprobe}
	opts.defaults()
	syms, clones, err := kernelSymbols()
	if err != nil {
		t.Skip(err)
	}
	spec, _, err := collectionSpec(opts, ModeKprobe, syms, kernelEnqueue(syms, clones))
	if err != nil {
		t.Skip(err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{})
	if err != nil {
		t.Skipf("loading programs: %v", err)
	}
	defer coll.Close()
	p := &Probe{coll: coll}
	if p.batch, err = checkBatch(coll.Maps["rules"], coll.Maps["wait_hist"]); err != nil {
		t.Fatal(err)
	}
	first := uint32(backlogProcSlotPROC_SLOT_FIRST)
	// Two claimed rows, the hint moved back to the first by a race, and a
	// row no claim covers.
	for _, s := range []uint32{first, first + 1} {
		if err := coll.Maps["slot_claims"].Put(uint64(backlogClaimTableCLAIM_PROCS)<<32|uint64(s), uint8(1)); err != nil {
			t.Fatal(err)
		}
		if err := coll.Maps["procs"].Put(s, backlogProcStats{Tgid: s, Records: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := coll.Maps["procs"].Put(first+5, backlogProcStats{Tgid: 5, Records: 1}); err != nil {
		t.Fatal(err)
	}
	if err := coll.Variables["proc_next"].Set(first + 1); err != nil {
		t.Fatal(err)
	}
	rows, err := tableRows[uint32](p, "procs", "proc_slots", "proc_next", backlogClaimTableCLAIM_PROCS, false,
		func(v *backlogProcStats) bool { return v.Records > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].slot != first || rows[1].slot != first+1 {
		t.Errorf("rows %v, want slots %d and %d", rows, first, first+1)
	}
	// Fill's read (whole) takes every slot, the one no claim covers too.
	rows, err = tableRows[uint32](p, "procs", "proc_slots", "proc_next", backlogClaimTableCLAIM_PROCS, true,
		func(v *backlogProcStats) bool { return v.Records > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[2].slot != first+5 {
		t.Errorf("whole: rows %v, want slots %d, %d and %d", rows, first, first+1, first+5)
	}
}
