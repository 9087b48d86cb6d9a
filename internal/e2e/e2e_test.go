// Package e2e proves auditprof's figures on real kernels: it boots Debian's
// 6.1 and 6.12 kernels under qemu with the real auditd and stress-ng, runs
// auditprof in both attach modes, and compares every figure with the
// kernel's own counters (AUDIT_GET, read by auditctl) and with what auditd
// received.
//
// What each guest runs is a script in testdata/: prelude.sh (auditd, and
// the helpers the scenarios share) and keyed-rules.sh, then the test's own
// (guestScript in guest_test.go); a test hands its values to the script
// with vmtest.Options.Vars. `make lint-sh` checks them with shellcheck.
//
// The tests need the VM assets that `make test` prepares
// (scripts/vm-assets.sh); without AUDITPROF_VM_ASSETS they skip.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// TestScenarios runs every scenario on both kernels in both attach modes.
func TestScenarios(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		for _, v := range []struct {
			name, mode, flags, taskState string
		}{
			{"fentry", "fentry", "", "task-storage"},
			{"kprobe", "kprobe", "", "task-storage"},
			// Kernels before 5.12 (RHEL 8's 4.18) keep per-call state in
			// the inflight hash: the same figures must come out of it.
			{"kprobe-hash", "kprobe", "--task-state hash", "hash"},
		} {
			t.Run(k.Name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
					Vars:   map[string]string{"MODE": v.mode, "RECORD_FLAGS": v.flags},
					Script: guestScript(scenariosSh), Timeout: 25 * time.Minute})
				checkOverloadDrop(t, g, v.mode, v.taskState)
				checkOverloadWait(t, g)
				checkPenalty(t, g, v.mode)
				checkRules(t, g, "x86_64")
				checkIdleAndInterrupt(t, g)
				checkKilled(t, g, v.mode)
				checkHZUnderLoad(t, g)
			})
		}
	}
}

// TestNetlink runs the scenarios with record --attach netlink, the mode a
// kernel where nothing attaches gets: what it claims must be as true as
// the BPF figures, on the kernel's lost counter and on auditd's log.
func TestNetlink(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars: map[string]string{"MODE": "netlink"}, Script: guestScript(scenariosSh), Timeout: 25 * time.Minute})
			for _, name := range []string{"a", "b"} {
				p := g.profile(name)
				if p.Attach != profile.AttachNetlink {
					t.Errorf("(%s) attach %q", name, p.Attach)
				}
				if lost := g.delta(name, "lost"); p.Totals.Lost != lost {
					t.Errorf("(%s) totals.lost = %d, kernel lost delta = %d", name, p.Totals.Lost, lost)
				}
				t.Logf("(%s) delivered %d, lost %d (kernel %d), max depth sampled %d", name, p.Totals.Delivered, p.Totals.Lost,
					g.delta(name, "lost"), p.Totals.MaxDepth)
			}
			if g.delta("a", "lost") == 0 {
				t.Error("(a) the kernel lost nothing: not an overload")
			}
			p := g.profile("c")
			ours, received := perKey(p), receivedPerKey(t, g.section("c.keys"), p)
			if p.Netlink == nil {
				t.Fatal("(c) a netlink profile without its netlink account")
			}
			missed := p.Netlink.Missed
			var lastBacklog uint32
			if p.AuditAfter != nil {
				lastBacklog = p.AuditAfter.Backlog
			}
			t.Logf("(c) ours (events, records) %v; auditd received %v in the window; netlink %+v; backlog %d at the stop; notes %q",
				ours, received, *p.Netlink, lastBacklog, p.Notes)
			// What was queued at the stop was received after it (less
			// the few records of auditprof's own AUDIT_GET between the
			// stop and that reading, begun after the stop), and the drain
			// finished.
			if p.Netlink.LeftInQueue != 0 || p.Netlink.AfterStop+50 < uint64(lastBacklog) {
				t.Errorf("(c) %d records queued at the stop; received after it %d, left %d", lastBacklog, p.Netlink.AfterStop, p.Netlink.LeftInQueue)
			}
			if p.Netlink.AfterStop > 0 && !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.Contains(n, "records of events begun before the stop") }) {
				t.Errorf("(c) %d records received after the stop, and no note says so", p.Netlink.AfterStop)
			}
			if want := fmt.Sprintf("auditprof: stopped; receiving the %d records still in the kernel's audit queue (at most 10s)", lastBacklog); lastBacklog > 0 && !strings.Contains(g.section("c.out"), want) {
				t.Errorf("(c) record did not say %q: %s", want, g.section("c.out"))
			}
			// The multicast group's socket can overflow under load
			// (records kauditd sent that this socket had no room for):
			// over the recording's serial range netlink counts may fall
			// short of auditd's log by the records the profile says were
			// missed, and by nothing else; never above it.
			var short uint64
			for _, key := range []string{"hot", "cold"} {
				o, r := ours[key], received[key]
				rec := r[1] + r[0] // auditd does not log EOE records
				if r[0] == 0 || o[0] > r[0] || o[1] > rec {
					t.Errorf("(c) key %q: %d events and %d records received over netlink, auditd wrote %d events and %d records plus %d EOE",
						key, o[0], o[1], r[0], r[1], r[0])
				}
				if o[1] < rec {
					short += rec - o[1]
				}
			}
			if short > missed {
				t.Errorf("(c) netlink counted %d records fewer than auditd wrote, more than the %d its profile says the socket missed", short, missed)
			}
			if p.Netlink.Overruns > 0 && missed == 0 {
				t.Errorf("(c) %d ENOBUFS, and no record missed", p.Netlink.Overruns)
			}
			checkIdleAndInterrupt(t, g)
			checkNetlinkSenders(t, g)
		})
	}
}

