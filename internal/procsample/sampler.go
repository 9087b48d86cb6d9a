// Package procsample measures the audit consumer from /proc, without a
// program on every context switch of the machine: auditd's threads' and
// kauditd's time on CPU and waiting for a CPU exactly, from schedstat read
// at the start and the end, and their time asleep split by cause from
// samples of their state and syscall (kauditd: the function it sleeps in)
// taken at random intervals around a fixed rate. record's default way to
// measure the consumer (--consumer sample); the consumer_sched_switch
// program, which runs on every context switch of the machine
// (docs/bench.md), is the opt-in alternative. docs/probes.md
// compares the two.
package procsample

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/profile"
)

// Stopped is the off-CPU class of a thread stopped (SIGSTOP, or traced):
// folding it into another would hide a stopped auditd behind a slow one.
const Stopped = profile.ConsumerStopped

// kauditdIdle is where kauditd sleeps waiting for records (wait_event_
// freezable in kauditd_thread); any other sleep is inside a pass, in
// netlink_attachskb waiting for room on auditd's socket.
const kauditdIdle = "kauditd_thread"

// listEvery is how often auditd's thread list and everyone's schedstat
// are read again: new threads are sampled from then on, and a thread that
// exits keeps its last schedstat.
const listEvery = time.Second

// Options configure Start.
type Options struct {
	// Root is where procfs is mounted ("" is /proc).
	Root string
	// PID is auditd's pid, Kauditd kauditd's; 0: none.
	PID, Kauditd uint32
	// Hz is the rate of the samples (default DefaultHz).
	Hz float64
	// OwnThread runs the sampling on an OS thread of its own, whose
	// schedstat is then Stats.SamplerCPUNs: a measurement that costs a
	// handoff between threads at every wakeup.
	OwnThread bool
}

// Stats is what the sampler did and cost.
type Stats struct {
	Hz      float64
	Samples uint64
	// Reads counts the syscalls on /proc (opens, reads, directory reads,
	// closes).
	Reads uint64
	// SamplerCPUNs is the sampling thread's own time on CPU (its
	// schedstat; Options.OwnThread only); the runtime's timer wakeups on
	// other threads are not in it.
	SamplerCPUNs uint64
	// RunningSampledNs is, per tid, the sampled time in state R (on CPU
	// or waiting for one): schedstat's exact sum checks the samples.
	RunningSampledNs map[uint32]uint64
	// Wchans counts kauditd's samples asleep by the function it slept in.
	Wchans map[string]uint64
}

// Result is the consumer as the samples saw it.
type Result struct {
	// WatchedNs is from the start to the stop.
	WatchedNs uint64
	// Threads are auditd's, the main one first: on_cpu_ns and runnable_ns
	// from schedstat, off_cpu_ns the rest of the time watched split as
	// the samples of the sleeping thread were. A syscall's sleeps are the
	// sleeps the samples saw begin: a lower bound.
	Threads []profile.ConsumerThread
	Kauditd *profile.Kauditd
	Stats   Stats
}

type kind uint8

const (
	kindSyscall kind = iota
	kindFault
	kindStopped
	kindUnknown
	kindSend
	kindIdle
)

// cause is where a sleeping thread was seen.
type cause struct {
	kind kind
	nr   int32
}

type thread struct {
	tid     uint32
	kauditd bool
	comm    string
	// stat, and syscall or (kauditd) wchan, held open and read again at
	// offset 0: one pread per sample, not an open, read and close.
	stat, where, schedstat *os.File
	// since: first seen; until: the last good schedstat read.
	since, until uint64
	ss0, ss      SchedStat
	asleep       map[cause]uint64
	sleeps       map[cause]uint64
	running      uint64
	// last is the cause of the last sample when it found the thread
	// asleep (lastAsleep), after lastSlices times on a CPU.
	last       cause
	lastAsleep bool
	lastSlices uint64
	gone       bool
	// What Snapshot published: the time asleep split so far, the time
	// asleep it covers and the samples' weights it was split by.
	snapSplit  map[cause]uint64
	snapOff    uint64
	snapAsleep map[cause]uint64
}

// DefaultHz is record's --consumer-hz default: at 20 Hz the sampler cost
// 0.07-0.26% of a CPU and the main thread's runnable + asleep agreed with
// the sched_switch program's within a point (docs/probes.md).
const DefaultHz = 20

