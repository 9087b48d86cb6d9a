package e2e

import (
	_ "embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
	"github.com/auditprof/auditprof/internal/vmtest"
)

var (
	//go:embed testdata/consumer.sh
	consumerSh string
	//go:embed testdata/consumer-flush.sh
	consumerFlushSh string
)

// TestConsumer proves record's consumer section on both kernels in both
// attach modes (consumer.sh), measured the default way (--consumer sample,
// from /proc): the records kauditd put on auditd's socket are the records
// it drained from the queue; an idle auditd is diagnosed as keeping up,
// waiting for records; an auditd held to 5% of a CPU shows its time
// runnable (throttled) and is diagnosed so. In the fentry rounds a second
// recorder measures each phase at the same time with --consumer
// sched-switch: the two agree class by class (checkAgree).
func TestConsumer(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				// The restart waits one of record's AUDIT_GET intervals
				// and a second more, so the new pid is read before the end.
				Vars:   map[string]string{"PID_SAMPLE_WAIT": strconv.Itoa(int(recording.ConsumerSampleEvery/time.Second) + 1)},
				Script: guestScript(consumerSh), Timeout: 25 * time.Minute})
			for _, mode := range []string{"fentry", "kprobe"} {
				for _, phase := range []string{"idle", "load", "cpu"} {
					checkSource(t, mode+"."+phase, g.profile(mode+"."+phase), profile.ConsumerSourceSample)
				}
				checkConsumerIdle(t, mode, g.profile(mode+".idle"))
				checkConsumerLoad(t, mode, g, g.profile(mode+".load"))
				checkConsumerCPU(t, mode, g.profile(mode+".cpu"))
			}
			for _, phase := range []string{"idle", "load", "cpu"} {
				name := "fentry." + phase
				checkAgree(t, name, g.profile(name), g.profile(name+".ss"))
			}
			checkConsumerRestart(t, g)
		})
	}
}

// checkConsumerRestart: auditd restarted in the middle of a recording;
// the profile names both pids, in order, and ends with the second's.
func checkConsumerRestart(t *testing.T, g guestRun) {
	var pids []uint32
	for _, f := range strings.Fields(g.section("restart.pids")) {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			t.Fatalf("restart.pids %q", g.section("restart.pids"))
		}
		pids = append(pids, uint32(n))
	}
	if len(pids) != 2 || pids[0] == pids[1] {
		t.Fatalf("restart.pids %q: want two different pids", g.section("restart.pids"))
	}
	p := g.profile("restart")
	c := p.Consumer
	if c == nil {
		t.Fatal("restart: no consumer section")
	}
	t.Logf("restart: auditd %d then %d; profile pid %d, pids %v; received %d, drained %d, lost %d",
		pids[0], pids[1], c.PID, c.PIDs, c.Received, p.Totals.Drained, p.Totals.Lost)
	if c.PID != pids[1] || len(c.PIDs) != 2 || c.PIDs[0] != pids[0] || c.PIDs[1] != pids[1] {
		t.Errorf("restart: the profile's auditd is %d (pids %v), want %d after %d", c.PID, c.PIDs, pids[1], pids[0])
	}
	// What kauditd drained while no auditd listened waited in its hold
	// queue for the next one: with nothing lost, every record drained
	// reached one of the two (received counts kauditd's sends from any of
	// its queues, drained its takes from audit_queue).
	if p.Totals.Lost == 0 && c.Received != p.Totals.Drained {
		t.Errorf("restart: the two auditds received %d, kauditd drained %d, nothing lost", c.Received, p.Totals.Drained)
	}
	checkPIDChanges(t, p, pids[0], pids[1])
}

