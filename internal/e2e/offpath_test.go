package e2e

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

// TestOffPath's fixed amounts of work, none of them audited (no rule is
// loaded): each about 1.5 guest s a round without auditprof.
const (
	offPathPipes    = 100000 // stress-ng --pipe-ops
	offPathUnix     = 20000  // stress-ng --sockpair-ops
	offPathSwitches = 100000 // stress-ng --switch-ops
	// offPathRounds rounds of every mode, each against its own none run.
	offPathRounds = 3
	// offPathBound is the most auditprof may cost on work off the audit
	// path: the median over rounds of each round's guest time against the
	// same round's none run (issue 14).
	offPathBound = 1.01
	// offPathMinNone: a none round shorter than this (guest s) did not do
	// its work (a stressor that fails at once), and would make any mode
	// look free or dear.
	offPathMinNone = 0.3
)

// offPathMiss is a (kernel, load, mode) where offPathBound is not met
// today (issue 14 asks to say where the time goes when a goal is not met):
// the test asserts bound there instead, and says why in its output.
type offPathMiss struct {
	bound float64
	why   string
}

// offPathMisses, by "kernel load mode". 6.1's AF_UNIX waits with kprobes:
// unix_stream_data_wait sleeps in schedule_timeout, which auditprof hooks
// at entry and return to count the backlog wait in the kernel's own
// jiffies (audit_log_start adds rtime - schedule_timeout's return to
// backlog_wait_time_actual). The programs return at once for a task not
// in audit_log_start, but a kprobe and a kretprobe are paid on every
// call: about 19,000 calls a recording of this load, 1.0128 against
// fentry/fexit's 1.0051 (docs/testing.md). Exact waits need the return
// value; the bound asserted is kprobe mode's goal on the audit path.
var offPathMisses = map[string]offPathMiss{
	"6.1 unix kprobe": {bound: 1.04, why: "schedule_timeout's kprobe and kretprobe run on every AF_UNIX wait (unix_stream_data_wait)"},
}

// offPathLoads are the loads, in the order each round runs them.
var offPathLoads = []struct{ name, what string }{
	{"pipe", fmt.Sprintf("stress-ng --pipe 1 --pipe-ops %d", offPathPipes)},
	{"unix", fmt.Sprintf("stress-ng --sockpair 1 --sockpair-ops %d (AF_UNIX stream)", offPathUnix)},
	{"switch", fmt.Sprintf("stress-ng --switch 1 --switch-method pipe --switch-ops %d", offPathSwitches)},
}

// offPathModes are the modes of a round, in the order the first round
// runs them (later rounds rotate it).
var offPathModes = []string{"none", "fentry", "kprobe"}

func offPathVars() map[string]string {
	var loads []string
	for _, l := range offPathLoads {
		loads = append(loads, l.name)
	}
	stats := "0"
	if os.Getenv("AUDITPROF_OFFPATH_STATS") == "1" {
		stats = "1"
	}
	return map[string]string{
		"RECORD_FLAGS":      os.Getenv("AUDITPROF_OFFPATH_RECORD_FLAGS"),
		"OFFPATH_BPF_STATS": stats,
		"OFFPATH_LOADS":     strings.Join(loads, " "),
		"OFFPATH_ROUNDS":    strconv.Itoa(offPathRounds),
		"OFFPATH_PIPES":     strconv.Itoa(offPathPipes),
		"OFFPATH_UNIX":      strconv.Itoa(offPathUnix),
		"OFFPATH_SWITCHES":  strconv.Itoa(offPathSwitches),
		"BENCH_MODES":       strings.Join(offPathModes, " "),
	}
}

// TestOffPath: auditprof recording (fentry, kprobe) costs at most
// offPathBound of the guest time of work no audit rule sees: pipes, unix
// sockets, context switches, with auditd running, audit enabled and no
// rule loaded. The rounds are BenchmarkOverhead's (rounds.sh): fixed work
// timed on the guest's instruction-counted clock, the modes interleaved in
// a rotating order, each round against its own none run; so a busy host
// changes the wall time, not the ratios. auditprof's own CPU time in each
// timed load (its threads' schedstat) is printed beside the time it added.
//
// Where the goal is not met today (offPathMisses) it asserts a looser
// bound and says so in its output.
//
// To find where a cost goes: AUDITPROF_OFFPATH_LOADS (e.g. "switch") runs
// only those loads, and AUDITPROF_OFFPATH_STATS=1 turns on
// kernel.bpf_stats_enabled (which makes every program run dearer) and logs
// how often each program ran in each recording;
// AUDITPROF_OFFPATH_RECORD_FLAGS adds flags to record (e.g. "--consumer
// off").
func TestOffPath(t *testing.T) {
	if only := strings.Fields(os.Getenv("AUDITPROF_OFFPATH_LOADS")); len(only) > 0 {
		all := offPathLoads
		offPathLoads = nil
		for _, l := range all {
			if slices.Contains(only, l.name) {
				offPathLoads = append(offPathLoads, l)
			}
		}
		if len(offPathLoads) != len(only) {
			t.Fatalf("AUDITPROF_OFFPATH_LOADS %q: the loads are %v", only, all)
		}
	}
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files, Vars: offPathVars(),
				Script: guestScript(roundsSh + offPathSh), Timeout: 40 * time.Minute})
			checkOffPath(t, k.Name, g)
		})
	}
}

