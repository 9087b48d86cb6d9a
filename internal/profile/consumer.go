package profile

// Consumer is what drained the queue during the recording: the process
// registered as auditd (AUDIT_GET's pid) and kauditd, which hands it the
// records. Absent in netlink mode, and with --consumer sched-switch where
// that program did not attach (attach_points says why).
type Consumer struct {
	// Source is how auditd's threads and kauditd's time were measured:
	// ConsumerSourceSample (from /proc, the default),
	// ConsumerSourceSchedSwitch (the BPF program on every context switch)
	// or ConsumerSourceOff (not measured: Threads empty, Kauditd only its
	// send passes). Received and kauditd's send passes come from the
	// programs on kauditd's path whatever the source.
	Source string `json:"source"`
	// SampleHz and Samples are the sampler's rate and the samples it took
	// (source sample): a class of time asleep is resolved to about one
	// sample's share of it.
	SampleHz float64 `json:"sample_hz,omitempty"`
	Samples  uint64  `json:"samples,omitempty"`
	// PID is auditd's pid at the end; 0 when no auditd was registered.
	// PIDs lists every pid registered during the recording, in order of
	// first sight, when there was more than one (a restart).
	PID  uint32   `json:"pid"`
	PIDs []uint32 `json:"pids,omitempty"`
	Comm string   `json:"comm,omitempty"`
	// Received counts records kauditd queued on auditd's netlink socket
	// (netlink_unicast from kauditd_send_queue); ReceivedPerSecond is it
	// over the interval counted (duration_ns less attaching and detaching).
	Received          uint64  `json:"received"`
	ReceivedPerSecond float64 `json:"received_per_second"`
	// WatchedNs is the interval auditd (PID) was watched: from the moment
	// its pid was known (the first AUDIT_GET after counting started, or a
	// later one that found it registered) to the stop. Its main thread's
	// times add up to it.
	WatchedNs uint64 `json:"watched_ns"`
	// Threads are auditd's threads, the main one (tid = pid) first: where
	// each spent the recording.
	Threads []ConsumerThread `json:"threads"`
	// Socket is auditd's audit netlink socket in /proc/net/netlink.
	Socket *ConsumerSocket `json:"socket,omitempty"`
	// Kauditd is the kernel thread that sends the records to auditd.
	Kauditd *Kauditd `json:"kauditd,omitempty"`
	// Config is auditd's configuration as read at the end.
	Config *AuditdConfig `json:"config,omitempty"`
	// Diagnosis names the bottleneck, when the measurements show one.
	Diagnosis *Diagnosis `json:"diagnosis,omitempty"`
	// Overflow counts thread or time slots that did not fit in the
	// kernel maps: the thread rows are then incomplete.
	Overflow uint64   `json:"overflow"`
	Notes    []string `json:"notes,omitempty"`
}

// Off-CPU classes of a consumer thread (ConsumerThread.OffCPUNs keys, and
// ConsumerSyscall.Class).
const (
	// ConsumerWait: waiting for records or events (epoll_wait, poll, select,
	// recvfrom, recvmsg, read, nanosleep...): idle.
	ConsumerWait = "wait"
	// ConsumerWrite: writing its log (write, pwrite64, writev, pwritev...).
	ConsumerWrite = "write"
	// ConsumerSync: flushing its log to disk (fsync, fdatasync,
	// sync_file_range, sync, syncfs).
	ConsumerSync = "sync"
	// ConsumerLock: waiting on another of its threads (futex).
	ConsumerLock = "lock"
	// ConsumerOther: asleep in any other syscall (open, rename: rotation...).
	ConsumerOther = "other"
	// ConsumerFault: asleep outside a syscall (a page fault).
	ConsumerFault = "fault"
	// ConsumerUnknown: asleep, syscall unreadable (kernels before 5.15
	// with sched-switch; with sample, asleep and never sampled asleep).
	ConsumerUnknown = "unknown"
	// ConsumerStopped: stopped (SIGSTOP, or a debugger), state T (source
	// sample only): not a slow auditd but a stalled one.
	ConsumerStopped = "stopped"
)

// Consumer.Source values: record's --consumer.
const (
	ConsumerSourceSample      = "sample"
	ConsumerSourceSchedSwitch = "sched-switch"
	ConsumerSourceOff         = "off"
)