// checkNetlinkSenders: netlink mode's d5 changed the limit three times
// (B -> 4321 -> 4322 within a second, then back to B), each by an
// auditctl: each change is in the profile as the kernel logged it, in
// order, with its sender's pid and comm from the event's SYSCALL record.
func checkNetlinkSenders(t *testing.T, g guestRun) {
	t.Helper()
	p := g.profile("d5")
	b, err := strconv.ParseUint(strings.TrimSpace(g.section("d5.limit")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uint64{{b, 4321}, {4321, 4322}, {4322, b}}
	var got [][2]uint64
	for _, c := range p.Settings {
		t.Logf("(d5) %s", c.Describe(p.Timeline.StartNs))
		if c.Field != profile.SettingBacklogLimit {
			continue
		}
		got = append(got, [2]uint64{c.Old, c.New})
		if c.Seen != profile.SeenKernel || c.By == nil || c.By.Comm != "auditctl" || c.By.Tgid == 0 {
			t.Errorf("(d5) %+v by %+v: want seen by the kernel, sent by auditctl with its pid", c, c.By)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("(d5) the limit's changes %v, want %v", got, want)
	}
}

// TestSilentDrops: the drops the kernel's lost counter misses are counted.
func TestSilentDrops(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, NoAuditBootArg: true,
				Vars: map[string]string{"MODE": "auto"}, Script: guestScript(silentDropsSh), Timeout: 20 * time.Minute})
			p := g.profile("e")
			kernelLost := g.delta("e", "lost")
			t.Logf("(e) records=%d queued=%d lost=%d kernel lost delta=%d silent=%d retry_queued=%d hold_queued=%d max retry depth=%d reasons=%v",
				p.Totals.Records, p.Totals.Queued, p.Totals.Lost, kernelLost, p.Totals.SilentDrops,
				p.Totals.RetryQueued, p.Totals.HoldQueued, p.Totals.MaxRetryDepth, p.Totals.LostByReason)
			if p.Totals.Lost != kernelLost {
				t.Errorf("(e) totals.lost = %d, kernel lost delta = %d", p.Totals.Lost, kernelLost)
			}
			if p.Totals.SilentDrops == 0 {
				t.Errorf("(e) no silent drops counted while auditd was stopped on a kernel booted without audit=1")
			}
			// Every record kauditd freed was dequeued from the audit queue first.
			if p.Totals.SilentDrops > p.Totals.Drained {
				t.Errorf("(e) %d silent drops but only %d records drained", p.Totals.SilentDrops, p.Totals.Drained)
			}
			if p.Totals.RetryQueued == 0 {
				t.Errorf("(e) nothing went to the retry queue while auditd was stopped")
			}
			// Every record queued left as received, a kauditd loss
			// (its retry or hold queue full) or a silent drop, or is
			// still on one of the three queues (the main queue's
			// backlog is in the profile's AUDIT_GET; the retry and
			// hold queues' are not readable from user space).
			var kauditdLost, received uint64
			if p.Consumer != nil {
				received = p.Consumer.Received
			}
			for r, n := range p.Totals.LostByReason {
				if strings.HasPrefix(r, "kauditd ") {
					kauditdLost += n
				}
			}
			t.Logf("(e) balance: queued %d; received %d + kauditd losses %d + silent %d = %d; drained %d",
				p.Totals.Queued, received, kauditdLost, p.Totals.SilentDrops,
				received+kauditdLost+p.Totals.SilentDrops, p.Totals.Drained)
			if out := received + kauditdLost + p.Totals.SilentDrops; out > p.Totals.Queued {
				t.Errorf("(e) %d records left the queues (received, kauditd losses, silent drops), only %d were queued", out, p.Totals.Queued)
			}
		})
	}
}