// checkPIDChanges: the profile's settings follow auditd from first to
// second, directly or through 0 (issue 20). With audit_log_config_change
// attached, the second auditd's registration is the kernel's change, sent
// by that auditd; the first one's going (Debian's auditd stopped with
// SIGTERM does not unregister: auditd_reset logs nothing) is seen by the
// poll, or from the registration's old value 0. The status before with
// every change applied is the status after.
func checkPIDChanges(t *testing.T, p *profile.Profile, first, second uint32) {
	t.Helper()
	hooked := false
	for _, pt := range p.AttachPoints {
		hooked = hooked || (pt.Symbol == "audit_log_config_change" && pt.Attached)
	}
	var chain []string
	pid := first
	for _, ch := range p.Settings {
		t.Logf("setting: %+v (by %+v)", ch, ch.By)
		if ch.Field != profile.SettingPID {
			continue
		}
		chain = append(chain, fmt.Sprintf("%d->%d (%s)", ch.Old, ch.New, ch.Seen))
		if uint32(ch.Old) != pid {
			t.Errorf("pid change %+v does not follow pid %d", ch, pid)
		}
		switch {
		case ch.Seen == profile.SeenKernel:
			// The sender is the auditd whose pid it sets, or unsets.
			if ch.By == nil || ch.By.Comm != "auditd" || ch.By.Tgid != uint32(max(ch.Old, ch.New)) {
				t.Errorf("pid change %+v by %+v: want it sent by that auditd", ch, ch.By)
			}
		case ch.Seen != profile.SeenPoll || ch.SinceNs > ch.MonoNs:
			t.Errorf("pid change %+v: want the kernel's, or one seen by the poll within its window", ch)
		case hooked && uint32(ch.New) == second:
			t.Errorf("pid change %+v: the registration of auditd %d was not the kernel's", ch, second)
		}
		pid = uint32(ch.New)
	}
	if pid != second || len(chain) == 0 || len(chain) > 2 {
		t.Errorf("pid changes %v: want %d to %d, directly or through 0", chain, first, second)
	}
	b, a := *p.AuditBefore, *p.AuditAfter
	got := profile.SettingsAt(b, p.Settings, math.MaxInt64)
	got.Lost, got.Backlog, got.BacklogWaitTimeActual = a.Lost, a.Backlog, a.BacklogWaitTimeActual
	if !reflect.DeepEqual(got, a) {
		t.Errorf("audit_before with the settings' changes is %+v, audit_after %+v", got, a)
	}
}

// mainThread is the consumer's main thread, failing the test without one.
func mainThread(t *testing.T, name string, p *profile.Profile, flush string) (*profile.Consumer, profile.ConsumerThread) {
	t.Helper()
	c := p.Consumer
	if c == nil || c.PID == 0 || len(c.Threads) == 0 || !c.Threads[0].Main {
		t.Fatalf("%s: no consumer main thread: %+v (attach points %+v)", name, c, p.AttachPoints)
	}
	th := c.Threads[0]
	t.Logf("%s: auditd %d received %d (%.0f/s); main: on CPU %v, runnable %v, off %v; longest %+v; socket %+v; kauditd %+v; diagnosis %+v",
		name, c.PID, c.Received, c.ReceivedPerSecond, time.Duration(th.OnCPUNs), time.Duration(th.RunnableNs), th.OffCPUNs,
		longestSleep(th.Syscalls), c.Socket, c.Kauditd, c.Diagnosis)
	// A thread's times add up to the time it was watched: for the main
	// thread, registered throughout, the whole time auditd was watched (up to
	// the few microseconds between the clock reads at the start and stop
	// and the programs' own).
	if w, d := th.WatchedNs(), c.WatchedNs; d == 0 || w > d+d/100 || w < d-d/100 {
		t.Errorf("%s: main thread watched %v of the %v auditd was watched", name, time.Duration(w), time.Duration(d))
	}
	if c.Overflow != 0 {
		t.Errorf("%s: consumer maps overflowed %d times", name, c.Overflow)
	}
	if c.Config == nil || c.Config.Error != "" || c.Config.Flush != flush {
		t.Errorf("%s: auditd.conf %+v", name, c.Config)
	}
	return c, th
}

