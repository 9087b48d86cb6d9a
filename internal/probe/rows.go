package probe

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// batchRows is how many slots one batch lookup reads: 256 rows of the
// largest attribution value (progs, 184 bytes) is 47 KB.
const batchRows = 256

// batchSupport says which of the probe's kinds of array the kernel has
// BPF_MAP_LOOKUP_BATCH for. checkBatch decides it once per Probe, at
// load; every read of an array (readArray: the attribution tables, the
// wait histogram, the timeline ring) goes by it, and an error from a
// batch read after that is a failed read, returned, never taken for a
// missing feature.
type batchSupport struct {
	// array: BPF_MAP_TYPE_ARRAY, since 5.6 (cb4d03ab499d, "bpf: Add
	// generic support for lookup batch op": generic_map_lookup_batch,
	// wired to array_map_ops only).
	array bool
	// perCPU: BPF_MAP_TYPE_PERCPU_ARRAY, since 5.13 (f008d732ab18, "bpf:
	// Add batched ops support for percpu array"). On 5.6 to 5.12 the
	// tables are read in batches and the per-CPU arrays slot by slot.
	perCPU bool
}

// has says whether m is read in batches; a nil batchSupport: none is.
func (b *batchSupport) has(m *ebpf.Map) bool {
	if b == nil {
		return false
	}
	if m.Type() == ebpf.PerCPUArray {
		return b.perCPU
	}
	return b.array
}

// checkBatch asks the kernel once, with one known-good batch lookup (slot
// 0, one slot, a buffer of the map's value size) on a small array of the
// probe and on a per-CPU one, which kinds it has batch lookups for. Only
// the answers of a kernel without them mean "no": EINVAL (before 5.6,
// no such bpf command) and ENOTSUPP (no batch op for the map type); any
// other error is returned.
func checkBatch(array, perCPU *ebpf.Map) (batchSupport, error) {
	var b batchSupport
	for _, c := range []struct {
		m  *ebpf.Map
		ok *bool
	}{{array, &b.array}, {perCPU, &b.perCPU}} {
		size, per, err := valueLayout(c.m)
		if err != nil {
			return b, err
		}
		keys, vals := make([]uint32, 1), make([]uint64, (size*per+7)/8)
		n, err := lookupFrom(c.m, 0, keys, unsafe.Pointer(&vals[0]))
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, errnoENOTSUPP):
		case err != nil:
			return b, fmt.Errorf("checking for batch lookups on %v: %w", c.m.Type(), err)
		case n != 1:
			return b, fmt.Errorf("checking for batch lookups on %v: read %d slots of 1", c.m.Type(), n)
		default:
			*c.ok = true
		}
	}
	return b, nil
}

// errnoENOTSUPP is the kernel's internal ENOTSUPP (524), which the bpf
// syscall returns for a map type without the batch op (bpf_map_do_batch).
const errnoENOTSUPP = unix.Errno(524)

// valueLayout is how a lookup's buffer holds one slot of an array map:
// per values of size bytes, the map's value size, and for a per-CPU array
// that size rounded up to 8 for each possible CPU (bpf_map_value_size).
func valueLayout(m *ebpf.Map) (size, per int, err error) {
	if m.Type() != ebpf.PerCPUArray {
		return int(m.ValueSize()), 1, nil
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, 0, err
	}
	return (int(m.ValueSize()) + 7) &^ 7, ncpu, nil
}

