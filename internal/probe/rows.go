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

// batchRows is how many rows one batch lookup reads: 256 rows of the
// largest attribution value (progs, 184 bytes) is 47 KB.
const batchRows = 256

// slotRow is one row of an attribution array, with its slot.
type slotRow[V any] struct {
	slot uint32
	v    V
}

// readRows returns the rows of an attribution array (arr: procs, progs,
// rules, rule_progs) that counted something (counted), in slot order.
//
// Where the kernel has batch lookups on arrays it reads the whole array,
// batchRows rows a syscall: a full process table (4,098 rows) in 17
// syscalls. Before, a read walked the slot hash (two syscalls a key) and
// looked up each slot it named: about 12,000 syscalls for that table, at
// every snapshot of `top` and of the exporter (issue 14: read in batches,
// one syscall, not one per entry). Array maps have BPF_MAP_LOOKUP_BATCH
// since 5.6 (generic_map_lookup_batch, Brian Vazquez's batch series);
// where cilium/ebpf reports it missing (ebpf.ErrNotSupported) the read
// falls back, for this and every later read, to the slot hash (slots) and
// one lookup per slot it names, plus the reserved slots.
//
// Rows the slot hash does not name are claims a racing CPU lost (slot_for):
// their key was written but nothing was counted in them, so counted drops
// them, as it drops reserved rows that stayed empty.
func readRows[K, V any](p *Probe, arr, slots *ebpf.Map, counted func(*V) bool, reserved ...uint32) ([]slotRow[V], error) {
	if !p.noBatch.Load() {
		rows, err := lookupBatches[V](arr, counted)
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return rows, err
		}
		p.noBatch.Store(true)
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
		return nil, err
	}
	slices.Sort(in)
	var rows []slotRow[V]
	for _, s := range slices.Compact(in) {
		var v V
		if err := arr.Lookup(s, &v); err != nil {
			return nil, fmt.Errorf("slot %d: %w", s, err)
		}
		if counted(&v) {
			rows = append(rows, slotRow[V]{s, v})
		}
	}
	return rows, nil
}

// lookupBatches reads every row of an array map in batches and keeps those
// counted says to.
func lookupBatches[V any](arr *ebpf.Map, counted func(*V) bool) ([]slotRow[V], error) {
	n := int(arr.MaxEntries())
	keys := make([]uint32, min(batchRows, n))
	vals := make([]V, len(keys))
	var rows []slotRow[V]
	var cursor ebpf.MapBatchCursor
	for read := 0; read < n; {
		c, err := arr.BatchLookup(&cursor, keys[:min(len(keys), n-read)], vals[:min(len(keys), n-read)], nil)
		for i := range c {
			if counted(&vals[i]) {
				rows = append(rows, slotRow[V]{keys[i], vals[i]})
			}
		}
		read += c
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break // the array's end
		}
		if err != nil {
			return nil, err
		}
		if c == 0 {
			return nil, fmt.Errorf("batch lookup read nothing at row %d of %d", read, n)
		}
	}
	return rows, nil
}

// sumPerCPU returns each slot of a per-CPU array of counters summed over
// the CPUs: in one batch lookup where the kernel has them (see readRows),
// else one lookup per slot.
func (p *Probe) sumPerCPU(m *ebpf.Map) ([]uint64, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	n := int(m.MaxEntries())
	sums := make([]uint64, n)
	if !p.noBatch.Load() {
		keys, per := make([]uint32, n), make([]uint64, n*ncpu)
		var cursor ebpf.MapBatchCursor
		c, err := m.BatchLookup(&cursor, keys, per, nil)
		switch {
		case errors.Is(err, ebpf.ErrNotSupported):
			p.noBatch.Store(true)
		case err != nil && !errors.Is(err, ebpf.ErrKeyNotExist):
			return nil, err
		case c != n:
			return nil, fmt.Errorf("batch lookup read %d of %d slots", c, n)
		default:
			for i, k := range keys {
				for _, v := range per[i*ncpu : (i+1)*ncpu] {
					sums[k] += v
				}
			}
			return sums, nil
		}
	}
	var per []uint64
	for slot := range uint32(n) {
		if err := m.Lookup(slot, &per); err != nil {
			return nil, fmt.Errorf("slot %d: %w", slot, err)
		}
		for _, v := range per {
			sums[slot] += v
		}
	}
	return sums, nil
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
// starts at the key after in_batch, at slot 0 without one). Past the
// array's end the kernel stops with ENOENT, which is not an error here.
// A kernel without batch lookups answers EINVAL (before 5.6: no such
// command) or ENOTSUPP (no batch op for the map type).
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
	if errno != 0 && errno != unix.ENOENT {
		return int(attr.count), errno
	}
	return int(attr.count), nil
}

// errnoENOTSUPP is the kernel's internal ENOTSUPP (524), which the bpf
// syscall returns for a map type without the batch op.
const errnoENOTSUPP = unix.Errno(524)

// noBatchSupport says whether err is a kernel's answer that it has no
// batch lookup (see lookupFrom).
func noBatchSupport(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, errnoENOTSUPP) || errors.Is(err, unix.EOPNOTSUPP)
}