// checkSource: the consumer was measured as want says, sample at the
// default 20 Hz, and the sched_switch program attached only with
// sched-switch.
func checkSource(t *testing.T, name string, p *profile.Profile, want string) {
	t.Helper()
	c := p.Consumer
	if c.Source != want || (want == profile.ConsumerSourceSample) != (c.SampleHz == 20 && c.Samples > 0) {
		t.Errorf("%s: consumer measured by %q at %v Hz, %d samples: want %s (sample: at 20 Hz)", name, c.Source, c.SampleHz, c.Samples, want)
	}
	if len(c.Notes) > 0 {
		t.Errorf("%s: consumer notes %q", name, c.Notes)
	}
	attached := false
	for _, pt := range p.AttachPoints {
		if pt.Symbol == "sched_switch" {
			attached = pt.Attached
			if want != profile.ConsumerSourceSchedSwitch {
				t.Errorf("%s: %s among the attach points with --consumer %s: %+v", name, pt.Program, want, pt)
			}
		}
	}
	if want == profile.ConsumerSourceSchedSwitch && !attached {
		t.Errorf("%s: --consumer sched-switch, and the program is not attached: %+v", name, p.AttachPoints)
	}
}

func longestSleep(s []profile.ConsumerSyscall) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func checkConsumerIdle(t *testing.T, mode string, p *profile.Profile) {
	c, th := mainThread(t, mode+".idle", p, "incremental_async")
	if d := c.Diagnosis; d == nil || d.Bottleneck != "none" {
		t.Errorf("%s.idle: diagnosis %+v, want none (auditd waiting for records)", mode, d)
	}
	if w := th.OffCPUNs[profile.ConsumerWait]; w < c.WatchedNs*9/10 {
		t.Errorf("%s.idle: main thread waited for records %v of %v", mode, time.Duration(w), time.Duration(c.WatchedNs))
	}
}

func checkConsumerLoad(t *testing.T, mode string, g guestRun, p *profile.Profile) {
	c, _ := mainThread(t, mode+".load", p, "incremental_async")
	// Nothing lost or retried: every record drained went to auditd's socket.
	if p.Totals.Lost != 0 || p.Totals.RetryQueued != 0 {
		t.Fatalf("%s.load: lost %d, retry-queued %d: the load must fit", mode, p.Totals.Lost, p.Totals.RetryQueued)
	}
	if c.Received == 0 || c.Received != p.Totals.Drained {
		t.Errorf("%s.load: auditd received %d, kauditd drained %d", mode, c.Received, p.Totals.Drained)
	}
	if c.Socket == nil || c.Socket.Drops != 0 {
		t.Errorf("%s.load: socket %+v, want no drops", mode, c.Socket)
	}
	if k := c.Kauditd; k == nil || k.SendMainNs == 0 || k.OnCPUNs == 0 {
		t.Errorf("%s.load: kauditd %+v", mode, k)
	}
}

func checkConsumerCPU(t *testing.T, mode string, p *profile.Profile) {
	c, th := mainThread(t, mode+".cpu", p, "incremental_async")
	if r := th.RunnableNs; r < c.WatchedNs/2 {
		t.Errorf("%s.cpu: main thread runnable %v of %v, held to 5%% of a CPU", mode, time.Duration(r), time.Duration(c.WatchedNs))
	}
	if d := c.Diagnosis; d == nil || d.Bottleneck != "runnable" {
		t.Errorf("%s.cpu: diagnosis %+v, want runnable", mode, d)
	}
}

// kernelModules are the guest files of the modules scripts/vm-assets.sh
// puts beside a kernel (kernel_dir/modules, see KERNEL_MODULES in
// scripts/lib/vm-assets-common.sh), at /lib/modules/NAME. Missing, they
// fail the test: make test's vm-assets step puts them there.
func kernelModules(t *testing.T, k vmtest.Kernel, files map[string]string, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for g, h := range files {
		out[g] = h
	}
	for _, n := range names {
		h := filepath.Join(filepath.Dir(k.Vmlinuz), "modules", n)
		if _, err := os.Stat(h); err != nil {
			t.Fatalf("%s: no %s beside the kernel: the assets predate it (run scripts/vm-assets.sh)", k.Name, n)
		}
		out["/lib/modules/"+n] = h
	}
	return out
}

