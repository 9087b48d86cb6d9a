// Package consumer classifies where auditd spent a recording and names
// the bottleneck from the measurements (and auditd's configuration), only
// when the measurements show one.
package consumer

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
)

var classes = map[string]string{}

func init() {
	for class, names := range map[string][]string{
		profile.ConsumerWait: {"epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
			"recvfrom", "recvmsg", "recvmmsg", "read", "readv", "nanosleep", "clock_nanosleep", "pause", "rt_sigsuspend",
			"rt_sigtimedwait", "wait4", "waitid"},
		profile.ConsumerWrite: {"write", "pwrite64", "writev", "pwritev", "pwritev2"},
		profile.ConsumerSync:  {"fsync", "fdatasync", "sync_file_range", "sync", "syncfs"},
		profile.ConsumerLock:  {"futex", "futex_waitv"},
	} {
		for _, n := range names {
			classes[n] = class
		}
	}
}

// SyscallName is the name of a syscall of the architecture this binary
// (and so the kernel it runs on) is built for.
func SyscallName(nr int32) string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if name := auparse.AuditSyscalls[arch][int(nr)]; name != "" {
		return name
	}
	return "syscall_" + strconv.Itoa(int(nr))
}

// Classify is the class of time asleep in the named syscall.
func Classify(syscall string) string {
	if c, ok := classes[syscall]; ok {
		return c
	}
	return profile.ConsumerOther
}

// Thresholds of the diagnosis: auditd waiting for records this share of
// the time or more kept up; a cause must take this share to be named.
const (
	IdleShare       = 0.5
	BottleneckShare = 0.2
)

// Overload is what the queue suffered during the recording: records lost
// and records whose producer slept in the backlog wait.
type Overload struct {
	Lost, Waits uint64
}

// Diagnose names what held auditd's main thread back, with its evidence,
// or says that it kept up. nil when there is nothing to judge (no
// consumer measured, or no main thread seen).
//
// The times are totals over the recording. When auditd mostly waited for
// records yet the queue overflowed, the overload came in bursts those
// totals do not resolve: Diagnose then says so ("unclear") rather than
// that auditd kept up.
func Diagnose(c *profile.Consumer, ov Overload) *profile.Diagnosis {
	if c == nil || c.PID == 0 {
		return nil
	}
	var main *profile.ConsumerThread
	for i := range c.Threads {
		if c.Threads[i].Main {
			main = &c.Threads[i]
		}
	}
	if main == nil {
		return nil
	}
	total := main.WatchedNs()
	if total == 0 {
		return nil
	}
	share := func(ns uint64) float64 { return float64(ns) / float64(total) }
	pct := func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

	d := diagnose(main, c.Config, share, pct)
	if c.Source == profile.ConsumerSourceSample {
		d = keptUpSampled(d, c, main, ov, share, pct)
	}
	if d != nil && d.Bottleneck == "runnable" && c.Source == profile.ConsumerSourceSample {
		d.Text += "; measured as schedstat's run delay, which counts the wait for a CPU after each wakeup as well as after a preemption"
	}
	if d != nil && d.Bottleneck == "none" && (ov.Lost > 0 || ov.Waits > 0) {
		d = &profile.Diagnosis{Bottleneck: "unclear", Share: d.Share,
			Text: fmt.Sprintf("no cause over the whole recording: auditd's main thread waited for records %s of it, yet the queue overflowed (%d records lost, %d producers waited); the overload came in bursts these totals do not resolve", pct(d.Share), ov.Lost, ov.Waits)}
	}
	if d != nil && d.Bottleneck != "none" {
		d.Text += evidence(c)
	}
	return d
}