// readArray reads the len(keys) slots of array map m from slot from into
// vals (a per-CPU array's slot: one value for each possible CPU), and
// their slots into keys: where batch has batch lookups for m's kind,
// batchRows slots a syscall (lookupFrom), else one lookup a slot. The
// read never leaves the array nor the buffers: vals must hold exactly the
// slots' values, their size the map's (the kernel copies the map's value
// size, whatever V is).
func readArray[V any](m *ebpf.Map, batch *batchSupport, from uint32, keys []uint32, vals []V) error {
	n := len(keys)
	if n == 0 {
		return nil
	}
	if uint64(from)+uint64(n) > uint64(m.MaxEntries()) {
		return fmt.Errorf("slots %d to %d: past the array's %d", from, uint64(from)+uint64(n)-1, m.MaxEntries())
	}
	size, per, err := valueLayout(m)
	if err != nil {
		return err
	}
	if len(vals) != n*per || int(unsafe.Sizeof(vals[0])) != size {
		return fmt.Errorf("%d values of %d bytes for %d slots of %d values of %d bytes",
			len(vals), unsafe.Sizeof(vals[0]), n, per, size)
	}
	if !batch.has(m) {
		for k := range n {
			keys[k] = from + uint32(k)
			var err error
			if m.Type() != ebpf.PerCPUArray {
				err = m.Lookup(keys[k], &vals[k])
			} else {
				err = m.Lookup(keys[k], vals[k*per:(k+1)*per])
			}
			if err != nil {
				return fmt.Errorf("looking up slot %d: %w", keys[k], err)
			}
		}
		return nil
	}
	for done := 0; done < n; {
		c := min(batchRows, n-done)
		at := from + uint32(done)
		got, err := lookupFrom(m, at, keys[done:done+c], unsafe.Pointer(&vals[done*per]))
		if err != nil {
			return fmt.Errorf("batch lookup of slots %d to %d: %w", at, int(at)+c-1, err)
		}
		if got != c || keys[done] != at {
			return fmt.Errorf("batch lookup of slots %d to %d: read %d slots from %d", at, int(at)+c-1, got, keys[done])
		}
		done += c
	}
	return nil
}

// lookupBatchAttr is union bpf_attr's batch member
// (include/uapi/linux/bpf.h): four __aligned_u64 pointers, count, map_fd,
// elem_flags, flags. The pointers are Go pointers (kept alive across the
// call); auditprof builds for 64-bit arches only.
type lookupBatchAttr struct {
	inBatch, outBatch, keys, values unsafe.Pointer
	count, mapFd                    uint32
	elemFlags, flags                uint64
}