// TestConsumerFlush proves the consumer's measurements against a disk with
// real latency in guest time (consumer-flush.sh: null_blk, 2 ms per I/O):
// the same load recorded with auditd's flush = incremental_async, data and
// sync. With data and sync every log write waits for the disk: auditd's
// main thread spends most of the recording asleep in its log writes (or
// syncs), the diagnosis names that and the flush mode, and it drains
// slower than with incremental_async, whose main thread does not wait for
// the disk (its flushes run in a thread of their own) and keeps up.
func TestConsumerFlush(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: kernelModules(t, k, files, "configfs.ko", "null_blk.ko"),
				Script: guestScript(consumerFlushSh), Timeout: 25 * time.Minute})
			rate, perRecord, waiting := map[string]float64{}, map[string]float64{}, map[string]float64{}
			for _, flush := range []string{"incremental_async", "data", "sync"} {
				p := g.profile(flush)
				c, th := mainThread(t, flush, p, flush)
				checkSource(t, flush, p, profile.ConsumerSourceSample)
				rate[flush] = c.ReceivedPerSecond
				disk := th.OffCPUNs[profile.ConsumerWrite] + th.OffCPUNs[profile.ConsumerSync]
				share := float64(disk) / float64(th.WatchedNs())
				writes := diskWrites(t, g.section(flush+".disk"))
				perRecord[flush], waiting[flush] = float64(writes)/float64(max(c.Received, 1)), share
				t.Logf("%s: main thread asleep in log writes and syncs %.0f%% of the time; drained %.0f records/s; the disk wrote %d times for %d records received (%.2f per record)",
					flush, 100*share, c.ReceivedPerSecond, writes, c.Received, float64(writes)/float64(max(c.Received, 1)))
				d := c.Diagnosis
				if flush == "incremental_async" {
					if share > 0.05 {
						t.Errorf("%s: main thread waited for the disk %.0f%% of the time", flush, 100*share)
					}
					if d == nil || d.Bottleneck == "sync" || d.Bottleneck == "write" {
						t.Errorf("%s: diagnosis %+v names the disk", flush, d)
					}
					continue
				}
				if share < 0.5 {
					t.Errorf("%s: main thread waited for the disk only %.0f%% of the time", flush, 100*share)
				}
				if d == nil || (d.Bottleneck != "sync" && d.Bottleneck != "write") || !strings.Contains(d.Text, "flush = "+flush) {
					t.Errorf("%s: diagnosis %+v does not name the disk and the flush mode", flush, d)
				}
			}
			if rate["incremental_async"] <= rate["data"] || rate["incremental_async"] <= rate["sync"] {
				t.Errorf("drain rates (records/s) %v: incremental_async is not the fastest", rate)
			}
			// data and sync rank as the disk makes them: auditd waits for
			// every write, each takes 2 ms, so the drain is the disk's
			// write rate over the writes a record costs in that mode (the
			// kernel's own count, /sys/block/nullb0/stat). The measured
			// rates' ratio is the inverse of the writes' ratio, up to the
			// share of each run auditd did not spend waiting for the disk.
			// (In one run 6.1 wrote 0.87 times a record with data and 1.54
			// with sync and drained 550 and 311 records/s; 6.12 wrote 1.49
			// and 1.52 times and drained 325 and 318: the same, as it is.)
			disk := func(f string) float64 { return rate[f] * perRecord[f] }
			slack := (1 - waiting["data"]) + (1 - waiting["sync"])
			if r := disk("data") / disk("sync"); math.Abs(r-1) > slack {
				t.Errorf("drain rates %v and disk writes per record %v: data and sync do not rank as the disk writes (the disk's rates differ by %.1f%%, more than the %.1f%% auditd did not wait for it)",
					rate, perRecord, 100*math.Abs(r-1), 100*slack)
			}
		})
	}
}