func checkAttach(t *testing.T, p *profile.Profile, mode, taskState string) {
	t.Helper()
	if p.Attach != mode {
		t.Errorf("attach = %q, want %q (note: %s)", p.Attach, mode, p.AttachNote)
	}
	if p.TaskState != taskState {
		t.Errorf("task_state = %q, want %s", p.TaskState, taskState)
	}
	for _, ap := range p.AttachPoints {
		if !ap.Attached {
			t.Errorf("%s (%s) not attached: %s", ap.Program, ap.Symbol, ap.Error)
		}
		if ap.Note != "" {
			t.Errorf("%s (%s): %s", ap.Program, ap.Symbol, ap.Note)
		}
	}
	// Debian's kernels have data symbols in kallsyms and an unsplit
	// audit_log_end with one skb per buffer: the enqueue is counted there.
	checkEnqueueHook(t, p, "audit_log_end")
}

// checkEnqueueHook: the profile's attach points hold the enqueue hook
// want (audit_log_end or skb_queue_tail) and not the other.
func checkEnqueueHook(t *testing.T, p *profile.Profile, want string) {
	t.Helper()
	has := map[string]bool{}
	for _, ap := range p.AttachPoints {
		has[ap.Symbol] = true
	}
	other := "skb_queue_tail"
	if want == other {
		other = "audit_log_end"
	}
	if !has[want] || has[other] {
		t.Errorf("enqueue hook: attach points have %s %v and %s %v, want only %s", want, has[want], other, has[other], want)
	}
	if want == "audit_log_end" && !has["kauditd_retry_skb"] {
		t.Errorf("enqueue at audit_log_end without kauditd_retry_skb in the attach points")
	}
}

// firstOwnRow is the first process row that is a process (not the
// short-lived row nor "other"), nil if none.
func firstOwnRow(ps []profile.Process) *profile.Process {
	for i := range ps {
		if ps[i].Tgid != 0 {
			return &ps[i]
		}
	}
	return nil
}

