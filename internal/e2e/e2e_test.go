// Package e2e proves auditprof's figures on real kernels: it boots Debian's
// 6.1 and 6.12 kernels under qemu with the real auditd and stress-ng, runs
// auditprof in both attach modes, and compares every figure with the
// kernel's own counters (AUDIT_GET, read by auditctl) and with what auditd
// received.
//
// The tests need the VM assets that `make test` prepares
// (scripts/vm-assets.sh); without AUDITPROF_VM_ASSETS they skip.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds the static binaries that go into the guest.
func binaries(t testing.TB) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "auditprof-e2e-")
		if buildErr != nil {
			return
		}
		for out, pkg := range map[string]string{
			"auditprof":  "../../cmd/auditprof",
			"guestcheck": "./guestcheck",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, out), pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return map[string]string{
		"/bin/auditprof":  filepath.Join(buildDir, "auditprof"),
		"/bin/guestcheck": filepath.Join(buildDir, "guestcheck"),
	}
}

// guestPrelude starts the real auditd and waits until it registered.
const guestPrelude = `
auditd || { echo "auditd failed to start"; exit 1; }
wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
uname -r > /tmp/uname; emit uname /tmp/uname
# status_to NAME: the kernel's counters, read by the real auditctl.
status_to() { auditctl -s > /tmp/$1.status; emit $1 /tmp/$1.status; }
# per_key NAME: what auditd received: one line per keyed event,
# "key serial records" (auditd does not log EOE records).
per_key() {
	awk '{ if (match($0, /msg=audit\([0-9.]+:[0-9]+\)/)) { s = substr($0, RSTART+10, RLENGTH-11); n[s]++;
		if ($0 ~ /^type=SYSCALL/ && match($0, / key="[^"]*"/)) k[s] = substr($0, RSTART+6, RLENGTH-7) } }
		END { for (s in n) if (s in k) { split(s, a, ":"); print k[s], a[2], n[s] } }' \
		/var/log/audit/audit.log > /tmp/$1.keys
	emit $1 /tmp/$1.keys
}
# settle: wait until the audit queue is empty.
backlog() { auditctl -s | awk '$1 == "backlog" {print $2}'; }
settle() { for i in $(seq 120); do [ "$(backlog)" = 0 ] && return; sleep 0.5; done; echo "the queue did not empty: $(backlog)"; exit 1; }
# consumer_quota QUOTA: hold auditd to QUOTA microseconds of CPU per 100 ms
# (cgroup v2 cpu.max), or "max" for none: a consumer whose pace does not
# depend on the load, as a disk-bound auditd's is set by its disk. On the
# one vCPU the guests run on, an auditd free to run keeps up with two
# stress-ng openers on 6.1 (the queue never passed 6 at limit 64), so an
# overload needs a slower consumer.
consumer_quota() {
	mkdir -p /sys/fs/cgroup/consumer
	grep -q cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
	echo "$1 100000" > /sys/fs/cgroup/consumer/cpu.max
	echo $(pidof auditd) > /sys/fs/cgroup/consumer/cgroup.procs
}
# overload NAME WAIT_TIME WORKERS: backlog_limit 64, a rule on every openat,
# and more stress-ng openers than auditd keeps up with.
# The rule exists only between the two kernel readings, and both fall
# inside the recording: auditprof's own opens as it starts and ends (at
# limit 64) could otherwise lose a record outside the recording that the
# kernel's delta counts (a CI-like run: 840 counted, 841 in the delta,
# with the profile's own AUDIT_GET delta 840).
overload() {
	auditctl -b 64 --backlog_wait_time $2 >/dev/null
	record $1 --duration 120s
	status_to $1.before
	auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
	stress-ng --open $3 --timeout 3s --quiet
	sleep 2
	auditctl -D >/dev/null
	status_to $1.after
	finish $1
	settle
}
# cmd NAME ARGS...: run auditprof, keep its output and exit code.
cmd() { n=$1; shift; auditprof "$@" > /tmp/$n.out 2>&1; echo $? > /tmp/$n.rc; emit $n.out /tmp/$n.out; emit $n.rc /tmp/$n.rc; }
# record NAME ARGS...: auditprof record in the background, ready when it counts.
record() {
	name=$1; shift
	rm -f /tmp/ready
	auditprof record --attach $MODE $RECORD_FLAGS --ready-file /tmp/ready --output /tmp/$name.json "$@" > /tmp/$name.out 2>&1 &
	AP=$!
	wait_for_file /tmp/ready 60 || { cat /tmp/$name.out; echo "auditprof did not get ready"; exit 1; }
}
# finish NAME: stop auditprof with SIGINT, as Ctrl-C would, and collect.
finish() {
	kill -INT $AP
	wait $AP; echo $? > /tmp/$1.rc
	emit $1.rc /tmp/$1.rc; emit $1.json /tmp/$1.json; emit $1.out /tmp/$1.out
}
`

