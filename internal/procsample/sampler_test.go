package procsample

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/profile"
)

// fakeProc is a /proc with the files the sampler reads, rewritten in
// place between samples as the kernel would change them.
type fakeProc struct {
	t    *testing.T
	root string
}

func (p fakeProc) write(pid, tid uint32, name, text string) {
	p.t.Helper()
	dir := filepath.Join(p.root, fmt.Sprint(pid), "task", fmt.Sprint(tid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	// Rewritten in place: the sampler holds the file open.
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		p.t.Fatal(err)
	}
	f.Close()
}

// state sets an auditd thread asleep in syscall nr ('S'), or in another
// state with "running" in syscall.
func (p fakeProc) state(pid, tid uint32, state byte, nr int32) {
	p.write(pid, tid, "stat", fmt.Sprintf("%d (auditd) %c 1 %d 0 0 -1\n", tid, state, pid))
	if state == 'R' {
		p.write(pid, tid, "syscall", "running\n")
		return
	}
	p.write(pid, tid, "syscall", fmt.Sprintf("%d 0x0 0x0 0x0 0x0 0x0 0x0 0x7ffc632551c8 0x7ff5548742ad\n", nr))
}

func (p fakeProc) kauditd(pid uint32, state byte, wchan string) {
	p.write(pid, pid, "stat", fmt.Sprintf("%d (kauditd) %c 2 0 0 0 -1\n", pid, state))
	p.write(pid, pid, "wchan", wchan)
}

const ms = uint64(time.Millisecond)

// TestSampler: schedstat's on CPU and waiting times are the thread's, and
// the rest of the time watched is split as the samples of it asleep were
// weighted by the time since the previous sample: to the nanosecond, so
// the thread's times add up to the time watched.
func TestSampler(t *testing.T) {
	const pid, worker, kd = 100, 101, 7
	p := fakeProc{t, t.TempDir()}
	pselect6, write := nrOf(t, "pselect6"), nrOf(t, "write")
	for tid, ss := range map[uint32]string{pid: "1000 2000 1\n", worker: "0 0 0\n", kd: "50 0 1\n"} {
		if tid == kd {
			p.write(kd, kd, "schedstat", ss)
			continue
		}
		p.write(pid, tid, "schedstat", ss)
	}
	p.state(pid, pid, 'S', pselect6)
	p.state(pid, worker, 'R', 0)
	p.kauditd(kd, 'S', "kauditd_thread")

	s := newSampler(Options{Root: p.root, PID: pid, Kauditd: kd})
	s.begin(0)
	// Main: 10 samples 10 ms apart: pselect6 for 50 ms, write for 30
	// (two sleeps: one write, woken, another), running 10, stopped 10.
	// slices counts its times on a CPU: one sleep's samples see the
	// same count, and those after the first read nothing more.
	plan := []struct {
		state  byte
		nr     int32
		slices int
	}{{'S', pselect6, 1}, {'S', pselect6, 1}, {'S', pselect6, 1}, {'S', pselect6, 1}, {'S', pselect6, 1},
		{'D', write, 2}, {'D', write, 2}, {'R', 0, 3}, {'D', write, 3}, {'T', write, 4}}
	// kauditd woken between every two samples; "0": a wchan the kernel
	// could not unwind, asleep (S) all the same, or running (R).
	kplan := []struct {
		state byte
		wchan string
	}{{'S', "kauditd_thread"}, {'S', "netlink_attachskb"}, {'S', "0"}, {'S', "kauditd_thread"}, {'R', "0"},
		{'S', "kauditd_thread"}, {'S', "kauditd_thread"}, {'S', "kauditd_thread"}, {'S', "kauditd_thread"}, {'S', "kauditd_thread"}}
	for i, st := range plan {
		p.state(pid, pid, st.state, st.nr)
		p.write(pid, pid, "schedstat", fmt.Sprintf("1000 2000 %d\n", st.slices))
		p.kauditd(kd, kplan[i].state, kplan[i].wchan)
		p.write(kd, kd, "schedstat", fmt.Sprintf("50 0 %d\n", i+2))
		s.sample(uint64(i+1) * 10 * ms)
	}
	// 15 ms on CPU, 5 ms waiting for it: 80 ms asleep, split as 50:30:10.
	p.write(pid, pid, "schedstat", fmt.Sprintf("%d %d 9\n", 1000+15*ms, 2000+5*ms))
	p.write(pid, worker, "schedstat", fmt.Sprintf("%d 0 3\n", 40*ms))
	p.write(kd, kd, "schedstat", fmt.Sprintf("%d %d 4\n", 50+10*ms, 10*ms))
	r := s.result(100*ms, false)
	s.close()

	if r.WatchedNs != 100*ms || r.Stats.Samples != 10 {
		t.Fatalf("watched %d, %d samples", r.WatchedNs, r.Stats.Samples)
	}
	if len(r.Threads) != 2 || !r.Threads[0].Main || r.Threads[1].TID != worker {
		t.Fatalf("threads %+v", r.Threads)
	}
	main := r.Threads[0]
	if main.OnCPUNs != 15*ms || main.RunnableNs != 5*ms || main.WatchedNs() != 100*ms || main.Comm != "auditd" {
		t.Errorf("main %+v: watched %d", main, main.WatchedNs())
	}
	off := uint64(80 * ms)
	want := map[string]uint64{}
	want[class(pselect6)] += off * 50 / 90
	want[class(write)] += off * 30 / 90
	want[Stopped] += off * 10 / 90
	for k, v := range want {
		if d := int64(main.OffCPUNs[k]) - int64(v); d < -3 || d > 3 {
			t.Errorf("main off %s: %d, want %d", k, main.OffCPUNs[k], v)
		}
	}
	if len(main.Syscalls) != 2 || main.Syscalls[0].Nr != pselect6 || main.Syscalls[0].Sleeps != 1 ||
		main.Syscalls[1].Nr != write || main.Syscalls[1].Sleeps != 2 {
		t.Errorf("main syscalls %+v", main.Syscalls)
	}
	if got := r.Stats.RunningSampledNs[pid]; got != 10*ms {
		t.Errorf("main sampled running %d", got)
	}
	// Never seen asleep: its time off CPU is unknown.
	w := r.Threads[1]
	if w.OnCPUNs != 40*ms || w.OffCPUNs[profile.ConsumerUnknown] != 60*ms || w.WatchedNs() != 100*ms {
		t.Errorf("worker %+v", w)
	}
	// kauditd: 10 on, 10 waiting, 80 asleep: 20 of the 90 sampled asleep
	// in netlink_attachskb.
	k := r.Kauditd
	if k == nil || k.OnCPUNs != 10*ms || k.RunnableNs != 10*ms || k.SendBlockedNs+k.IdleNs != 80*ms ||
		k.SendBlockedNs < 80*ms*20/90-1 || k.SendBlockedNs > 80*ms*20/90+1 {
		t.Errorf("kauditd %+v", k)
	}
	if !reflect.DeepEqual(r.Stats.Wchans, map[string]uint64{"kauditd_thread": 7, "netlink_attachskb": 1, "0": 1}) {
		t.Errorf("wchans %v", r.Stats.Wchans)
	}
}

// TestSamplerExit: a thread that exits is watched up to its last schedstat
// read; one that appears, from when it was listed.
func TestSamplerExit(t *testing.T) {
	const pid, worker, late = 100, 101, 102
	p := fakeProc{t, t.TempDir()}
	wait := nrOf(t, "pselect6")
	for _, tid := range []uint32{pid, worker} {
		p.write(pid, tid, "schedstat", "0 0 0\n")
		p.state(pid, tid, 'S', wait)
	}
	s := newSampler(Options{Root: p.root, PID: pid})
	s.begin(0)
	s.sample(500 * ms)
	p.write(pid, worker, "schedstat", fmt.Sprintf("%d 0 1\n", 100*ms))
	p.write(pid, late, "schedstat", fmt.Sprintf("%d 0 1\n", 7*ms))
	p.state(pid, late, 'S', wait)
	s.sample(1000 * ms) // lists again: the worker's schedstat, the late thread
	// Exited: its files read nothing (the kernel: ESRCH).
	p.write(pid, worker, "schedstat", "")
	p.write(pid, worker, "stat", "")
	s.sample(1500 * ms)
	p.write(pid, late, "schedstat", fmt.Sprintf("%d 0 2\n", 17*ms))
	r := s.result(2000*ms, false)
	s.close()
	got := map[uint32]profile.ConsumerThread{}
	for _, th := range r.Threads {
		got[th.TID] = th
	}
	if w := got[worker]; w.WatchedNs() != 1000*ms || w.OnCPUNs != 100*ms || w.OffCPUNs[class(wait)] != 900*ms {
		t.Errorf("exited worker %+v", w)
	}
	if l := got[late]; l.WatchedNs() != 1000*ms || l.OnCPUNs != 10*ms || l.OffCPUNs[class(wait)] != 990*ms {
		t.Errorf("late thread %+v", l)
	}
	if m := got[pid]; m.WatchedNs() != 2000*ms || m.OffCPUNs[class(wait)] != 2000*ms {
		t.Errorf("main %+v", m)
	}
}

func TestSplitOff(t *testing.T) {
	a, b, c := cause{kind: kindSyscall, nr: 1}, cause{kind: kindSyscall, nr: 2}, cause{kind: kindFault}
	for _, tc := range []struct {
		name   string
		off    uint64
		asleep map[cause]uint64
		want   map[cause]uint64
	}{
		{"nothing off", 0, map[cause]uint64{a: 5}, map[cause]uint64{}},
		{"never seen asleep", 10, nil, map[cause]uint64{{kind: kindUnknown}: 10}},
		{"one cause", 10, map[cause]uint64{a: 3}, map[cause]uint64{a: 10}},
		{"thirds", 10, map[cause]uint64{a: 1, b: 1, c: 1}, map[cause]uint64{a: 3, b: 3, c: 4}},
		{"zero weight left out", 10, map[cause]uint64{a: 1, b: 0}, map[cause]uint64{a: 10}},
		{"large", ^uint64(0), map[cause]uint64{a: ^uint64(0) / 2, b: ^uint64(0) / 2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := splitOff(tc.off, tc.asleep)
			var sum uint64
			for _, v := range got {
				sum += v
			}
			if sum != tc.off {
				t.Fatalf("%v: sums to %d, not %d", got, sum, tc.off)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFindKauditd(t *testing.T) {
	p := fakeProc{t, t.TempDir()}
	stat := func(pid int, text string) {
		if err := os.MkdirAll(filepath.Join(p.root, fmt.Sprint(pid)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.root, fmt.Sprint(pid), "stat"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stat(9, "9 (kworker/0:1) I 2 0 0\n")
	stat(32, "32 (kauditd) S 2 0 0\n")
	stat(40, "40 (kauditd) S 1 40 40\n") // a user process with the name
	// No children file (CONFIG_PROC_CHILDREN off): every process.
	if got := FindKauditd(p.root); got != 32 {
		t.Errorf("from every process: %d", got)
	}
	p.write(2, 2, "children", "9 40 ")
	if got := FindKauditd(p.root); got != 0 {
		t.Errorf("from kthreadd's children, none kauditd: %d", got)
	}
	p.write(2, 2, "children", "9 32 ")
	if got := FindKauditd(p.root); got != 32 {
		t.Errorf("from kthreadd's children: %d", got)
	}
}

// TestSamplerSelf samples this test's own process on the real /proc for
// a moment: the files open, parse and add up.
func TestSamplerSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc")
	}
	s, err := Start(Options{PID: uint32(os.Getpid()), Hz: 200})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	r := s.Stop()
	if r.Stats.Samples == 0 || len(r.Threads) == 0 || !r.Threads[0].Main {
		t.Fatalf("%+v", r)
	}
	for _, th := range r.Threads {
		if w := th.WatchedNs(); w > r.WatchedNs {
			t.Errorf("thread %d watched %d of %d", th.TID, w, r.WatchedNs)
		}
	}
	t.Logf("%d samples, %d reads, sampler on CPU %v; main %+v", r.Stats.Samples, r.Stats.Reads, time.Duration(r.Stats.SamplerCPUNs), r.Threads[0])
}

// nrOf is the number of the named syscall on this architecture.
func nrOf(t *testing.T, name string) int32 {
	t.Helper()
	for nr := int32(0); nr < 500; nr++ {
		if consumer.SyscallName(nr) == name {
			return nr
		}
	}
	t.Fatalf("no syscall %s", name)
	return 0
}

func class(nr int32) string { return consumer.Classify(consumer.SyscallName(nr)) }

// TestSnapshotNeverShrinks: a thread waits 100 ms, then writes for 20 ms
// of which 10 on CPU. Split over all the samples at once (Stop), the wait
// gets 100/120 of the 110 ms asleep: less than the 100 ms a snapshot
// showed before. Live snapshots must not go down (the exporter's
// counters), and still add up to the time watched.
func TestSnapshotNeverShrinks(t *testing.T) {
	const pid = 100
	p := fakeProc{t, t.TempDir()}
	wait, write := nrOf(t, "pselect6"), nrOf(t, "write")
	p.write(pid, pid, "schedstat", "0 0 1\n")
	p.state(pid, pid, 'S', wait)
	s := newSampler(Options{Root: p.root, PID: pid})
	s.begin(0)
	var prev map[string]uint64
	check := func(now uint64) profile.ConsumerThread {
		t.Helper()
		r := s.result(now, true)
		th := r.Threads[0]
		for class, ns := range prev {
			if th.OffCPUNs[class] < ns {
				t.Errorf("at %v: %s went down from %v to %v", time.Duration(now), class, time.Duration(ns), time.Duration(th.OffCPUNs[class]))
			}
		}
		if th.WatchedNs() != now {
			t.Errorf("at %v: watched %v", time.Duration(now), time.Duration(th.WatchedNs()))
		}
		prev = th.OffCPUNs
		return th
	}
	for i := uint64(1); i <= 10; i++ {
		s.sample(i * 10 * ms)
	}
	if th := check(100 * ms); th.OffCPUNs[class(wait)] != 100*ms {
		t.Errorf("after 100 ms waiting: %+v", th)
	}
	p.write(pid, pid, "schedstat", fmt.Sprintf("%d 0 2\n", 10*ms))
	p.state(pid, pid, 'D', write)
	s.sample(110 * ms)
	s.sample(120 * ms)
	th := check(120 * ms)
	if th.OffCPUNs[class(wait)] != 100*ms || th.OffCPUNs[class(write)] != 10*ms || th.OnCPUNs != 10*ms {
		t.Errorf("snapshot after the writes: %+v, want wait 100 ms, write 10 ms, on CPU 10 ms", th)
	}
	// Stop's split, over all samples at once, is the one that shrinks.
	if r := s.result(120*ms, false); r.Threads[0].OffCPUNs[class(wait)] >= 100*ms {
		t.Errorf("final split %v: the wait did not shrink, the test shows nothing", r.Threads[0].OffCPUNs)
	}
}

// TestSamplerBacksOff: samples that find no thread has run since the last
// one double the interval up to listEvery, the first that finds one ran
// brings it back to the period, and the wake inside a backed-off interval
// is split half and half between the cause slept in and the one seen now.
// The time asleep still adds up to the time watched.
func TestSamplerBacksOff(t *testing.T) {
	const pid = 100
	p := fakeProc{t, t.TempDir()}
	pselect6, write := nrOf(t, "pselect6"), nrOf(t, "write")
	p.write(pid, pid, "schedstat", "0 0 1\n")
	p.state(pid, pid, 'S', pselect6)
	s := newSampler(Options{Root: p.root, PID: pid, Hz: 20})
	s.begin(0)
	if got := s.interval(); got != 50*time.Millisecond {
		t.Fatalf("interval %v at the start, want the period", got)
	}
	now := uint64(0)
	next := func() {
		now += uint64(s.interval())
		s.sample(now)
	}
	next() // the first sample observes the thread: it counts as having run
	var seen []time.Duration
	for range 7 {
		next()
		seen = append(seen, s.interval())
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("intervals %v, want %v", seen, want)
	}
	// It wakes and sleeps in write: seen at the next sample, 1 s later.
	p.state(pid, pid, 'D', write)
	p.write(pid, pid, "schedstat", "0 0 2\n")
	before := now
	next()
	if got := s.interval(); got != 50*time.Millisecond {
		t.Errorf("interval %v after a thread ran, want the period", got)
	}
	th := s.threads[pid]
	if got := th.asleep[cause{kind: kindSyscall, nr: write}]; got != (now-before)/2 {
		t.Errorf("write got %d of the %d ns interval, want half", got, now-before)
	}
	r := s.result(now, false)
	main := r.Threads[0]
	if main.WatchedNs() != now {
		t.Errorf("watched %d, want %d", main.WatchedNs(), now)
	}
	wantWrite := (now - before) / 2
	if got := main.OffCPUNs[class(write)]; got != wantWrite {
		t.Errorf("write %d, want %d", got, wantWrite)
	}
	if got := main.OffCPUNs[class(pselect6)]; got != now-wantWrite {
		t.Errorf("pselect6 %d, want %d", got, now-wantWrite)
	}
	if r.Stats.Samples != 9 {
		t.Errorf("%d samples over %v, want 9", r.Stats.Samples, time.Duration(now))
	}
}
