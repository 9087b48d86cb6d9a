package e2e

import (
	_ "embed"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

var (
	//go:embed testdata/consumer.sh
	consumerSh string
	//go:embed testdata/consumer-flush.sh
	consumerFlushSh string
)

// TestConsumer proves record's consumer section on both kernels in both
// attach modes (consumer.sh): the records kauditd put on auditd's socket
// are the records it drained from the queue; an idle auditd is diagnosed
// as keeping up, waiting for records; an auditd held to 5% of a CPU shows
// its time runnable (throttled) and is diagnosed so.
func TestConsumer(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Script: guestScript(consumerSh), Timeout: 25 * time.Minute})
			for _, mode := range []string{"fentry", "kprobe"} {
				checkConsumerIdle(t, mode, g.profile(mode+".idle"))
				checkConsumerLoad(t, mode, g, g.profile(mode+".load"))
				checkConsumerCPU(t, mode, g.profile(mode+".cpu"))
			}
		})
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