// (a): totals.lost equals the kernel's lost delta exactly, per-process lost
// sums to it, and the load generator ranks first.
func checkOverloadDrop(t *testing.T, g guestRun, mode, taskState string) {
	p := g.profile("a")
	checkAttach(t, p, mode, taskState)
	if rc := g.exitCode("a"); rc != 0 {
		t.Errorf("(a) record exited %d", rc)
	}
	kernelLost := g.delta("a", "lost")
	t.Logf("(a) records=%d queued=%d lost=%d kernel lost delta=%d drained=%d max_depth=%d silent=%d reasons=%v",
		p.Totals.Records, p.Totals.Queued, p.Totals.Lost, kernelLost, p.Totals.Drained, p.Totals.MaxDepth,
		p.Totals.SilentDrops, p.Totals.LostByReason)
	if kernelLost == 0 {
		t.Fatalf("(a) the load lost nothing: the scenario did not overload the backlog")
	}
	if p.Totals.Lost != kernelLost {
		t.Errorf("(a) totals.lost = %d, kernel lost delta (auditctl -s) = %d", p.Totals.Lost, kernelLost)
	}
	if p.AuditBefore == nil || p.AuditAfter == nil || uint64(p.AuditAfter.Lost-p.AuditBefore.Lost) != p.Totals.Lost {
		t.Errorf("(a) profile's own AUDIT_GET delta disagrees with totals.lost %d: before %+v after %+v", p.Totals.Lost, p.AuditBefore, p.AuditAfter)
	}
	var sum uint64
	for _, pr := range p.Processes {
		sum += pr.Lost
	}
	if sum != p.Totals.Lost {
		t.Errorf("(a) per-process lost sums to %d, totals.lost = %d", sum, p.Totals.Lost)
	}
	// The load generator ranks first by program, and first among the
	// processes with a row of their own: the short-lived row (each
	// worker's first ProcessMinAge) is not a process, and on a short
	// overload it can hold as much as one worker's row (arm64: 38,595
	// records there, two workers' rows beside it).
	if len(p.ByProgram) == 0 || !strings.HasPrefix(p.ByProgram[0].Comm, "stress-ng") {
		t.Errorf("(a) first program is %+v, want stress-ng", first(p.ByProgram))
	}
	if pr := firstOwnRow(p.Processes); pr == nil || !strings.HasPrefix(pr.Comm, "stress-ng") {
		t.Errorf("(a) first process with a row of its own is %+v, want stress-ng", pr)
	}
	if n := p.Totals.LostByReason["backlog limit exceeded"]; n == 0 {
		t.Errorf("(a) no loss classified as backlog limit exceeded: %v", p.Totals.LostByReason)
	}
	if p.Totals.MaxDepth < 64 {
		t.Errorf("(a) max_depth %d never reached backlog_limit 64", p.Totals.MaxDepth)
	}
	if p.Totals.Queued == 0 || p.Totals.BytesQueued/p.Totals.Queued < 2048 {
		t.Errorf("(a) implausible record size: %d bytes over %d records", p.Totals.BytesQueued, p.Totals.Queued)
	}
	// Everything accepted is queued, and kauditd drained it all by the end.
	if p.Totals.Records != p.Totals.Queued+lostInStart(p) {
		t.Errorf("(a) records %d != queued %d + lost in audit_log_start %d", p.Totals.Records, p.Totals.Queued, lostInStart(p))
	}
	// kauditd drained what was queued (counted per pass: exact once no
	// producer is mid-enqueue; records queued before counting began, if any,
	// are drained too).
	if !within(p.Totals.Drained, p.Totals.Queued, 0.001) {
		t.Errorf("(a) drained %d, queued %d", p.Totals.Drained, p.Totals.Queued)
	}
	checkTimeline(t, "(a)", p)
}

func lostInStart(p *profile.Profile) uint64 {
	return p.Totals.LostByReason["backlog limit exceeded"] + p.Totals.LostByReason["out of memory in audit_log_start"]
}

// checkTimeline: the series add up to the totals they break down.
func checkTimeline(t *testing.T, name string, p *profile.Profile) {
	t.Helper()
	var lost, queued uint64
	// A profile read from its file keeps the timeline as its rows (the
	// buckets where something happened): every other bucket is zero.
	rows, err := p.Timeline.Rows()
	if err != nil {
		t.Fatalf("%s: reading timeline rows: %v", name, err)
	}
	for _, b := range rows {
		lost += b.Lost
		queued += b.Queued
	}
	if p.Timeline.MissedBuckets != 0 || p.Overflows.TimelineLate != 0 {
		t.Errorf("%s timeline missed %d buckets, %d late events", name, p.Timeline.MissedBuckets, p.Overflows.TimelineLate)
	}
	if lost != p.Totals.Lost || queued != p.Totals.Queued {
		t.Errorf("%s timeline sums lost=%d queued=%d, totals lost=%d queued=%d", name, lost, queued, p.Totals.Lost, p.Totals.Queued)
	}
}