// lookupFrom reads len(keys) consecutive slots of an array map from slot
// from (per-CPU values: len(keys) times the possible CPUs into values) in
// one BPF_MAP_LOOKUP_BATCH, and returns how many it read. cilium/ebpf's
// BatchLookup starts at the array's first slot and its cursor cannot be
// set; here in_batch is the slot before from (generic_map_lookup_batch
// starts at the key after in_batch, at slot 0 without one). The caller
// keeps the read inside the array (readArray): past its end the kernel
// stops with ENOENT, and from beyond it array_map_get_next_key starts
// again at slot 0. Every errno is returned.
func lookupFrom(m *ebpf.Map, from uint32, keys []uint32, values unsafe.Pointer) (int, error) {
	prev, out := from-1, uint32(0)
	attr := lookupBatchAttr{outBatch: unsafe.Pointer(&out), keys: unsafe.Pointer(&keys[0]), values: values,
		count: uint32(len(keys)), mapFd: uint32(m.FD())}
	if from > 0 {
		attr.inBatch = unsafe.Pointer(&prev)
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_LOOKUP_BATCH, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(keys)
	runtime.KeepAlive(&prev)
	runtime.KeepAlive(&out)
	if errno != 0 {
		return int(attr.count), errno
	}
	return int(attr.count), nil
}

// slotRow is one row of an attribution array, with its slot.
type slotRow[V any] struct {
	slot uint32
	v    V
}

// readRows returns the rows of an attribution array (arr: procs, progs,
// rules, rule_progs) that counted something (counted), in slot order.
// used bounds the slots that can hold a count (rowsUsed; the array's
// size when unknown).
//
// Where the kernel has batch lookups on arrays (p.batch) it reads slots
// 0 to used, batchRows rows a syscall: a full process table (4,098 rows)
// in 17 syscalls, an idle one in one. Before, a read walked the slot hash
// (two syscalls a key) and looked up each slot it named: about 12,000
// syscalls for that table, at every snapshot of `top` and of the exporter
// (issue 14: read in batches, one syscall, not one per entry). Without
// them (before 5.6) it still walks the slot hash (slots) and looks up
// each slot it names, plus the reserved slots.
//
// Rows the slot hash does not name are claims a racing CPU lost (slot_for):
// their key was written but nothing was counted in them, so counted drops
// them, as it drops reserved rows that stayed empty.
func readRows[K, V any](p *Probe, arr, slots *ebpf.Map, used uint32, counted func(*V) bool, reserved ...uint32) ([]slotRow[V], error) {
	var rows []slotRow[V]
	if p.batch.has(arr) {
		n := min(used, arr.MaxEntries())
		keys := make([]uint32, min(batchRows, n))
		vals := make([]V, len(keys))
		for from := uint32(0); from < n; from += uint32(len(keys)) {
			c := min(uint32(len(keys)), n-from)
			if err := readArray(arr, &p.batch, from, keys[:c], vals[:c]); err != nil {
				return nil, err
			}
			for i := range c {
				if counted(&vals[i]) {
					rows = append(rows, slotRow[V]{keys[i], vals[i]})
				}
			}
		}
		return rows, nil
	}
	in := append([]uint32{0}, reserved...)
	var k K
	var slot uint32
	it := slots.Iterate()
	for it.Next(&k, &slot) {
		if slot != 0 {
			in = append(in, slot)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("walking the slot hash: %w", err)
	}
	slices.Sort(in)
	for _, s := range slices.Compact(in) {
		var v V
		if err := arr.Lookup(s, &v); err != nil {
			return nil, fmt.Errorf("looking up slot %d: %w", s, err)
		}
		if counted(&v) {
			rows = append(rows, slotRow[V]{s, v})
		}
	}
	return rows, nil
}

// rowsUsed returns how many slots from slot 0 of an attribution array can
// hold a count (the snapshots' bound only: Fill reads every slot, see fill): the first slot at or above the table's claim hint (next:
// proc_next, rule_next, prog_next, rule_prog_next) that slot_claims does
// not hold, at most the array's size.
//
// The hint alone is not exact. slot_claim moves it with plain stores
// after its claim: a CPU that claimed slot s can store s+1 after another
// claimed s+1 and stored s+2, which moves the hint back below a row in
// use, until the next claim moves it on. But the claims themselves are
// exact, and always a prefix: a claim tries the slots from the hint up
// and takes the first free one, every slot below a value the hint ever
// held is claimed (it is only set past claimed slots), and claims are
// never released. (An insert into slot_claims fails only for a claimed
// slot: it has room for every table's slots, sizeMaps, and no program of
// auditprof's runs nested in another's insert, the hash's EBUSY.) So the first unclaimed slot at or above the hint bounds
// every claimed slot, and a row is written (slot_for's key copy, then
// counts) only after its slot was claimed; the reserved rows (slot 0, and
// the short-lived row) are below every hint's start. A slot claimed after
// this look is newer than the read, as it would be a moment later in a
// read of the whole array. The look costs one hash lookup, a few in the
// rare race.
//
// table is the array's number in slot_claims' keys (table << 32 | slot),
// backlog.h's enum claim_table, which slot_claim uses too. (The loss
// reasons' table, CLAIM_REASONS, is a handful of rows, read whole:
// fillReasons.)
func rowsUsed(arr, claims *ebpf.Map, hint uint32, table backlogClaimTable) (uint32, error) {
	var one uint8
	for ; hint < arr.MaxEntries(); hint++ {
		err := claims.Lookup(uint64(table)<<32|uint64(hint), &one)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return hint, nil
		}
		if err != nil {
			return 0, fmt.Errorf("looking up the claim of slot %d: %w", hint, err)
		}
	}
	return arr.MaxEntries(), nil
}

// tableRows reads the rows of attribution array name that counted
// something (readRows): all of them if whole, else up to its rows in use
// (rowsUsed).
func tableRows[K, V any](p *Probe, name, slots, next string, table backlogClaimTable, whole bool, counted func(*V) bool, reserved ...uint32) ([]slotRow[V], error) {
	arr := p.coll.Maps[name]
	used := arr.MaxEntries()
	if p.batch.has(arr) && !whole {
		var hint uint32
		if err := p.coll.Variables[next].Get(&hint); err != nil {
			return nil, fmt.Errorf("reading %s: %w", next, err)
		}
		var err error
		if used, err = rowsUsed(arr, p.coll.Maps["slot_claims"], hint, table); err != nil {
			return nil, err
		}
	}
	return readRows[K](p, arr, p.coll.Maps[slots], used, counted, reserved...)
}

// sumPerCPU returns each slot of a per-CPU array of counters summed over
// the CPUs, read as readArray reads it.
func (p *Probe) sumPerCPU(m *ebpf.Map) ([]uint64, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	n := int(m.MaxEntries())
	keys, per := make([]uint32, n), make([]uint64, n*ncpu)
	if err := readArray(m, &p.batch, 0, keys, per); err != nil {
		return nil, err
	}
	sums := make([]uint64, n)
	for i, k := range keys {
		for _, v := range per[i*ncpu : (i+1)*ncpu] {
			sums[k] += v
		}
	}
	return sums, nil
}
