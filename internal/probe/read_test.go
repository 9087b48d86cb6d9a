package probe

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestRuleSyscallValues: the rows the BPF keys by SYSCALL_NONE, and the
// overflow row user space labels SYSCALL_OTHER, come out as the numbers the
// profile format gives those meanings, profile.SyscallNone and
// SyscallOther (bpf2go hands the negative enum values over as uint32 bit
// patterns).
func TestRuleSyscallValues(t *testing.T) {
	for v, want := range map[backlogRuleSyscall]struct {
		value int32
		label string
	}{
		backlogRuleSyscallSYSCALL_NONE:  {profile.SyscallNone, "(not a syscall)"},
		backlogRuleSyscallSYSCALL_OTHER: {profile.SyscallOther, "(other rules)"},
		backlogRuleSyscallSYSCALL_URING: {profile.SyscallUring, "io_uring"},
	} {
		if syscallInt32(v) != want.value {
			t.Errorf("rule_syscall %d, want %d", syscallInt32(v), want.value)
		}
		if got := (profile.Rule{Syscall: syscallInt32(v)}).SyscallLabel(); got != want.label {
			t.Errorf("rule_syscall %d: label %q, want %q", syscallInt32(v), got, want.label)
		}
	}
}

// TestTimelineReader drives the reader over a real per-CPU array map, as
// the BPF programs leave it: per-CPU slots tagged with their bucket, some
// stale, some already reused for a newer bucket.
func TestTimelineReader(t *testing.T) {
	// Batch lookups (the runs of slots wrap round the ring below), and one
	// lookup a slot as on kernels without them.
	for _, noBatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("noBatch=%v", noBatch), func(t *testing.T) { testTimelineReader(t, noBatch) })
	}
}

func testTimelineReader(t *testing.T, noBatch bool) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create BPF maps")
	}
	const slots = 8
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(unsafe.Sizeof(backlogTlSlot{})), MaxEntries: slots})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	put := func(idx uint32, per []backlogTlSlot) {
		t.Helper()
		if err := m.Put(idx, per); err != nil {
			t.Fatal(err)
		}
	}
	cpus := func(vals ...backlogTlSlot) []backlogTlSlot {
		out := make([]backlogTlSlot, ncpu)
		copy(out, vals)
		return out
	}
	r := timelineReader{m: m, bucketNs: 10, slots: slots, first: 100, next: 100, batch: supported(!noBatch)}
	// Bucket 100 on two CPUs; bucket 101 untouched (stale slot from 93);
	// bucket 102 on CPU 0, but CPU 1's slot already holds 110 (overwritten).
	put(100%slots, cpus(backlogTlSlot{Epoch: 100, Arrivals: 3, Queued: 2, MaxDepth: 5, WaitJiffies: 1},
		backlogTlSlot{Epoch: 100, Arrivals: 1, Queued: 1, MaxDepth: 7}))
	put(101%slots, cpus(backlogTlSlot{Epoch: 93, Arrivals: 50}))
	put(102%slots, cpus(backlogTlSlot{Epoch: 102, Lost: 4}, backlogTlSlot{Epoch: 110, Lost: 9}))
	if err := r.readUntil(102); err != nil {
		t.Fatal(err)
	}
	tl := r.timeline(func(j uint64) uint64 { return j * 4_000_000 })
	if tl.Len() != 3 {
		t.Fatalf("%d buckets, want 3", tl.Len())
	}
	if tl.Dense().Arrivals[0] != 4 || tl.Dense().Queued[0] != 3 || tl.Dense().MaxDepth[0] != 7 || tl.Dense().WaitNs[0] != 4_000_000 {
		t.Errorf("bucket 100: arrivals %d queued %d max_depth %d wait_ns %d", tl.Dense().Arrivals[0], tl.Dense().Queued[0], tl.Dense().MaxDepth[0], tl.Dense().WaitNs[0])
	}
	if tl.Dense().Arrivals[1] != 0 {
		t.Errorf("bucket 101 took a stale slot: arrivals %d", tl.Dense().Arrivals[1])
	}
	if runtime.NumCPU() > 1 && ncpu > 1 {
		if tl.Dense().Lost[2] != 4 || tl.MissedBuckets != 1 {
			t.Errorf("bucket 102: lost %d missed %d, want 4 and 1", tl.Dense().Lost[2], tl.MissedBuckets)
		}
	}
	// A reader that fell more than the ring behind counts the gap as missed
	// and keeps the series contiguous.
	if err := r.readUntil(102 + 20); err != nil {
		t.Fatal(err)
	}
	tl = r.timeline(func(j uint64) uint64 { return j })
	if tl.Len() != 23 {
		t.Errorf("%d buckets after a long gap, want 23", tl.Len())
	}
	if tl.MissedBuckets < 12 {
		t.Errorf("missed %d buckets after a gap of 20 with a ring of 8", tl.MissedBuckets)
	}
	// A live reader keeps the newest buckets, and its start moves with them.
	r.keep = 5
	if err := r.readUntil(102 + 21); err != nil {
		t.Fatal(err)
	}
	tl = r.timeline(func(j uint64) uint64 { return j })
	if tl.Len() != 5 || tl.StartNs != (102+21-4)*10 {
		t.Errorf("kept %d buckets from %d, want 5 from %d", tl.Len(), tl.StartNs, (102+21-4)*10)
	}
}

// TestTimelinePollQuiet: a poll whose writes count equals one taken no
// later than the first bucket to read began looks up nothing (a slot
// planted behind its back stays unread); one whose count moved reads the
// ring as readUntil does.
func TestTimelinePollQuiet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create BPF maps")
	}
	const slots = 64
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(unsafe.Sizeof(backlogTlSlot{})), MaxEntries: slots})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	plant := func(e uint64, arrivals uint64) {
		t.Helper()
		per := make([]backlogTlSlot, ncpu)
		per[0] = backlogTlSlot{Epoch: e, Arrivals: arrivals}
		if err := m.Put(uint32(e%slots), per); err != nil {
			t.Fatal(err)
		}
	}
	// Buckets of 10 ns; polls at 100, 200, 300 and 400 ns read up to
	// their bucket less two.
	r := timelineReader{m: m, bucketNs: 10, slots: slots, first: 0, next: 0, batch: supported(true)}
	plant(3, 7)
	if err := r.pollUntil(8, 5, 100); err != nil { // no mark yet: read
		t.Fatal(err)
	}
	if err := r.pollUntil(18, 5, 200); err != nil { // the mark at 100 is after bucket 9 began
		t.Fatal(err)
	}
	plant(25, 9) // behind the counts' back: a quiet poll must not see it
	if err := r.pollUntil(28, 5, 300); err != nil {
		t.Fatal(err)
	}
	plant(35, 11)
	if err := r.pollUntil(38, 6, 400); err != nil { // moved: read
		t.Fatal(err)
	}
	tl := r.timeline(func(j uint64) uint64 { return j })
	if tl.Len() != 39 {
		t.Fatalf("%d buckets, want 39", tl.Len())
	}
	if tl.Dense().Arrivals[3] != 7 || tl.Dense().Arrivals[25] != 0 || tl.Dense().Arrivals[35] != 11 {
		t.Errorf("arrivals at 3, 25, 35: %d %d %d, want 7 0 11", tl.Dense().Arrivals[3], tl.Dense().Arrivals[25], tl.Dense().Arrivals[35])
	}
}