// (b): totals.wait_ns agrees with the kernel's backlog_wait_time_actual
// delta within 2%, or within one jiffy per wait (the kernel counts whole
// jiffies).
func checkOverloadWait(t *testing.T, g guestRun) {
	p := g.profile("b")
	checkWaitExact(t, g, "b", 0)
	if t.Failed() {
		return
	}
	var hist uint64
	for _, b := range p.WaitHistogramNs {
		hist += b.Count
	}
	if hist != p.Totals.Waits {
		t.Errorf("(b) wait histogram holds %d waits, totals.waits = %d", hist, p.Totals.Waits)
	}
	checkTimeline(t, "(b)", p)
}

// checkWaitExact compares recording name's wait_ns with the kernel's
// backlog_wait_time_actual over it: both are the jiffies each sleep in
// audit_log_start's backlog loop took (timeout less schedule_timeout's
// return), so they agree unless a sleep's return was missed (a kretprobe
// without an instance), which leaves at most a tenth of a jiffy a wait
// here; and by at most maxDiffNs where that is given (non-zero).
func checkWaitExact(t *testing.T, g guestRun, name string, maxDiffNs float64) {
	t.Helper()
	p := g.profile(name)
	const field = "backlog_wait_time_actual"
	if _, ok := g.status(name + ".after")[field]; !ok {
		t.Fatalf("(%s) auditctl -s shows no %s", name, field)
	}
	if p.HZ <= 0 {
		t.Fatalf("(%s) hz = %d", name, p.HZ)
	}
	jiffyNs := 1e9 / float64(p.HZ)
	kernelJiffies := g.delta(name, field)
	kernelNs := float64(kernelJiffies) * jiffyNs
	ours := float64(p.Totals.WaitNs)
	diff := math.Abs(ours - kernelNs)
	t.Logf("(%s) waits=%d wait_ns=%.0f (blocked_ns=%d) kernel=%.0f ns (%d jiffies at HZ=%d) diff=%.2f%% lost=%d",
		name, p.Totals.Waits, ours, p.Totals.BlockedNs, kernelNs, kernelJiffies, p.HZ, 100*diff/math.Max(kernelNs, 1), p.Totals.Lost)
	if p.Totals.Waits == 0 || kernelNs == 0 {
		t.Fatalf("(%s) no backlog waits happened (ours %d, kernel %.0f ns): the scenario did not block producers", name, p.Totals.Waits, kernelNs)
	}
	if diff > 0.02*kernelNs && diff > float64(p.Totals.Waits)*jiffyNs/10 {
		t.Errorf("(%s) wait_ns %.0f vs kernel %.0f: off by %.2f%%, more than 2%% and more than a tenth of a jiffy per wait (%d waits)",
			name, ours, kernelNs, 100*diff/kernelNs, p.Totals.Waits)
	}
	if maxDiffNs > 0 && diff > maxDiffNs {
		t.Errorf("(%s) wait_ns %.0f vs kernel %.0f: off by %.0f ns, more than %.0f", name, ours, kernelNs, diff, maxDiffNs)
	}
	if lost := g.delta(name, "lost"); p.Totals.Lost != lost {
		t.Errorf("(%s) totals.lost = %d, kernel lost delta = %d", name, p.Totals.Lost, lost)
	}
}

