package recording

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// sleeper starts a real process that sleeps: an auditd stand-in.
func sleeper(t *testing.T) uint32 {
	t.Helper()
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return uint32(cmd.Process.Pid)
}

// TestSamplerFollowsRestart: when auditd's pid changes the sampler moves
// to the new process (Threads are the current one's, watched from the
// change), kauditd's time goes on adding up, and a snapshot taken between
// sees the same as the end would. Real processes on this machine's /proc.
func TestSamplerFollowsRestart(t *testing.T) {
	first, second := sleeper(t), sleeper(t)
	time.Sleep(20 * time.Millisecond) // exec'd: comm is sleep
	cs := newConsumerSampler("/proc", 200, first)
	if len(cs.errs) > 0 {
		t.Fatalf("starting: %v", cs.errs)
	}
	time.Sleep(300 * time.Millisecond)

	c := &profile.Consumer{PID: first}
	cs.snapshot(c)
	if len(c.Threads) != 1 || c.Threads[0].TID != first || !c.Threads[0].Main || c.Threads[0].Comm != "sleep" {
		t.Fatalf("snapshot before the restart: threads %+v", c.Threads)
	}
	if w := c.Threads[0].OffCPUNs[profile.ConsumerWait]; w < uint64(250*time.Millisecond) {
		t.Errorf("snapshot: %v waiting (nanosleep), want most of 300ms: %+v", time.Duration(w), c.Threads[0])
	}
	before := c.Samples

	changing := time.Now()
	cs.follow(second)
	changed := time.Now()
	time.Sleep(300 * time.Millisecond)
	stopping := time.Now()
	cs.stop()
	most, least := time.Since(changing), stopping.Sub(changed)

	c = &profile.Consumer{PID: second, PIDs: []uint32{first, second}}
	cs.fill(c)
	if c.Source != ConsumerSample || c.SampleHz != 200 {
		t.Errorf("source %q at %v Hz", c.Source, c.SampleHz)
	}
	if len(c.Threads) != 1 || c.Threads[0].TID != second || !c.Threads[0].Main {
		t.Fatalf("after the restart: threads %+v, want the second process's only", c.Threads)
	}
	if w := time.Duration(c.WatchedNs); w > most || w < least {
		t.Errorf("watched %v since the restart: want between %v and %v", w, least, most)
	}
	if tw := c.Threads[0].WatchedNs(); tw != c.WatchedNs {
		t.Errorf("main thread watched %v of %v", time.Duration(tw), time.Duration(c.WatchedNs))
	}
	if c.Samples <= before {
		t.Errorf("samples %d after the restart, %d before it", c.Samples, before)
	}
	if k := c.Kauditd; k == nil && cs.kauditd != 0 {
		t.Errorf("kauditd %d not measured", cs.kauditd)
	} else if k != nil {
		total := k.OnCPUNs + k.RunnableNs + k.SendBlockedNs + k.IdleNs
		if total < uint64(550*time.Millisecond) {
			t.Errorf("kauditd watched %v over both samplers, want about 600ms: %+v", time.Duration(total), k)
		}
	}
	if len(c.Notes) > 0 {
		t.Errorf("notes %q", c.Notes)
	}
}

// TestSamplerWithoutSchedStat: where schedstat reads zeros (a kernel
// without sched_info) or is missing, the consumer says so and what to do,
// rather than carrying zeros. A procfs copy stands for such a kernel.
func TestSamplerWithoutSchedStat(t *testing.T) {
	for name, schedstat := range map[string]string{"zeros": "0 0 0\n", "missing": ""} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "thread-self")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if schedstat != "" {
				if err := os.WriteFile(filepath.Join(dir, "schedstat"), []byte(schedstat), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cs := newConsumerSampler(root, 20, 1)
			cs.follow(2) // nothing to follow: it did not start
			c := &profile.Consumer{PID: 2}
			cs.fill(c)
			if len(c.Threads) != 0 || c.Kauditd != nil {
				t.Errorf("threads %+v, kauditd %+v: want none", c.Threads, c.Kauditd)
			}
			if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "CONFIG_SCHED_INFO") || !strings.Contains(c.Notes[0], "--consumer sched-switch") {
				t.Errorf("notes %q: want one saying why and what to do", c.Notes)
			}
		})
	}
}

// TestSamplerAuditdGone: AUDIT_GET names no auditd any more (pid 0); the
// profile still names the last one (the programs keep it), and its
// threads are as the sampler saw them until then.
func TestSamplerAuditdGone(t *testing.T) {
	pid := sleeper(t)
	time.Sleep(20 * time.Millisecond)
	starting := time.Now()
	cs := newConsumerSampler("/proc", 200, pid)
	if len(cs.errs) > 0 {
		t.Fatalf("starting: %v", cs.errs)
	}
	started := time.Now()
	time.Sleep(200 * time.Millisecond)
	stopping := time.Now()
	cs.follow(0)
	most, least := time.Since(starting), stopping.Sub(started)
	time.Sleep(100 * time.Millisecond)
	c := &profile.Consumer{PID: pid}
	cs.fill(c)
	if len(c.Threads) != 1 || c.Threads[0].TID != pid {
		t.Fatalf("threads %+v, want the last auditd's", c.Threads)
	}
	if w := time.Duration(c.WatchedNs); w < least || w > most {
		t.Errorf("watched %v: want the time before it was gone, between %v and %v", w, least, most)
	}
}