// guestScenarios runs the four scenarios of the measurement issue.
const guestScenarios = `
# auditd at a fifth of a CPU for the overloads (see consumer_quota).
consumer_quota 20000
# (a) overload, backlog_wait_time 0: a full queue drops at once.
overload a 0 2
# (b) overload with backlog_wait_time 5 jiffies: producers sleep.
overload b 5 3
consumer_quota max
settle

` + guestRules + `
# (d) idle, then Ctrl-C in the middle of a long recording.
record d1 --duration 2s
wait $AP; echo $? > /tmp/d1.rc; emit d1.rc /tmp/d1.rc; emit d1.json /tmp/d1.json
record d2 --duration 600s
sleep 2
finish d2
guestcheck > /tmp/left || echo "guestcheck failed: exit $?" >> /tmp/left; emit left /tmp/left

# HZ with the guest's CPU busy (the guest has no kernel config: HZ comes
# from the jiffies since boot or a measurement).
stress-ng --cpu 2 --timeout 4s --quiet &
sleep 1
cmd hzload status --json
wait
`

// guestRules is scenario (c), checked by checkRules: two keyed rules at
// different rates, a limit and wait time that lose nothing, auditd's log
// emptied first and read per key after the queue emptied. It expects
// auditd free to run (consumer_quota max) and the queue settled.
const guestRules = `# (c) two rules, different keys and rates, nothing lost.
auditctl -b 65536 --backlog_wait_time 15000 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -k hot >/dev/null
auditctl -a always,exit -F arch=b64 -S chdir -k cold >/dev/null
: > /var/log/audit/audit.log
status_to c.before
record c --duration 120s
# The load runs in its own cgroup, as a container's would.
mkdir -p /sys/fs/cgroup/audit-load
echo $$ > /sys/fs/cgroup/audit-load/cgroup.procs
stress-ng --open 1 --chdir 1 --timeout 3s --quiet
echo $$ > /sys/fs/cgroup/cgroup.procs
# Stopped while the queue may still hold the load's records: they count,
# in netlink mode too (it reads on until they are delivered).
finish c
status_to c.after
settle; sleep 1 # auditd writes the rest before its log is read
per_key c.keys
auditctl -D >/dev/null
`

type guestRun struct {
	t        testing.TB
	sections map[string]string
}

// runGuest boots the VM, runs the script and fails the test unless the
// script exited 0.
func runGuest(tb testing.TB, opts vmtest.Options) guestRun {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+time.Minute)
	defer cancel()
	start := time.Now()
	res, err := vmtest.Run(ctx, opts)
	if err != nil {
		if res != nil {
			tb.Fatalf("%v; console:\n%s", err, tail(res.Console, 80))
		}
		tb.Fatal(err)
	}
	tb.Logf("%s: guest ran in %s", opts.Kernel.Name, time.Since(start).Round(time.Second))
	if res.BootRetries > 0 {
		tb.Logf("%s: the kernel panicked while booting, before the script, and was booted again %d time(s)", opts.Kernel.Name, res.BootRetries)
	}
	if res.ExitCode != 0 {
		tb.Fatalf("guest script exited %d; console:\n%s", res.ExitCode, tail(res.Console, 80))
	}
	return guestRun{t: tb, sections: res.Sections}
}

func (g guestRun) section(name string) string {
	g.t.Helper()
	s, ok := g.sections[name]
	if !ok {
		g.t.Fatalf("the guest did not emit %q", name)
	}
	return s
}

func (g guestRun) profile(name string) *profile.Profile {
	g.t.Helper()
	p, err := profile.Decode(strings.NewReader(g.section(name + ".json")))
	if err != nil {
		g.t.Fatalf("%s: %v\n%s", name, err, g.sections[name+".out"])
	}
	return p
}

// status parses `auditctl -s` output.
// delta is how much a counter of auditctl -s moved from NAME.before to
// NAME.after.
func (g guestRun) delta(name, field string) uint64 {
	return g.status(name + ".after")[field] - g.status(name + ".before")[field]
}