// checkPenalty: (e) is (b) with a sender of AUDIT_GET between audited
// opens (auditget). audit_receive puts a sender that finds the queue over
// the limit to sleep on audit_backlog_wait, the backlog wait's own queue,
// and backlog_wait_time_actual leaves that sleep out. Each penalty is
// followed by the sender's audited open, whose record would carry the
// penalty's sleep into wait_ns if auditprof took it for a backlog wait
// (with fentry, where the wait is opened at add_wait_queue_exclusive and
// audit_receive's exit must close it): so wait_ns must stay within half
// the penalties' time of the kernel's figure.
//
// With fentry, Debian's 6.1 and 6.12 run audit_log_start's fexit alone
// (checkFexitAlone): the path this scenario is about.
func checkPenalty(t *testing.T, g guestRun, mode string) {
	if mode == "fentry" {
		checkFexitAlone(t, "(e)", g.profile("e"))
	}
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(g.section("e.get")), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				got[f[0]] = v
			}
		}
	}
	if rc := g.exitCode("e.get"); rc != 0 {
		t.Fatalf("(e) auditget exited %d: %s", rc, g.section("e.get"))
	}
	t.Logf("(e) auditget: %d requests, %d penalized, %.1f ms asleep in them", got["requests"], got["penalized"], float64(got["penalized_ns"])/1e6)
	// Each penalty sleeps up to backlog_wait_time (5 jiffies) or until
	// kauditd wakes the queue: a few dozen in the 3 s of load are enough
	// to stand out from the figures' agreement.
	if got["penalized"] < 10 {
		t.Fatalf("(e) %d of %d AUDIT_GET requests slept: the scenario did not penalize the sender", got["penalized"], got["requests"])
	}
	checkWaitExact(t, g, "e", float64(got["penalized_ns"])/2)
}

// checkFexitAlone asserts that p was recorded with audit_log_start's fexit
// alone (probe.startEntry): no program on its entry, and the two that
// stand in for it where it opened a backlog wait, on
// add_wait_queue_exclusive and audit_receive's exit, attached. Kernels
// whose kallsyms has audit_backlog_wait (Debian's, amd64 and arm64) run
// it; a test of its waits on such a kernel proves nothing if another
// path ran.
func checkFexitAlone(t *testing.T, what string, p *profile.Profile) {
	t.Helper()
	attached := map[string]bool{}
	for _, ap := range p.AttachPoints {
		if ap.Attached {
			attached[ap.Program] = true
		}
	}
	if attached["fentry_audit_log_start"] || !attached["fexit_audit_log_start"] ||
		!attached["fentry_add_wait_queue_exclusive"] || !attached["fexit_audit_receive"] {
		t.Errorf("%s not recorded with audit_log_start's fexit alone: attached %v", what, slices.Sorted(maps.Keys(attached)))
	}
}

// receivedPerKey sums per_key's lines into (events, records) per key, for
// the events of p's recording only: those whose audit serial lies in the
// range of serials the recording counted (auditprof's own start-up and the
// auditctl calls around it make records too). Serials, not timestamps:
// an event's serial is taken when its first record is made, in the order
// events begin, where auditd's timestamps and the recording's clock
// window disagree at the edges.
func receivedPerKey(t *testing.T, keys string, p *profile.Profile) map[string][2]uint64 {
	t.Helper()
	if p.Totals.FirstSerial == 0 || p.Totals.LastSerial < p.Totals.FirstSerial {
		t.Fatalf("the profile names no serial range (first %d, last %d)", p.Totals.FirstSerial, p.Totals.LastSerial)
	}
	received := map[string][2]uint64{}
	sc := bufio.NewScanner(strings.NewReader(keys))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		serial, _ := strconv.ParseUint(f[1], 10, 64)
		r, _ := strconv.ParseUint(f[2], 10, 64)
		if serial < p.Totals.FirstSerial || serial > p.Totals.LastSerial {
			continue
		}
		v := received[f[0]]
		received[f[0]] = [2]uint64{v[0] + 1, v[1] + r}
	}
	return received
}

// perKey sums the profile's rows into (events, records) per key, as
// receivedPerKey does with auditd's log.
func perKey(p *profile.Profile) map[string][2]uint64 {
	ours := map[string][2]uint64{}
	for _, r := range p.Rules {
		if r.Key != "" {
			v := ours[r.Key]
			ours[r.Key] = [2]uint64{v[0] + r.Events, v[1] + r.Records}
		}
	}
	return ours
}

