package recording

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// readerPriority runs the calling goroutine, until the returned function is
// called, on an OS thread of its own at the lowest real-time priority
// (SCHED_FIFO 1), where it can: what that thread does then (reading the
// kernel maps while programs count) is not preempted by ordinary tasks.
//
// Why: every map lookup, update or delete from user space runs inside
// bpf_disable_instrumentation() (kernel/bpf/syscall.c), which raises the
// CPU's bpf_prog_active with migration, not preemption, disabled. On a
// kernel that preempts kernel code (preempt=full, lazy, PREEMPT_RT) a
// reader preempted there leaves bpf_prog_active raised, and every kprobe
// program that fires on that CPU meanwhile is skipped (trace_call_bpf: a
// recursion miss), and the totals fall short of the kernel's
// (TestPreemptFull, docs/testing.md). A real-time
// reader is not preempted by the producers it would otherwise leave
// uncounted. Without CAP_SYS_NICE (or with RT throttling) the call fails
// and the reader stays an ordinary thread; the error says why, for the
// profile's notes.
func readerPriority() (restore func(), err error) {
	runtime.LockOSThread()
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("reading the scheduling policy: %w", err)
	}
	rt := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(0, &rt, 0); err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("setting SCHED_FIFO 1: %w", err)
	}
	return func() {
		// Back to what it was, or the thread leaves with the goroutine
		// locked to it: the runtime then retires it rather than hand an
		// RT thread to other goroutines.
		if unix.SchedSetAttr(0, old, 0) == nil {
			runtime.UnlockOSThread()
		}
	}, nil
}