// diskWrites is the write I/Os completed between the two lines of a
// /sys/block/<dev>/stat pair (the fifth field: Documentation/block/stat.rst).
func diskWrites(t *testing.T, pair string) uint64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(pair), "\n")
	if len(lines) != 2 {
		t.Fatalf("disk stat: want two lines, got %q", pair)
	}
	var v [2]uint64
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 {
			t.Fatalf("disk stat %q: fewer than 5 fields", l)
		}
		n, err := strconv.ParseUint(f[4], 10, 64)
		if err != nil {
			t.Fatalf("disk stat %q: %v", l, err)
		}
		v[i] = n
	}
	return v[1] - v[0]
}

// checkAgree compares the default recorder's consumer (sample: from
// /proc) with the sched-switch one's, recorded at the same time over the
// same phase (started together, the sched-switch one stopped first), main
// thread and kauditd, class by class, with what the kernel allows between
// the two:
//   - time on CPU is the same kernel quantity both ways (schedstat's
//     sum_exec_runtime, the program's switch-to-switch intervals), but for
//     where each reads the clock around a switch and schedstat lagging a
//     running task by up to a tick: within 2 points of the time watched
//     and a jiffy (at most 1.0 point in the runs docs/probes.md reports);
//   - runnable by schedstat (run_delay) is every wait in the run queue,
//     the program's only the wait after a preemption (the wait after a
//     wakeup is in the sleep's class): sampled runnable is at least the
//     program's, and whatever it has more comes out of the sleep classes;
//   - a sleep class is the sampled share of the time asleep: it is off by
//     the sampling error (three standard errors of a proportion over the
//     samples that found the thread asleep, plus one sample); sampled
//     unknown, asleep and never found asleep, may be any class's;
//   - the recorders' windows differ by their attaching and stopping: the
//     difference is time waiting for records (kauditd: idle), but for
//     the records the kernel makes of the other recorder's program loads
//     and unloads (AUDIT_BPF), which auditd and kauditd handle in it: on
//     CPU may differ by their cost a record (the larger of the two
//     recorders' on CPU over received) times the difference in records
//     received.
func checkAgree(t *testing.T, name string, sp, bp *profile.Profile) {
	t.Helper()
	bc := bp.Consumer
	if bc == nil || bc.Source != profile.ConsumerSourceSchedSwitch || len(bc.Threads) == 0 || !bc.Threads[0].Main {
		t.Fatalf("%s.ss: no consumer measured by sched-switch: %+v (attach points %+v)", name, bc, bp.AttachPoints)
	}
	checkSource(t, name+".ss", bp, profile.ConsumerSourceSchedSwitch)
	sc := sp.Consumer
	st, bt := sc.Threads[0], bc.Threads[0]
	if st.TID != bt.TID {
		t.Fatalf("%s: main thread %d sampled, %d by sched-switch", name, st.TID, bt.TID)
	}
	jiffy := uint64(time.Second) / uint64(max(sp.HZ, 1))
	check := func(who string, ws, wb, ons, onb, rs, rb uint64, classes map[string][2]uint64, idle string) {
		dW := diff(ws, wb)
		w := max(ws, wb)
		perRecord := max(float64(ons)/float64(max(sc.Received, 1)), float64(onb)/float64(max(bc.Received, 1)))
		window := uint64(perRecord * float64(diff(sc.Received, bc.Received)))
		t.Logf("%s: %s watched %v sampled / %v sched-switch; received %d / %d; on CPU %v / %v; runnable %v / %v",
			name, who, time.Duration(ws), time.Duration(wb), sc.Received, bc.Received, time.Duration(ons), time.Duration(onb), time.Duration(rs), time.Duration(rb))
		onTol := w/50 + jiffy + window
		if d := diff(ons, onb); d > onTol {
			t.Errorf("%s: %s on CPU %v sampled, %v by sched-switch: %v apart, more than %v", name, who, time.Duration(ons), time.Duration(onb), time.Duration(d), time.Duration(onTol))
		}
		if rs+onTol < rb {
			t.Errorf("%s: %s runnable %v sampled, less than the %v sched-switch counted (run_delay includes its wait)", name, who, time.Duration(rs), time.Duration(rb))
		}
		var extra uint64 // runnable schedstat counts and the program puts in a sleep
		if rs > rb {
			extra = rs - rb
		}
		asleep := ws - min(ws, ons+rs)
		n := float64(sc.Samples) * float64(asleep) / float64(max(ws, 1)) // samples that found it asleep
		// Sampled unknown is time asleep that no sample found asleep
		// (sleeps shorter than the samples' spacing, as an auditd held
		// runnable by a quota makes): any class's. A class may be that
		// much short of sched-switch's, and unknown may be what
		// sched-switch put in classes beyond what they sampled.
		unknown := classes[profile.ConsumerUnknown][0]
		var short uint64 // sched-switch's beyond the sampled, in the named classes
		for class, v := range classes {
			if class != profile.ConsumerUnknown && v[1] > v[0] {
				short += v[1] - v[0]
			}
		}
		for class, v := range classes {
			s, b := v[0], v[1]
			p := float64(s) / float64(max(asleep, 1))
			samplingTol := uint64(float64(asleep) * (3*math.Sqrt(p*(1-p)/max(n, 1)) + 1/max(n, 1)))
			lo, hi := onTol+samplingTol, extra+onTol+samplingTol
			if class == idle {
				lo, hi = lo+dW, hi+dW
			}
			if class == profile.ConsumerUnknown {
				lo += short
			} else {
				hi += unknown
			}
			// b - s within [-lo, hi]
			t.Logf("%s: %s %s %v sampled / %v sched-switch (allowed: sched-switch up to %v more, %v less)", name, who, class,
				time.Duration(s), time.Duration(b), time.Duration(hi), time.Duration(lo))
			if b > s+hi || s > b+lo {
				t.Errorf("%s: %s %s %v sampled, %v by sched-switch: outside what the sampling and the runnable definition allow (sched-switch up to %v more, %v less)",
					name, who, class, time.Duration(s), time.Duration(b), time.Duration(hi), time.Duration(lo))
			}
		}
	}
	classes := map[string][2]uint64{}
	for _, m := range []map[string]uint64{st.OffCPUNs, bt.OffCPUNs} {
		for c := range m {
			classes[c] = [2]uint64{st.OffCPUNs[c], bt.OffCPUNs[c]}
		}
	}
	check("main thread", st.WatchedNs(), bt.WatchedNs(), st.OnCPUNs, bt.OnCPUNs, st.RunnableNs, bt.RunnableNs, classes, profile.ConsumerWait)
	// The program learns kauditd's pid at its first send while counting:
	// with none (idle), it has no kauditd row, and the sampler must have
	// seen no send either.
	if sk, bk := sc.Kauditd, bc.Kauditd; sk == nil || (bk == nil && sk.SendBlockedNs != 0) {
		t.Errorf("%s: kauditd sampled %+v, by sched-switch %+v", name, sk, bk)
	} else if bk != nil {
		ws := sk.OnCPUNs + sk.RunnableNs + sk.SendBlockedNs + sk.IdleNs
		wb := bk.OnCPUNs + bk.RunnableNs + bk.SendBlockedNs + bk.IdleNs
		check("kauditd", ws, wb, sk.OnCPUNs, bk.OnCPUNs, sk.RunnableNs, bk.RunnableNs,
			map[string][2]uint64{"send_blocked": {sk.SendBlockedNs, bk.SendBlockedNs}, "idle": {sk.IdleNs, bk.IdleNs}}, "idle")
	}
	if sd, bd := sc.Diagnosis, bc.Diagnosis; sd == nil || bd == nil || sd.Bottleneck != bd.Bottleneck {
		t.Errorf("%s: diagnosis sampled %+v, by sched-switch %+v", name, sd, bd)
	}
}

func diff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}