// (c): rules rank right and their counts equal what auditd received per
// key, event for event, over the recording's serial range; the keyed rows
// name arch, the guest's AUDIT_ARCH (x86_64, aarch64).
func checkRules(t *testing.T, g guestRun, arch string) {
	p := g.profile("c")
	if lost := g.delta("c", "lost"); lost != 0 {
		t.Errorf("(c) the kernel lost %d records; this scenario must lose none", lost)
	}
	received := receivedPerKey(t, g.section("c.keys"), p)
	ours := perKey(p)
	t.Logf("(c) ours (events, records) %v; auditd received %v over serials %d-%d", ours, received, p.Totals.FirstSerial, p.Totals.LastSerial)
	for _, key := range []string{"hot", "cold"} {
		o, r := ours[key], received[key]
		if r[0] == 0 {
			t.Errorf("(c) auditd received no %q events", key)
			continue
		}
		// Nothing is lost here and every event in the range was counted
		// while counting was on: exact. auditd does not write EOE
		// records: one per event.
		if o[0] != r[0] || o[1] != r[1]+r[0] {
			t.Errorf("(c) key %q: %d events and %d records counted; auditd received %d events and %d records plus %d EOE",
				key, o[0], o[1], r[0], r[1], r[0])
		}
	}
	if ours["hot"][0] <= ours["cold"][0] || received["hot"][0] <= received["cold"][0] {
		t.Errorf("(c) expected hot > cold: ours %v, received %v", ours, received)
	}
	var keyed []string
	for _, r := range p.Rules {
		if r.Key == "hot" || r.Key == "cold" {
			keyed = append(keyed, r.Key)
		}
	}
	if len(keyed) == 0 || keyed[0] != "hot" {
		t.Errorf("(c) rules ranked %v, want hot first", keyed)
	}
	// The load's processes are named by their cgroup v2 path.
	for _, pr := range p.Processes {
		if strings.HasPrefix(pr.Comm, "stress-ng") && pr.Cgroup != "/audit-load" {
			t.Errorf("(c) %s (%d) in cgroup %q (id %d), want /audit-load", pr.Comm, pr.Tgid, pr.Cgroup, pr.CgroupID)
		}
	}
	// Each keyed row is joined to the one loaded rule it came from, with
	// its arch and syscall named.
	want := map[string]string{"hot": "openat", "cold": "chdir"}
	for _, r := range p.Rules {
		sc, ok := want[r.Key]
		if !ok {
			continue
		}
		if r.Arch != arch || r.SyscallName != sc || len(r.Matches) != 1 {
			t.Errorf("(c) row %+v: want arch %s, syscall %s, one matching rule (loaded: %+v)", r, arch, sc, p.LoadedRules)
			continue
		}
		var text string
		for _, l := range p.LoadedRules {
			if l.Index == r.Matches[0] {
				text = l.Text
			}
		}
		if !strings.Contains(text, "-S "+sc) || !strings.Contains(text, "key="+r.Key) {
			t.Errorf("(c) key %s joined to rule %d %q", r.Key, r.Matches[0], text)
		}
	}
}

func within(got, want uint64, frac float64) bool {
	return math.Abs(float64(got)-float64(want)) <= frac*float64(want)
}

// (d): an idle recording and one interrupted mid-run both give a valid
// profile and a clean exit, and nothing stays attached.
func checkIdleAndInterrupt(t *testing.T, g guestRun) {
	if rc := g.exitCode("d1"); rc != 0 {
		t.Errorf("(d) idle record exited %d", rc)
	}
	idle := g.profile("d1")
	if idle.DurationNs < int64(2*time.Second) || idle.DurationNs > int64(5*time.Second) {
		t.Errorf("(d) idle recording lasted %s, asked for 2s", time.Duration(idle.DurationNs))
	}
	if rc := g.exitCode("d2"); rc != 0 {
		t.Errorf("(d) interrupted record exited %d:\n%s", rc, g.sections["d2.out"])
	}
	p := g.profile("d2")
	if p.DurationNs > int64(30*time.Second) {
		t.Errorf("(d) SIGINT did not stop the recording: it lasted %s", time.Duration(p.DurationNs))
	}
	if left := strings.TrimSpace(g.section("left")); left != "" {
		t.Errorf("(d) left on the kernel after auditprof exited:\n%s", left)
	}
	if b, err := json.Marshal(p); err != nil || len(b) == 0 {
		t.Errorf("(d) profile does not re-encode: %v", err)
	}
}

