package consumer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

func TestClassify(t *testing.T) {
	for name, want := range map[string]string{
		"epoll_wait": profile.ConsumerWait, "recvfrom": profile.ConsumerWait, "fdatasync": profile.ConsumerSync,
		"fsync": profile.ConsumerSync, "sync_file_range": profile.ConsumerSync, "write": profile.ConsumerWrite,
		"pwritev2": profile.ConsumerWrite, "futex": profile.ConsumerLock, "rename": profile.ConsumerOther, "": profile.ConsumerOther,
	} {
		if got := Classify(name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

func consumerWith(main profile.ConsumerThread, cfg *profile.AuditdConfig) *profile.Consumer {
	main.Main, main.TID = true, 100
	return &profile.Consumer{PID: 100, Threads: []profile.ConsumerThread{main}, Config: cfg}
}

func TestDiagnose(t *testing.T) {
	data := &profile.AuditdConfig{Flush: "data"}
	for _, tc := range []struct {
		name       string
		c          *profile.Consumer
		ov         Overload
		bottleneck string
		text       []string
		advice     bool
	}{
		{name: "no consumer", c: nil},
		{name: "no auditd", c: &profile.Consumer{}},
		{name: "idle", c: consumerWith(profile.ConsumerThread{OnCPUNs: 10, OffCPUNs: map[string]uint64{profile.ConsumerWait: 90}}, data),
			bottleneck: "none", text: []string{"kept up", "90%"}},
		{name: "idle, yet lost", c: consumerWith(profile.ConsumerThread{OnCPUNs: 5, RunnableNs: 4, OffCPUNs: map[string]uint64{profile.ConsumerWait: 91}}, nil),
			ov: Overload{Lost: 15224}, bottleneck: "unclear", text: []string{"waited for records 91%", "yet the queue overflowed (15224 records lost, 0 producers waited)", "bursts"}},
		{name: "idle, yet waited", c: consumerWith(profile.ConsumerThread{OffCPUNs: map[string]uint64{profile.ConsumerWait: 60}, OnCPUNs: 40}, nil),
			ov: Overload{Waits: 3}, bottleneck: "unclear", text: []string{"3 producers waited"}},
		{name: "fdatasync", c: consumerWith(profile.ConsumerThread{OnCPUNs: 10, OffCPUNs: map[string]uint64{profile.ConsumerSync: 71, profile.ConsumerWait: 19},
			Syscalls: []profile.ConsumerSyscall{{Name: "fdatasync", Class: profile.ConsumerSync, Ns: 71}, {Name: "epoll_wait", Class: profile.ConsumerWait, Ns: 19}}}, data),
			bottleneck: "sync", text: []string{"71% of the recording in fdatasync (flush = data)"}, advice: true},
		{name: "write", c: consumerWith(profile.ConsumerThread{OnCPUNs: 10, OffCPUNs: map[string]uint64{profile.ConsumerWrite: 60, profile.ConsumerWait: 30},
			Syscalls: []profile.ConsumerSyscall{{Name: "write", Class: profile.ConsumerWrite, Ns: 60}}}, nil),
			bottleneck: "write", text: []string{"60%", "write"}, advice: true},
		{name: "throttled", c: consumerWith(profile.ConsumerThread{OnCPUNs: 5, RunnableNs: 80, OffCPUNs: map[string]uint64{profile.ConsumerWait: 15}}, nil),
			bottleneck: "runnable", text: []string{"waited for a CPU 80%"}, advice: true},
		{name: "throttled, sampled", c: func() *profile.Consumer {
			c := consumerWith(profile.ConsumerThread{OnCPUNs: 5, RunnableNs: 80, OffCPUNs: map[string]uint64{profile.ConsumerWait: 15}}, nil)
			c.Source = profile.ConsumerSourceSample
			return c
		}(), bottleneck: "runnable", text: []string{"waited for a CPU 80%", "run delay", "after each wakeup"}, advice: true},
		{name: "sampled, woken often on a busy machine", c: sampledBusy(4e7), bottleneck: "none",
			text: []string{"kept up", "nothing was lost", "waited for records 36%", "for a CPU 31%", "after each wakeup"}},
		{name: "sampled, woken often, records lost", c: sampledBusy(4e7), ov: Overload{Lost: 1}, bottleneck: "cpu", advice: true},
		{name: "sampled, woken often, producers waited", c: sampledBusy(4e7), ov: Overload{Waits: 2}, bottleneck: "cpu", advice: true},
		{name: "sampled, woken often, kauditd blocked", c: sampledBusy(1e9), bottleneck: "cpu", advice: true},
		{name: "sampled, woken often, kauditd not measured", c: func() *profile.Consumer {
			c := sampledBusy(4e7)
			c.Kauditd = nil
			return c
		}(), bottleneck: "cpu", advice: true},
		{name: "sampled, throttled, nothing lost", c: func() *profile.Consumer {
			c := consumerWith(profile.ConsumerThread{OnCPUNs: 5, RunnableNs: 80, OffCPUNs: map[string]uint64{profile.ConsumerWait: 15}}, nil)
			c.Source, c.Kauditd = profile.ConsumerSourceSample, &profile.Kauditd{IdleNs: 1e9}
			return c
		}(), bottleneck: "runnable", text: []string{"run delay"}, advice: true},
		{name: "sched-switch, the same times", c: func() *profile.Consumer {
			c := sampledBusy(4e7)
			c.Source = profile.ConsumerSourceSchedSwitch
			return c
		}(), bottleneck: "cpu", advice: true},
		{name: "stopped", c: consumerWith(profile.ConsumerThread{OnCPUNs: 5, RunnableNs: 30, OffCPUNs: map[string]uint64{profile.ConsumerStopped: 40, profile.ConsumerWait: 25}}, nil),
			bottleneck: "stopped", text: []string{"stopped", "40%", "not a slow auditd"}, advice: true},
		{name: "throttled, kauditd blocked", c: func() *profile.Consumer {
			c := consumerWith(profile.ConsumerThread{RunnableNs: 80, OffCPUNs: map[string]uint64{profile.ConsumerWait: 20}}, nil)
			c.Kauditd = &profile.Kauditd{SendBlockedNs: 2e9}
			c.Socket = &profile.ConsumerSocket{Drops: 7}
			return c
		}(), bottleneck: "runnable", text: []string{"kauditd waited 2s for room on auditd's socket", "7 of its sends timed out"}, advice: true},
		{name: "write with flush = data", c: consumerWith(profile.ConsumerThread{OffCPUNs: map[string]uint64{profile.ConsumerWrite: 90, profile.ConsumerWait: 10},
			Syscalls: []profile.ConsumerSyscall{{Name: "write", Class: profile.ConsumerWrite, Ns: 90}}}, data),
			bottleneck: "write", text: []string{"90% of the recording blocked in write", "(flush = data)"}, advice: true},
		{name: "busy", c: consumerWith(profile.ConsumerThread{OnCPUNs: 70, OffCPUNs: map[string]uint64{profile.ConsumerWait: 30}}, &profile.AuditdConfig{Plugins: []string{"syslog"}}),
			bottleneck: "cpu", text: []string{"busy on CPU 70%", "syslog"}, advice: true},
		{name: "spread", c: consumerWith(profile.ConsumerThread{OnCPUNs: 15, RunnableNs: 15, OffCPUNs: map[string]uint64{profile.ConsumerWait: 40, profile.ConsumerSync: 15, profile.ConsumerWrite: 15}}, nil),
			bottleneck: "unclear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Diagnose(tc.c, tc.ov)
			if tc.bottleneck == "" {
				if d != nil {
					t.Fatalf("diagnosis %+v, want none", d)
				}
				return
			}
			if d == nil || d.Bottleneck != tc.bottleneck {
				t.Fatalf("diagnosis %+v, want %s", d, tc.bottleneck)
			}
			for _, s := range tc.text {
				if !strings.Contains(d.Text, s) {
					t.Errorf("%q lacks %q", d.Text, s)
				}
			}
			if (d.Advice != "") != tc.advice {
				t.Errorf("advice %q", d.Advice)
			}
		})
	}
}

// TestThreadRowShares: the chart's numbers are the table's percentages.
func TestThreadRowShares(t *testing.T) {
	r := ThreadRow(profile.ConsumerThread{TID: 7, Comm: "auditd", Main: true, OnCPUNs: 1e9, RunnableNs: 5e8,
		OffCPUNs: map[string]uint64{profile.ConsumerWait: 6e9, profile.ConsumerSync: 2e9, profile.ConsumerFault: 3e8, profile.ConsumerUnknown: 2e8}})
	want := [len(Causes)]float64{0.1, 0.05, 0.6, 0, 0.2, 0, 0.05}
	if r.Shares != want {
		t.Errorf("shares %v, want %v", r.Shares, want)
	}
	for i, s := range []string{r.OnCPU, r.Runnable, r.Wait, r.Write, r.Sync, r.Lock, r.Other} {
		if got := fmt.Sprintf("%.2f%%", 100*r.Shares[i]); got != s {
			t.Errorf("%s: share %s, table %s", Causes[i], got, s)
		}
	}
	if z := ThreadRow(profile.ConsumerThread{TID: 8}); z.Shares != [len(Causes)]float64{} {
		t.Errorf("nothing watched: shares %v", z.Shares)
	}
}

// sampledBusy is the arm64 keyed-rules run's main thread as the samples
// saw it (on CPU 33%, runnable 31%, waiting for records 36%), with
// kauditd blocked sending blocked ns of its 3 s.
func sampledBusy(blocked uint64) *profile.Consumer {
	c := consumerWith(profile.ConsumerThread{OnCPUNs: 33, RunnableNs: 31, OffCPUNs: map[string]uint64{profile.ConsumerWait: 36}}, nil)
	c.Source = profile.ConsumerSourceSample
	c.Kauditd = &profile.Kauditd{OnCPUNs: 5e8, SendBlockedNs: blocked, IdleNs: 25e8 - blocked}
	return c
}