// ConsumerThread is one auditd thread's time. OnCPUNs + RunnableNs + the
// sum of OffCPUNs is the time it was watched (the recording, or since the
// thread or the pid appeared).
type ConsumerThread struct {
	TID  uint32 `json:"tid"`
	Comm string `json:"comm,omitempty"`
	// Main is auditd's main thread, which receives the records and writes
	// them (but with flush = incremental_async, whose flushes run in a
	// thread of their own).
	Main    bool   `json:"main,omitempty"`
	OnCPUNs uint64 `json:"on_cpu_ns"`
	// RunnableNs is time waiting for a CPU: CPU contention. Source
	// sched-switch counts the wait after a preemption only (the wait after
	// a wakeup is in the cause of the sleep); source sample is schedstat's
	// run_delay, every wait in the run queue, after a wakeup too, so it is
	// higher and the sleep's class as much lower.
	RunnableNs uint64 `json:"runnable_ns"`
	// OffCPUNs is the time asleep by class (see ConsumerWait and the rest).
	OffCPUNs map[string]uint64 `json:"off_cpu_ns"`
	// Syscalls is the time asleep by syscall, longest first.
	Syscalls []ConsumerSyscall `json:"syscalls,omitempty"`
}

// WatchedNs is the time the thread's figures cover.
func (t ConsumerThread) WatchedNs() uint64 {
	n := t.OnCPUNs + t.RunnableNs
	for _, v := range t.OffCPUNs {
		n += v
	}
	return n
}

// ConsumerSyscall is a thread's time asleep in one syscall.
type ConsumerSyscall struct {
	Name  string `json:"name"`
	Nr    int32  `json:"nr"`
	Class string `json:"class"`
	Ns    uint64 `json:"ns"`
	// Sleeps counts the times the thread went to sleep in it.
	Sleeps uint64 `json:"sleeps"`
}

// ConsumerSocket is auditd's netlink socket, from /proc/net/netlink.
type ConsumerSocket struct {
	Portid uint32 `json:"portid"`
	// Drops is the socket's drop counter's rise during the recording: each
	// is a kauditd send that timed out on a full socket (netlink_overrun),
	// after which kauditd moved the record to its retry queue.
	Drops uint64 `json:"drops"`
	// RmemBytes is the memory queued on the socket at the end, unread.
	RmemBytes uint64 `json:"rmem_bytes"`
}

// Kauditd is the kernel thread's time.
type Kauditd struct {
	PID     uint32 `json:"pid"`
	OnCPUNs uint64 `json:"on_cpu_ns"`
	// SendBlockedNs is time asleep inside kauditd_send_queue: waiting for
	// room on auditd's socket (each wait up to sk_sndtimeo, HZ/10 since
	// 5.10). IdleNs is time asleep waiting for records.
	SendBlockedNs uint64 `json:"send_blocked_ns"`
	IdleNs        uint64 `json:"idle_ns"`
	RunnableNs    uint64 `json:"runnable_ns"`
	// SendMainNs, SendRetryNs and SendHoldNs are kauditd's wall time in
	// passes over each queue; a pass over an empty retry or hold queue
	// is not counted (it takes next to no time, and is most passes on
	// kernels whose kauditd runs all three each time it wakes). Without
	// kallsyms data symbols the fentry
	// programs cannot tell the hold queue from the retry queue: both are
	// in SendRetryNs.
	SendMainNs  uint64 `json:"send_main_ns"`
	SendRetryNs uint64 `json:"send_retry_ns"`
	SendHoldNs  uint64 `json:"send_hold_ns"`
}

// AuditdConfig is what auditd.conf and plugins.d say about the consumer.
type AuditdConfig struct {
	Path  string `json:"path"`
	Flush string `json:"flush,omitempty"`
	// Freq is the records between flushes with flush = incremental or
	// incremental_async.
	Freq     *int   `json:"freq,omitempty"`
	QDepth   *int   `json:"q_depth,omitempty"`
	DispQoS  string `json:"disp_qos,omitempty"`
	LogFile  string `json:"log_file,omitempty"`
	Priority *int   `json:"priority_boost,omitempty"`
	// Plugins are the active plugins (active = yes in plugins.d).
	Plugins []string `json:"plugins,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Diagnosis names what held the consumer back.
type Diagnosis struct {
	// Bottleneck is one of "none" (auditd mostly waited for records),
	// "sync", "write", "cpu" (busy on CPU), "runnable" (waiting for a
	// CPU), "lock", "other", "socket" (kauditd blocked on a full socket
	// while auditd was not waiting: see the text), "stopped" (auditd
	// stopped, state T: a stall imposed on it, not its own slowness;
	// source sample only), "unclear".
	Bottleneck string `json:"bottleneck"`
	// Share is the fraction of the main thread's watched time spent in
	// the bottleneck.
	Share float64 `json:"share"`
	// Text says it with its evidence; Advice what would change it.
	Text   string `json:"text"`
	Advice string `json:"advice,omitempty"`
}