// (d3): a recording killed outright (SIGKILL, the OOM killer, a lost
// session) leaves its journal, which holds every bucket read before the
// kill (issue 14: a recording killed at hour 23 keeps its first 23 hours):
// its SYSCALL records are the events of key d3 auditd logged (the load's,
// and the rule's addition and removal), it spans the
// recording up to its last poll, it reads as a profile
// that recommend sizes from, and record refuses to overwrite it.
func checkKilled(t *testing.T, g guestRun, mode string) {
	if files := strings.Fields(g.section("d3.files")); !slices.Equal(files, []string{"journal"}) {
		t.Fatalf("(d3) after SIGKILL the guest has %q, want the journal and no profile", files)
	}
	p := g.profile("d3")
	auditd, err := strconv.ParseUint(strings.TrimSpace(g.section("d3.auditd")), 10, 64)
	if err != nil || auditd < 400 {
		t.Fatalf("(d3) auditd logged %q events with key d3, want at least the load's 400 (%v)", g.section("d3.auditd"), err)
	}
	// The load, then 3 s before the kill: the polls' end lines cover them.
	if p.DurationNs < int64(2*time.Second) {
		t.Errorf("(d3) the journal spans %s, want at least the 2 s of the 3 s before the kill that the polls had read", time.Duration(p.DurationNs))
	}
	if p.Totals.Events != auditd {
		t.Errorf("(d3) the journal holds %d events, auditd logged %d with key d3", p.Totals.Events, auditd)
	}
	if p.Totals.Records < p.Totals.Events || p.Totals.Queued == 0 || p.Totals.Drained == 0 {
		t.Errorf("(d3) journal totals %+v: records, queued and drained should all be counted", p.Totals)
	}
	if !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.Contains(n, "did not finish") }) {
		t.Errorf("(d3) the journal read as a profile does not say it is one: notes %q", p.Notes)
	}
	if rc := g.exitCode("d3r"); rc != 0 {
		t.Errorf("(d3) recommend on the journal exited %d:\n%s", rc, g.section("d3r.out"))
	}
	if rc, out := g.exitCode("d3again"), g.section("d3again.out"); rc != 2 || !strings.Contains(out, "did not finish") {
		t.Errorf("(d3) record over the journal exited %d, want 2 and the reason:\n%s", rc, out)
	}
	// Kretprobes are made through tracefs, which only a process that
	// exits removes them from; the next recording sweeps them (the (d)
	// check that nothing is left runs after it).
	left, _ := strconv.Atoi(strings.TrimSpace(g.section("d3.kprobes")))
	out := g.section("d4.out")
	swept := strings.Contains(out, "kprobe events an auditprof that did not exit (killed) left in tracefs")
	switch {
	case g.exitCode("d4") != 0:
		t.Errorf("(d3) the recording after the kill exited %d:\n%s", g.exitCode("d4"), out)
	case mode == "kprobe" && (left == 0 || !swept):
		t.Errorf("(d3) after the kill %d auditprof kprobe events were in tracefs, want some; the next recording said:\n%s", left, out)
	case mode != "kprobe" && (left != 0 || swept):
		t.Errorf("(d3) %s mode left %d kprobe events; the next recording said:\n%s", mode, left, out)
	}
	t.Logf("(d3) kprobe events left by the kill: %d; the next recording: %s", left, strings.TrimSpace(out))
}

// checkHZUnderLoad: status reads the guest kernel's HZ (250, Debian's
// CONFIG_HZ) right while the guest's CPU is busy, and says where from.
func checkHZUnderLoad(t *testing.T, g guestRun) {
	var st struct {
		HZ     int    `json:"hz"`
		Source string `json:"hz_source"`
		Note   string `json:"hz_note"`
	}
	if rc := g.exitCode("hzload"); rc != 0 {
		t.Fatalf("status under load exited %d: %s", rc, g.section("hzload.out"))
	}
	if err := json.Unmarshal([]byte(g.section("hzload.out")), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	t.Logf("HZ under load: %d from %s %s", st.HZ, st.Source, st.Note)
	if st.HZ != 250 || st.Source == "" {
		t.Errorf("status under load: HZ %d from %q (%s), want 250", st.HZ, st.Source, st.Note)
	}
}