func (g guestRun) status(name string) map[string]uint64 {
	g.t.Helper()
	m := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(g.section(name)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

func (g guestRun) exitCode(name string) int {
	g.t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(g.section(name + ".rc")))
	if err != nil {
		g.t.Fatalf("%s: exit code %q", name, g.section(name+".rc"))
	}
	return n
}

// guestSetup returns the VM assets, the guest binaries and the kernels, or
// skips when `make test` did not prepare the assets.
func guestSetup(tb testing.TB) (dir string, files map[string]string, kernels []vmtest.Kernel) {
	tb.Helper()
	dir, ok := vmtest.AssetsDir()
	if !ok {
		tb.Skip("AUDITPROF_VM_ASSETS is not set: run `make test`, which prepares the VM kernels and packages")
	}
	files = binaries(tb)
	kernels, err := vmtest.Kernels(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, files, kernels
}

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
					Script:  "MODE=" + v.mode + "\nRECORD_FLAGS='" + v.flags + "'\n" + guestPrelude + guestScenarios,
					Timeout: 25 * time.Minute})
				checkOverloadDrop(t, g, v.mode, v.taskState)
				checkOverloadWait(t, g)
				checkRules(t, g, "x86_64")
				checkIdleAndInterrupt(t, g)
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
				Script: "MODE=netlink\n" + guestPrelude + guestScenarios, Timeout: 25 * time.Minute})
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
		})
	}
}

// guestSilentDrops stops auditd (SIGSTOP) under load on a kernel booted
// without audit=1: kauditd's unicasts time out, records go to the retry
// queue and from there are freed without the kernel counting them lost.
const guestSilentDrops = `
auditctl -b 64 --backlog_wait_time 0 >/dev/null
# As in overload: the rule exists only between the two kernel readings,
# both inside the recording. Taken outside it, auditprof's own opens as it
# stopped (auditd just resumed, the queue still full) lost records the
# kernel's delta counted and the recording could not: 77643 against 77646.
record e --duration 120s
status_to e.before
auditctl -a always,exit -F arch=b64 -S openat -k load >/dev/null
AUDITD=$(auditctl -s | awk '$1=="pid"{print $2}')
kill -STOP $AUDITD
stress-ng --open 1 --timeout 3s --quiet
sleep 4
kill -CONT $AUDITD
sleep 2
auditctl -D >/dev/null
status_to e.after
finish e
`

// TestSilentDrops: the drops the kernel's lost counter misses are counted.
func TestSilentDrops(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, NoAuditBootArg: true,
				Script: "MODE=auto\n" + guestPrelude + guestSilentDrops, Timeout: 20 * time.Minute})
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
	if len(p.Processes) == 0 || !strings.HasPrefix(p.Processes[0].Comm, "stress-ng") {
		t.Errorf("(a) first process is %+v, want stress-ng", first(p.Processes))
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
	for i := range p.Timeline.Lost {
		lost += p.Timeline.Lost[i]
		queued += p.Timeline.Queued[i]
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
	const field = "backlog_wait_time_actual"
	if _, ok := g.status("b.after")[field]; !ok {
		t.Fatalf("(b) auditctl -s shows no %s", field)
	}
	if p.HZ <= 0 {
		t.Fatalf("(b) hz = %d", p.HZ)
	}
	jiffyNs := 1e9 / float64(p.HZ)
	kernelJiffies := g.delta("b", field)
	kernelNs := float64(kernelJiffies) * jiffyNs
	ours := float64(p.Totals.WaitNs)
	diff := math.Abs(ours - kernelNs)
	t.Logf("(b) waits=%d wait_ns=%.0f (blocked_ns=%d) kernel=%.0f ns (%d jiffies at HZ=%d) diff=%.2f%% lost=%d",
		p.Totals.Waits, ours, p.Totals.BlockedNs, kernelNs, kernelJiffies, p.HZ, 100*diff/math.Max(kernelNs, 1), p.Totals.Lost)
	if p.Totals.Waits == 0 || kernelNs == 0 {
		t.Fatalf("(b) no backlog waits happened (ours %d, kernel %.0f ns): the scenario did not block producers", p.Totals.Waits, kernelNs)
	}
	if diff > 0.02*kernelNs && diff > float64(p.Totals.Waits)*jiffyNs/10 {
		t.Errorf("(b) wait_ns %.0f vs kernel %.0f: off by %.2f%%, more than 2%% and more than a tenth of a jiffy per wait (%d waits)",
			ours, kernelNs, 100*diff/kernelNs, p.Totals.Waits)
	}
	if lost := g.delta("b", "lost"); p.Totals.Lost != lost {
		t.Errorf("(b) totals.lost = %d, kernel lost delta = %d", p.Totals.Lost, lost)
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

// receivedPerKey sums per_key's lines into (events, records) per key, for
// the events of p's recording only: those whose audit serial lies in the
// range of serials the recording counted (auditprof's own start-up and the
// auditctl calls around it make records too). Serials, not timestamps:
// an event's serial is taken when its first record is made, in the order
// events begin, where auditd's timestamps and the recording's clock
// window disagree at the edges (a time window counted 419 events where
// auditd had 412).
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

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