// keptUpSampled judges whether a sampled auditd kept up when its time does
// not say. Sampled, the wait for a CPU after each wakeup for records is in
// runnable (schedstat's run delay), where the sched_switch program puts it
// in wait: an auditd woken for every few records on a busy machine can
// wait for records under half the time by the samples and over half by the
// program (seen on arm64, two CPUs, under the same keyed-rules load: 36%
// and runnable 31% sampled, 66% and 4% by the program). When wait and
// runnable together make half the time (runnable alone less), what the
// queue and the socket show decides: nothing lost, no producer waited in
// the backlog, and kauditd waited for room on auditd's socket less than a
// fifth of its time: auditd kept up.
func keptUpSampled(d *profile.Diagnosis, c *profile.Consumer, main *profile.ConsumerThread, ov Overload, share func(uint64) float64, pct func(float64) string) *profile.Diagnosis {
	if d == nil || d.Bottleneck == "none" || d.Bottleneck == "stopped" {
		return d
	}
	w, r := share(main.OffCPUNs[profile.ConsumerWait]), share(main.RunnableNs)
	// Waiting for a CPU half the time or more is contention whatever the
	// definition; without kauditd's time there is no socket evidence.
	if w >= IdleShare || w+r < IdleShare || r >= IdleShare || ov.Lost > 0 || ov.Waits > 0 || c.Kauditd == nil {
		return d
	}
	k := c.Kauditd
	all := k.OnCPUNs + k.RunnableNs + k.SendBlockedNs + k.IdleNs
	if all == 0 {
		return d
	}
	blocked := float64(k.SendBlockedNs) / float64(all)
	if blocked >= BottleneckShare {
		return d
	}
	return &profile.Diagnosis{Bottleneck: "none", Share: w,
		Text: fmt.Sprintf("auditd kept up: nothing was lost, no producer waited, and kauditd waited for room on its socket %s of the recording; its main thread waited for records %s of it and for a CPU %s (schedstat's run delay, which counts the wait for a CPU after each wakeup for records)",
			pct(blocked), pct(w), pct(r))}
}