// Sampler samples the consumer's threads. Start it, Stop it; Snapshot
// reads it in between.
type Sampler struct {
	// mu guards everything below against Snapshot while sampling.
	mu           sync.Mutex
	root         string
	pid, kauditd uint32
	period       time.Duration
	t0           time.Time
	threads      map[uint32]*thread
	start, last  uint64
	listed       uint64
	buf          []byte
	stats        Stats
	rng          *rand.Rand
	cancel       context.CancelFunc
	done         chan struct{}
	ownThread    bool
	// quiet counts the samples in a row in which no thread had run since
	// the one before: the next comes after period << quiet (interval).
	quiet int
}

func newSampler(opts Options) *Sampler {
	if opts.Root == "" {
		opts.Root = "/proc"
	}
	if opts.Hz <= 0 {
		opts.Hz = DefaultHz
	}
	return &Sampler{root: opts.Root, pid: opts.PID, kauditd: opts.Kauditd, ownThread: opts.OwnThread,
		period: time.Duration(float64(time.Second) / opts.Hz), t0: time.Now(),
		threads: map[uint32]*thread{}, buf: make([]byte, 4096),
		stats: Stats{Hz: opts.Hz, RunningSampledNs: map[uint32]uint64{}, Wchans: map[string]uint64{}},
		rng:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Start reads the threads' schedstat, the start of what Stop measures,
// and samples until Stop.
func Start(opts Options) (*Sampler, error) {
	s := newSampler(opts)
	now := s.now()
	s.begin(now)
	if len(s.threads) == 0 {
		return nil, fmt.Errorf("starting the consumer sampler: no thread of pid %d or kauditd %d in %s", s.pid, s.kauditd, s.root)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(ctx)
	return s, nil
}

// Stop ends the sampling and reads schedstat again.
func (s *Sampler) Stop() Result {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.result(s.now(), false)
	s.close()
	return r
}

// Snapshot is the result so far, the sampling going on: cumulative, and
// every figure at least the previous snapshot's (live counters never go
// down). Stop splits a thread's time asleep by all its samples at once; a
// snapshot splits only the time asleep since the previous snapshot, by the
// samples taken since (by all of them when none found it asleep), and adds
// it to what it published before, so a class's time never shrinks when
// later samples change the proportions.
func (s *Sampler) Snapshot() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result(s.now(), true)
}

func (s *Sampler) now() uint64 { return uint64(time.Since(s.t0)) }

// run samples at random intervals averaging the period: a fixed period
// would alias with anything periodic in auditd (a disk's fixed latency,
// the tick), and each sample stands for the time since the last one.
// With OwnThread, locked to its thread, whose schedstat is then the
// sampler's own cost.
func (s *Sampler) run(ctx context.Context) {
	defer close(s.done)
	var cpu0 SchedStat
	err0 := errors.New("not on a thread of its own")
	self := filepath.Join(s.root, "thread-self", "schedstat")
	if s.ownThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu0, err0 = readSchedStat(self)
	}
	t := time.NewTimer(s.jitter())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err0 != nil {
				return
			}
			if cpu1, err := readSchedStat(self); err == nil {
				s.mu.Lock()
				s.stats.SamplerCPUNs = cpu1.OnCPUNs - cpu0.OnCPUNs
				s.mu.Unlock()
			}
			return
		case <-t.C:
			s.mu.Lock()
			s.sample(s.now())
			s.mu.Unlock()
			t.Reset(s.jitter())
		}
	}
}

func (s *Sampler) jitter() time.Duration {
	return time.Duration(float64(s.interval()) * (0.5 + s.rng.Float64()))
}

// interval is the mean time to the next sample: the period, doubled for
// every sample in a row that found no thread had run since the one before,
// up to listEvery. A sample of a thread that has not run reads only its
// schedstat and credits the whole interval to the cause it was seen
// asleep in, exactly whatever the interval; so an idle auditd costs a
// sample a second instead of Hz of them (issue 14: record's CPU on an idle
// host), and the rate is back at the first sample that finds one ran.
func (s *Sampler) interval() time.Duration {
	d := s.period
	for i := 0; i < s.quiet && d < listEvery; i++ {
		d *= 2
	}
	if d > listEvery && s.period < listEvery {
		d = listEvery
	}
	return d
}

func (s *Sampler) begin(now uint64) {
	s.start, s.last = now, now
	s.list(now)
}

