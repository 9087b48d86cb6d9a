package procsample

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// SchedStat is /proc/PID/task/TID/schedstat (CONFIG_SCHED_INFO): the
// scheduler's own cumulative counts, exact to the last switch.
type SchedStat struct {
	// OnCPUNs is se.sum_exec_runtime: time on CPU. The running task's is
	// brought up to date only at its ticks and switches.
	OnCPUNs uint64
	// RunDelayNs is sched_info.run_delay: time queued on a run queue,
	// waiting for a CPU, after a wakeup as well as after a preemption.
	RunDelayNs uint64
	// Slices is sched_info.pcount: times it was put on a CPU.
	Slices uint64
}

// ParseSchedStat parses schedstat's three numbers.
func ParseSchedStat(b []byte) (SchedStat, error) {
	f := bytes.Fields(b)
	if len(f) != 3 {
		return SchedStat{}, fmt.Errorf("parsing schedstat %q: want 3 fields, got %d", clip(b), len(f))
	}
	var v [3]uint64
	for i := range f {
		n, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return SchedStat{}, fmt.Errorf("parsing schedstat %q: %w", clip(b), err)
		}
		v[i] = n
	}
	return SchedStat{OnCPUNs: v[0], RunDelayNs: v[1], Slices: v[2]}, nil
}

// Stat is what the sampler needs of /proc/PID/task/TID/stat.
type Stat struct {
	Comm string
	// State is the state letter: R running or runnable, S sleeping, D
	// uninterruptible, T stopped, t traced, Z zombie, X dead, I idle
	// kernel thread, P parked.
	State byte
	PPID  int64
}

// ParseStat parses the start of stat: "pid (comm) state ppid ...". comm
// may hold spaces and parentheses: it ends at the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("parsing stat %q: no (comm)", clip(b))
	}
	if _, err := strconv.ParseUint(string(bytes.TrimSpace(b[:open])), 10, 32); err != nil {
		return Stat{}, fmt.Errorf("parsing stat %q: %w", clip(b), err)
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("parsing stat %q: no state and ppid after the comm", clip(b))
	}
	ppid, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("parsing stat %q: %w", clip(b), err)
	}
	return Stat{Comm: string(b[open+1 : end]), State: f[0][0], PPID: ppid}, nil
}

// Syscall is /proc/PID/task/TID/syscall. The kernel answers "running"
// for a task whose state is TASK_RUNNING (on a CPU or waiting for one) or
// that woke while being read (task_current_syscall); otherwise the number
// of the syscall the task sleeps in, or a negative number when it sleeps
// outside one (a page fault: -1).
type Syscall struct {
	Running bool
	Nr      int32
}

// ParseSyscall parses syscall's first field.
func ParseSyscall(b []byte) (Syscall, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return Syscall{}, errors.New("parsing syscall: empty")
	}
	if string(f[0]) == "running" {
		return Syscall{Running: true}, nil
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 32)
	if err != nil {
		return Syscall{}, fmt.Errorf("parsing syscall %q: %w", clip(b), err)
	}
	return Syscall{Nr: int32(n)}, nil
}

// ParseWchan is the function a task sleeps in, from /proc/PID/wchan:
// empty when the kernel does not say ("0": running, or not allowed).
func ParseWchan(b []byte) string {
	w := string(bytes.TrimSpace(b))
	if w == "0" {
		return ""
	}
	return w
}

// clip shortens what an error quotes.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