// evidence is what kauditd saw of auditd, when it saw trouble.
func evidence(c *profile.Consumer) string {
	var parts []string
	if k := c.Kauditd; k != nil && k.SendBlockedNs > 0 {
		parts = append(parts, fmt.Sprintf("kauditd waited %s for room on auditd's socket", time.Duration(k.SendBlockedNs).Round(time.Millisecond)))
	}
	if s := c.Socket; s != nil && s.Drops > 0 {
		parts = append(parts, fmt.Sprintf("%d of its sends timed out (records moved to the retry queue)", s.Drops))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func diagnose(main *profile.ConsumerThread, cfg *profile.AuditdConfig, share func(uint64) float64, pct func(float64) string) *profile.Diagnosis {
	if w := share(main.OffCPUNs[profile.ConsumerWait]); w >= IdleShare {
		return &profile.Diagnosis{Bottleneck: "none", Share: w,
			Text: fmt.Sprintf("auditd kept up: its main thread waited for records %s of the recording", pct(w))}
	}

	// Stopped (SIGSTOP, a debugger) is not auditd being slow: nothing it
	// does or is configured to do would change it. Named first, apart.
	if st := share(main.OffCPUNs[profile.ConsumerStopped]); st >= BottleneckShare {
		return &profile.Diagnosis{Bottleneck: "stopped", Share: st,
			Text:   fmt.Sprintf("auditd's main thread was stopped (state T: SIGSTOP, or a debugger) %s of the recording: a stall imposed on it, not a slow auditd", pct(st)),
			Advice: "find what stops it (a debugger, a SIGSTOP from a script or a supervisor) and resume it (SIGCONT); while it is stopped every record waits or is lost"}
	}

	type cand struct {
		name string
		ns   uint64
	}
	cands := []cand{
		{"sync", main.OffCPUNs[profile.ConsumerSync]},
		{"write", main.OffCPUNs[profile.ConsumerWrite]},
		{"cpu", main.OnCPUNs},
		{"runnable", main.RunnableNs},
		{"lock", main.OffCPUNs[profile.ConsumerLock]},
		{"other", main.OffCPUNs[profile.ConsumerOther] + main.OffCPUNs[profile.ConsumerFault]},
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if c.ns > best.ns {
			best = c
		}
	}
	s := share(best.ns)
	if s < BottleneckShare {
		return &profile.Diagnosis{Bottleneck: "unclear", Share: s,
			Text: fmt.Sprintf("no single cause: auditd's main thread waited for records %s of the recording, and nothing else took %s",
				pct(share(main.OffCPUNs[profile.ConsumerWait])), pct(BottleneckShare))}
	}
	d := &profile.Diagnosis{Bottleneck: best.name, Share: s}
	flush, withFlush := "", ""
	if cfg != nil && cfg.Flush != "" {
		flush = strings.ToLower(cfg.Flush)
		withFlush = " (flush = " + flush + ")"
	}
	switch best.name {
	case "sync":
		d.Text = fmt.Sprintf("auditd spent %s of the recording in %s%s", pct(s), topSyscall(main, profile.ConsumerSync), withFlush)
		switch flush {
		case "sync", "data":
			d.Advice = "flush = incremental_async (with freq) flushes in a thread of its own, so the main thread no longer waits for the disk; or put the log on a faster disk"
		case "incremental":
			d.Advice = "a larger freq flushes less often; flush = incremental_async moves the flushes to a thread of their own"
		default:
			d.Advice = "a faster disk for the log, or fewer flushes"
		}
	case "write":
		d.Text = fmt.Sprintf("auditd spent %s of the recording blocked in %s, writing its log%s", pct(s), topSyscall(main, profile.ConsumerWrite), withFlush)
		switch flush {
		case "sync", "data":
			// auditd opens its log O_SYNC or O_DSYNC in these modes: each
			// write waits for the disk.
			d.Advice = "with flush = " + flush + " every write waits for the disk: flush = incremental_async (with freq) does not; or put the log on a faster disk"
		default:
			d.Advice = "the log's disk is slow: a faster disk, or less written (fewer rules, log_format = RAW)"
		}
	case "cpu":
		d.Text = fmt.Sprintf("auditd was busy on CPU %s of the recording", pct(s))
		if cfg != nil && len(cfg.Plugins) > 0 {
			d.Text += fmt.Sprintf(" (active plugins: %s)", strings.Join(cfg.Plugins, ", "))
		}
		d.Advice = "it needs more CPU than it gets to keep up: fewer records (rules), fewer or cheaper plugins, log_format = RAW"
	case "runnable":
		d.Text = fmt.Sprintf("auditd waited for a CPU %s of the recording (runnable, not running: CPU contention, or its cgroup's CPU quota)", pct(s))
		d.Advice = "more CPU for auditd: a higher priority (priority_boost in auditd.conf), a larger CPU quota, or a CPU of its own"
	case "lock":
		d.Text = fmt.Sprintf("auditd's main thread waited on its other threads (futex) %s of the recording", pct(s))
		if cfg != nil && len(cfg.Plugins) > 0 {
			d.Text += fmt.Sprintf(" (active plugins: %s", strings.Join(cfg.Plugins, ", "))
			if cfg.QDepth != nil {
				d.Text += fmt.Sprintf(", q_depth = %d", *cfg.QDepth)
			}
			d.Text += ")"
		}
		d.Advice = "a plugin queue or a flush thread that does not keep up: a larger q_depth, or a faster plugin"
	default:
		d.Text = fmt.Sprintf("auditd's main thread was asleep %s of the recording outside its log writes (%s)", pct(s), topSyscall(main, profile.ConsumerOther))
	}
	return d
}

// topSyscall names the syscall of the class the thread slept longest in.
func topSyscall(t *profile.ConsumerThread, class string) string {
	for _, s := range t.Syscalls { // longest first
		if s.Class == class {
			return s.Name
		}
	}
	return class
}

// Row is one thread as the summary and the report print it: shares of
// the time it was watched, and its longest sleep.
type Row struct {
	TID, Name                                       string
	OnCPU, Runnable, Wait, Write, Sync, Lock, Other string
	Longest                                         string
	// Shares are the same shares as fractions of the time watched, in
	// the order of Causes (0 when nothing was watched): the report's
	// chart of the thread's time, which must not differ from the table.
	Shares [len(Causes)]float64
}

// Causes names Row.Shares, the columns of the thread's time.
var Causes = [...]string{"on CPU", "runnable (waiting for a CPU)", "waiting for records", "writing the log",
	"syncing the log", "waiting on another thread (lock)", "other"}

// ThreadRow formats t.
func ThreadRow(t profile.ConsumerThread) Row {
	total := t.WatchedNs()
	off := t.OffCPUNs
	ns := [len(Causes)]uint64{t.OnCPUNs, t.RunnableNs, off[profile.ConsumerWait], off[profile.ConsumerWrite],
		off[profile.ConsumerSync], off[profile.ConsumerLock],
		off[profile.ConsumerOther] + off[profile.ConsumerFault] + off[profile.ConsumerUnknown] + off[profile.ConsumerStopped]}
	pc := func(ns uint64) string { return human.Percent(ns, total) }
	r := Row{TID: fmt.Sprint(t.TID), Name: t.Comm, OnCPU: pc(ns[0]), Runnable: pc(ns[1]),
		Wait: pc(ns[2]), Write: pc(ns[3]), Sync: pc(ns[4]), Lock: pc(ns[5]), Other: pc(ns[6]),
		Longest: "-"}
	for i, v := range ns {
		if total > 0 {
			r.Shares[i] = float64(v) / float64(total)
		}
	}
	if t.Main {
		r.Name += " (main)"
	}
	if len(t.Syscalls) > 0 {
		r.Longest = t.Syscalls[0].Name + " " + human.Duration(t.Syscalls[0].Ns)
	}
	return r
}