func checkOffPath(t *testing.T, kernel string, g guestRun) {
	if rules := strings.TrimSpace(g.section("rules")); rules != "No rules" {
		t.Fatalf("audit rules loaded: %q", rules)
	}
	if g.status("op.before")["enabled"] != 1 {
		t.Fatalf("audit is not enabled: %q", g.section("op.before"))
	}
	t.Logf("%s; the kernel's lost counter moved by %d", benchPhases(g.section("phases")), g.delta("op", "lost"))
	// ns[load][mode][round], cpu[load][mode][round]: guest ns.
	ns := map[string]map[string]map[string]float64{}
	for _, r := range parseBench(t, g.section("bench")) {
		if ns[r.load] == nil {
			ns[r.load] = map[string]map[string]float64{}
		}
		if ns[r.load][r.mode] == nil {
			ns[r.load][r.mode] = map[string]float64{}
		}
		ns[r.load][r.mode][r.name] = r.ns
	}
	cpu := parseOffPathCPU(t, g.section("cpu"))
	// Records auditprof counted in each recording (all loads of a round):
	// with no rule, only what starting and stopping it makes.
	records := map[string][]string{}
	for _, m := range offPathModes[1:] {
		for r := 1; r <= offPathRounds; r++ {
			p := benchProfile(t, g.sections, m, strconv.Itoa(r))
			records[m] = append(records[m], strconv.FormatUint(p.Totals.Records, 10))
			var runs []string
			for _, pr := range p.Programs {
				if pr.RunCount > 0 {
					runs = append(runs, fmt.Sprintf("%s %d (%d ns)", pr.Name, pr.RunCount, pr.RunTimeNs))
				}
			}
			if len(runs) > 0 {
				t.Logf("%s round %d: programs run (kernel.bpf_stats_enabled): %s", m, r, strings.Join(runs, ", "))
			}
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "guest time under icount (1 ns per instruction), one vCPU, auditd running, audit enabled, no rule; %d rounds, modes interleaved; bound %.2f on the median\n",
		offPathRounds, offPathBound)
	for _, m := range offPathModes[1:] {
		fmt.Fprintf(&out, "  %s: records counted per recording (%d loads each): %s\n", m, len(offPathLoads), strings.Join(records[m], " "))
	}
	var failed []string
	for _, load := range offPathLoads {
		fmt.Fprintf(&out, "  %s: %s\n", load.name, load.what)
		none := ns[load.name]["none"]
		round := func(r int) string { return strconv.Itoa(r) }
		var noneS []string
		for r := 1; r <= offPathRounds; r++ {
			v, ok := none[round(r)]
			if !ok {
				t.Fatalf("no none round %d of %s", r, load.name)
			}
			if v/1e9 < offPathMinNone {
				t.Fatalf("%s: none round %d took %.3f guest s: the load did not do its work", load.name, r, v/1e9)
			}
			noneS = append(noneS, fmt.Sprintf("%.3f", v/1e9))
		}
		fmt.Fprintf(&out, "    %-7s guest s %s\n", "none", strings.Join(noneS, " "))
		for _, m := range offPathModes[1:] {
			var ratios []float64
			var secs, ratioS, addedS, cpuS []string
			for r := 1; r <= offPathRounds; r++ {
				v, ok := ns[load.name][m][round(r)]
				if !ok {
					t.Fatalf("no %s round %d of %s", m, r, load.name)
				}
				c, ok := cpu[load.name][m][round(r)]
				if !ok {
					t.Fatalf("no auditprof CPU time for %s round %d of %s", m, r, load.name)
				}
				ratio := v / none[round(r)]
				ratios = append(ratios, ratio)
				secs = append(secs, fmt.Sprintf("%.3f", v/1e9))
				ratioS = append(ratioS, fmt.Sprintf("%.4f", ratio))
				addedS = append(addedS, fmt.Sprintf("%.1f", (v-none[round(r)])/1e6))
				cpuS = append(cpuS, fmt.Sprintf("%.1f", c/1e6))
			}
			med := median(ratios)
			fmt.Fprintf(&out, "    %-7s guest s %s; vs none %s, median %.4f; guest ms added %s; auditprof's CPU ms %s\n",
				m, strings.Join(secs, " "), strings.Join(ratioS, " "), med, strings.Join(addedS, " "), strings.Join(cpuS, " "))
			bound := offPathBound
			if miss, ok := offPathMisses[kernel+" "+load.name+" "+m]; ok {
				bound = miss.bound
				fmt.Fprintf(&out, "    %-7s known miss of the %.2f goal (issue 14), %.2f asserted: %s\n", m, offPathBound, bound, miss.why)
			}
			if med > bound {
				failed = append(failed, fmt.Sprintf("%s %s: median %.4f over %.2f (rounds %s; guest ms added %s, of which auditprof's own CPU ms %s)",
					load.name, m, med, bound, strings.Join(ratioS, " "), strings.Join(addedS, " "), strings.Join(cpuS, " ")))
			}
		}
	}
	t.Log("\n" + out.String())
	for _, f := range failed {
		t.Errorf("off the audit path auditprof costs too much: %s", f)
	}
}

// parseOffPathCPU reads rounds.sh's cpu.txt: LOAD MODE NAME NS per timed
// load, NS the recorder's on-CPU guest ns during it ("-" for none, left
// out).
func parseOffPathCPU(t *testing.T, text string) map[string]map[string]map[string]float64 {
	cpu := map[string]map[string]map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			t.Fatalf("bad cpu line %q", sc.Text())
		}
		if f[3] == "-" {
			continue
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil || v < 0 {
			t.Fatalf("bad cpu line %q", sc.Text())
		}
		if cpu[f[0]] == nil {
			cpu[f[0]] = map[string]map[string]float64{}
		}
		if cpu[f[0]][f[1]] == nil {
			cpu[f[0]][f[1]] = map[string]float64{}
		}
		cpu[f[0]][f[1]][f[2]] = v
	}
	return cpu
}