// list finds auditd's threads (and kauditd) not yet seen.
func (s *Sampler) list(now uint64) {
	s.listed = now
	if s.kauditd != 0 && s.threads[s.kauditd] == nil {
		s.add(s.kauditd, s.kauditd, true, now)
	}
	if s.pid != 0 {
		for _, tid := range s.taskIDs() {
			if s.threads[tid] == nil {
				s.add(s.pid, tid, false, now)
			}
		}
	}
}

func (s *Sampler) taskIDs() []uint32 {
	s.stats.Reads += 4 // open, two getdents, close
	ents, err := os.ReadDir(filepath.Join(s.root, strconv.Itoa(int(s.pid)), "task"))
	if err != nil {
		return nil
	}
	var out []uint32
	for _, e := range ents {
		if n, err := strconv.ParseUint(e.Name(), 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

func (s *Sampler) add(pid, tid uint32, kauditd bool, now uint64) {
	dir := filepath.Join(s.root, strconv.Itoa(int(pid)), "task", strconv.Itoa(int(tid)))
	where := "syscall"
	if kauditd {
		// A kernel thread's syscall file shows registers it never had.
		where = "wchan"
	}
	th := &thread{tid: tid, kauditd: kauditd, since: now, until: now,
		asleep: map[cause]uint64{}, sleeps: map[cause]uint64{}}
	var err error
	for _, f := range []struct {
		name string
		to   **os.File
	}{{"stat", &th.stat}, {where, &th.where}, {"schedstat", &th.schedstat}} {
		s.stats.Reads++
		if *f.to, err = os.Open(filepath.Join(dir, f.name)); err != nil {
			s.drop(th)
			return
		}
	}
	if th.ss0, err = s.readSchedStat(th); err != nil {
		s.drop(th)
		return
	}
	th.ss = th.ss0
	if st, err := s.readStat(th); err == nil {
		th.comm = st.Comm
	}
	s.threads[tid] = th
}

// drop closes a thread's files: it exited (or never opened).
func (s *Sampler) drop(th *thread) {
	th.gone = true
	for _, f := range []*os.File{th.stat, th.where, th.schedstat} {
		if f != nil {
			s.stats.Reads++
			f.Close()
		}
	}
	th.stat, th.where, th.schedstat = nil, nil, nil
}

func (s *Sampler) close() {
	for _, th := range s.threads {
		if !th.gone {
			s.drop(th)
		}
	}
}

// read is the file's contents, read again from the start.
func (s *Sampler) read(f *os.File) ([]byte, error) {
	s.stats.Reads++
	n, err := f.ReadAt(s.buf, 0)
	if n > 0 {
		return s.buf[:n], nil
	}
	if err == nil {
		err = fmt.Errorf("reading %s: empty", f.Name())
	}
	return nil, err
}

func (s *Sampler) readSchedStat(th *thread) (SchedStat, error) {
	b, err := s.read(th.schedstat)
	if err != nil {
		return SchedStat{}, err
	}
	return ParseSchedStat(b)
}

func (s *Sampler) readStat(th *thread) (Stat, error) {
	b, err := s.read(th.stat)
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// sample looks at every thread once. The time since the last sample goes
// to what each thread is doing now.
func (s *Sampler) sample(now uint64) {
	prev := s.last
	s.last = now
	if now-s.listed >= uint64(listEvery) {
		s.list(now)
	}
	s.stats.Samples++
	ran := false
	for _, th := range s.threads {
		if th.gone {
			continue
		}
		w := now - max(prev, th.since)
		// schedstat first: a thread exits with the last one read, and
		// one asleep at the last sample that has not been on a CPU
		// since sleeps there still (or has just woken and waits for a
		// CPU, which schedstat counts apart), with no more to read.
		// An idle auditd costs one read a thread.
		ss, err := s.readSchedStat(th)
		if err != nil {
			s.drop(th)
			continue
		}
		th.ss, th.until = ss, now
		if th.lastAsleep && ss.Slices == th.lastSlices {
			th.asleep[th.last] += w
			continue
		}
		ran = true
		if th.lastAsleep && w > 2*uint64(s.period) {
			// It woke at some point of a backed-off interval (it
			// had slept through the ones before): the expected
			// share of a wake at an unknown time, half, stays with
			// the cause it slept in; what it does now gets the rest.
			th.asleep[th.last] += w / 2
			w -= w / 2
		}
		c, asleep, ok := s.observe(th)
		if !ok {
			s.drop(th)
			continue
		}
		if !asleep {
			th.running += w
			s.stats.RunningSampledNs[th.tid] += w
			th.lastAsleep = false
			continue
		}
		th.asleep[c] += w
		if !th.lastAsleep || th.last != c || ss.Slices != th.lastSlices {
			th.sleeps[c]++
		}
		th.last, th.lastAsleep, th.lastSlices = c, true, ss.Slices
	}
	if ran {
		s.quiet = 0
	} else {
		s.quiet++
	}
}

// observe is what th is doing: asleep and why, or running (on CPU or
// waiting for one); !ok when it has exited.
func (s *Sampler) observe(th *thread) (c cause, asleep, ok bool) {
	st, err := s.readStat(th)
	if err != nil {
		return cause{}, false, false
	}
	switch st.State {
	case 'R':
		return cause{}, false, true
	case 'Z', 'X', 'x':
		return cause{}, false, false
	case 'T', 't':
		return cause{kind: kindStopped}, true, true
	}
	b, err := s.read(th.where)
	if th.kauditd {
		w := ParseWchan(b)
		switch {
		case err != nil:
			return cause{kind: kindUnknown}, true, true
		case w == "":
			// Running, or an unwinder that stopped short: a BPF
			// trampoline on the stack (auditprof's own fentry
			// schedule_timeout, under netlink_attachskb) makes the
			// kernel say 0 for a task that sleeps. Its stat tells.
			st, err := s.readStat(th)
			if err != nil {
				return cause{}, false, false
			}
			if st.State == 'R' {
				return cause{}, false, true
			}
			w = "0"
		}
		s.stats.Wchans[w]++
		if w == kauditdIdle {
			return cause{kind: kindIdle}, true, true
		}
		return cause{kind: kindSend}, true, true
	}
	if err != nil {
		return cause{kind: kindUnknown}, true, true
	}
	sc, err := ParseSyscall(b)
	switch {
	case err != nil:
		return cause{kind: kindUnknown}, true, true
	case sc.Running:
		return cause{}, false, true
	case sc.Nr < 0:
		return cause{kind: kindFault}, true, true
	}
	return cause{kind: kindSyscall, nr: sc.Nr}, true, true
}

// result reads schedstat a last time and splits each thread's time asleep
// (the time watched less schedstat's on CPU and waiting for one) as its
// samples did.
func (s *Sampler) result(now uint64, snapshot bool) Result {
	for _, th := range s.threads {
		if th.gone {
			continue
		}
		if ss, err := s.readSchedStat(th); err == nil {
			th.ss, th.until = ss, now
		}
	}
	r := Result{WatchedNs: now - s.start, Stats: s.stats}
	// The maps go on filling: a snapshot gets copies.
	r.Stats.RunningSampledNs = maps.Clone(s.stats.RunningSampledNs)
	r.Stats.Wchans = maps.Clone(s.stats.Wchans)
	for _, th := range s.threads {
		on, run := th.ss.OnCPUNs-th.ss0.OnCPUNs, th.ss.RunDelayNs-th.ss0.RunDelayNs
		watched := th.until - th.since
		// schedstat's running task is behind by up to a tick, and the
		// reads are not at the very instants watched starts and ends.
		var off uint64
		if on+run < watched {
			off = watched - on - run
		}
		split := splitOff(off, th.asleep)
		if snapshot {
			split = th.snapshotSplit(off)
		}
		if th.kauditd {
			k := &profile.Kauditd{PID: th.tid, OnCPUNs: on, RunnableNs: run}
			for c, ns := range split {
				if c.kind == kindSend {
					k.SendBlockedNs += ns
				} else {
					k.IdleNs += ns
				}
			}
			r.Kauditd = k
			continue
		}
		row := profile.ConsumerThread{TID: th.tid, Comm: th.comm, Main: th.tid == s.pid,
			OnCPUNs: on, RunnableNs: run, OffCPUNs: map[string]uint64{}}
		for c, ns := range split {
			switch c.kind {
			case kindFault:
				row.OffCPUNs[profile.ConsumerFault] += ns
			case kindStopped:
				row.OffCPUNs[Stopped] += ns
			case kindSyscall:
				name := consumer.SyscallName(c.nr)
				class := consumer.Classify(name)
				row.OffCPUNs[class] += ns
				row.Syscalls = append(row.Syscalls, profile.ConsumerSyscall{Name: name, Nr: c.nr, Class: class, Ns: ns, Sleeps: th.sleeps[c]})
			default:
				row.OffCPUNs[profile.ConsumerUnknown] += ns
			}
		}
		sort.Slice(row.Syscalls, func(i, j int) bool {
			if row.Syscalls[i].Ns != row.Syscalls[j].Ns {
				return row.Syscalls[i].Ns > row.Syscalls[j].Ns
			}
			return row.Syscalls[i].Nr < row.Syscalls[j].Nr
		})
		r.Threads = append(r.Threads, row)
	}
	sort.Slice(r.Threads, func(i, j int) bool {
		if r.Threads[i].Main != r.Threads[j].Main {
			return r.Threads[i].Main
		}
		return r.Threads[i].TID < r.Threads[j].TID
	})
	return r
}

// snapshotSplit adds the time asleep since the last snapshot (off, all of
// it, less what was published) to the published split, split by the
// samples' weights since.
func (th *thread) snapshotSplit(off uint64) map[cause]uint64 {
	if th.snapSplit == nil {
		th.snapSplit, th.snapAsleep = map[cause]uint64{}, map[cause]uint64{}
	}
	if off > th.snapOff {
		since := map[cause]uint64{}
		var n uint64
		for c, w := range th.asleep {
			if d := w - th.snapAsleep[c]; d > 0 {
				since[c], n = d, n+d
			}
		}
		if n == 0 {
			since = th.asleep
		}
		for c, ns := range splitOff(off-th.snapOff, since) {
			th.snapSplit[c] += ns
		}
		th.snapOff = off
	}
	th.snapAsleep = maps.Clone(th.asleep)
	return maps.Clone(th.snapSplit)
}

// splitOff splits off in proportion to the sampled time asleep by cause,
// to the nanosecond: the last cause (in a fixed order) takes the rounding.
// Time asleep and never sampled asleep is unknown.
func splitOff(off uint64, asleep map[cause]uint64) map[cause]uint64 {
	out := map[cause]uint64{}
	if off == 0 {
		return out
	}
	var total uint64
	cs := make([]cause, 0, len(asleep))
	for c, w := range asleep {
		if w > 0 {
			cs = append(cs, c)
			total += w
		}
	}
	if total == 0 {
		out[cause{kind: kindUnknown}] = off
		return out
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].kind != cs[j].kind {
			return cs[i].kind < cs[j].kind
		}
		return cs[i].nr < cs[j].nr
	})
	left := off
	for i, c := range cs {
		ns := uint64(float64(off) * float64(asleep[c]) / float64(total))
		if i == len(cs)-1 || ns > left {
			ns = left
		}
		out[c] = ns
		left -= ns
	}
	return out
}

// CheckSchedStat reports whether schedstat measures anything here: the
// calling thread's own (root/thread-self/schedstat) must exist, and, as
// the thread is running, must not read zeros. A kernel built without
// CONFIG_SCHED_INFO has no schedstat file; one whose sched_info is off
// (older kernels without schedstats or delay accounting) reads "0 0 0".
func CheckSchedStat(root string) error {
	if root == "" {
		root = "/proc"
	}
	path := filepath.Join(root, "thread-self", "schedstat")
	ss, err := readSchedStat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist: the kernel was built without CONFIG_SCHED_INFO", path)
	case err != nil:
		return fmt.Errorf("reading schedstat: %w", err)
	case ss.OnCPUNs == 0 && ss.Slices == 0:
		return fmt.Errorf("%s reads zeros for a running thread: the kernel keeps no sched_info (CONFIG_SCHED_INFO unset, or schedstats and delay accounting off)", path)
	}
	return nil
}

func readSchedStat(path string) (SchedStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return SchedStat{}, err
	}
	return ParseSchedStat(b)
}

// FindKauditd is kauditd's pid: the child of kthreadd (pid 2) named
// kauditd, from kthreadd's children list (CONFIG_PROC_CHILDREN), else
// from every process's stat. 0 when there is none.
func FindKauditd(root string) uint32 {
	if root == "" {
		root = "/proc"
	}
	var pids []string
	if b, err := os.ReadFile(filepath.Join(root, "2", "task", "2", "children")); err == nil {
		pids = strings.Fields(string(b))
	} else if ents, err := os.ReadDir(root); err == nil {
		for _, e := range ents {
			pids = append(pids, e.Name())
		}
	}
	for _, p := range pids {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, p, "stat"))
		if err != nil {
			continue
		}
		if st, err := ParseStat(b); err == nil && st.Comm == "kauditd" && st.PPID == 2 {
			return uint32(n)
		}
	}
	return 0
}
