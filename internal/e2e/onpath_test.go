package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

const (
	// onPathOpens is the audited work of a round: benchOpens, make bench's.
	onPathOpens = benchOpens
	// onPathRounds rounds of every mode, each against its own none run.
	// Rounds of audited work vary by up to 3% in guest time (how kauditd
	// and auditd interleave with the opener differs from run to run, and
	// with it how many passes kauditd makes: docs/bench.md); the median
	// of three takes one odd round out.
	onPathRounds = 3
	// onPathMinNone: a none round shorter than this (guest s) did not do
	// its work.
	onPathMinNone = 0.5
)

// onPathGoals is issue 14's goal on the audit path per attach mode: the
// most auditprof may cost audited work, the median over rounds of each
// round's guest time against the same round's none run.
var onPathGoals = map[string]float64{"fentry": 1.02, "kprobe": 1.04}

// onPathMisses, by "kernel mode", are where the goal is not met today:
// the test asserts bound there instead, and says why in its output (issue
// 14 asks to say where the time goes when a goal is not met). Each bound
// is the median measured at the commit named plus the 3% by which rounds
// of audited work vary, so that a new cost larger than the rounds' own
// spread fails it.
var onPathMisses = map[string]offPathMiss{
	"6.1 fentry":  {bound: 1.059 + 0.03, why: onPathWhy61},
	"6.1 kprobe":  {bound: 1.103 + 0.03, why: onPathWhy61},
	"6.12 fentry": {bound: 1.066 + 0.03, why: onPathWhy612},
	"6.12 kprobe": {bound: 1.090 + 0.03, why: onPathWhy612},
}

// Where the time goes on each kernel (docs/bench.md, "The floor of each
// hook set"): the floor is what empty programs on the same hooks cost,
// the rest auditprof's own work.
// 6.12's bounds start from make bench at ea6930c (medians of 5 rounds);
// 6.1's from this test at cc976db (medians of 3 rounds: 1.0590 and
// 1.1027), which dropped kauditd_send_queue's exit program, 1.8% (fentry)
// and 3.8% (kprobe) of 6.1's guest time by TestProgramsCost, and left
// 6.12's within its rounds' spread.
const (
	onPathWhy61 = "empty programs on auditprof's hooks already cost 1.014-1.028 (fentry: the floor's set S0 in two runs, 8f60e74 and b57a1bc; " +
		"S5, its hooks since audit_log_start's entry was left out, 1.017) and 1.050-1.064 (kprobe, S0); " +
		"of the programs' own time audit_log_start's exit (about 845 guest ns a run with fentry) and kauditd's three passes a record " +
		"(kauditd_send_queue's entry, about 178) are most; the goal would need fewer hooks a record and own work under a fentry budget of 310-420 ns a record (its S2 rounds' spread)"
	onPathWhy612 = "empty programs on auditprof's hooks already cost 1.020-1.021 (fentry: S0 in two runs, 8f60e74 and b57a1bc; S5 1.016) and 1.044-1.047 (kprobe, S0); " +
		"audit_log_start's exit (about 835 guest ns a run with fentry) and audit_log_end's entry (about 600) are most of the programs' own time; " +
		"the goal would need fewer hooks a record and own work under a fentry budget its S2 rounds only bound to about 40-1,050 ns a record"
)

// TestOnPath: auditprof recording (fentry, kprobe) costs at most issue
// 14's goal of the guest time of audited work (stress-ng opens under an
// openat rule, auditd writing its log, nothing lost), or where a goal is
// not met today (onPathMisses) at most its known bound. The rounds are
// BenchmarkOverhead's (rounds.sh): fixed work timed on the guest's
// instruction-counted clock, the modes interleaved in a rotating order,
// each round against its own none run, so a busy host changes the wall
// time, not the ratios. Where the time goes, program by program, is
// make bench's (BenchmarkOverhead's bpf_stats round).
func TestOnPath(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars: map[string]string{"ONPATH_OPENS": strconv.Itoa(onPathOpens), "ONPATH_ROUNDS": strconv.Itoa(onPathRounds),
					"BENCH_MODES": "none fentry kprobe"},
				Script: guestScript(roundsSh + onPathSh), Timeout: 40 * time.Minute})
			checkOnPath(t, k.Name, g)
		})
	}
}

func checkOnPath(t *testing.T, kernel string, g guestRun) {
	if lost := g.delta("op", "lost"); lost != 0 {
		t.Fatalf("the kernel lost %d records: the rounds are to time the programs, not losses", lost)
	}
	t.Log(benchPhases(g.section("phases")))
	ns := map[string]map[string]float64{} // ns[mode][round]
	for _, r := range parseBench(t, g.section("bench")) {
		if r.load != "open" {
			t.Fatalf("unexpected load %q", r.load)
		}
		if ns[r.mode] == nil {
			ns[r.mode] = map[string]float64{}
		}
		ns[r.mode][r.name] = r.ns
	}
	var out strings.Builder
	fmt.Fprintf(&out, "guest time under icount (1 ns per instruction), one vCPU, auditd writing its log, an openat rule, %d audited opens a round; %d rounds, modes interleaved\n",
		onPathOpens, onPathRounds)
	var noneS []string
	for r := 1; r <= onPathRounds; r++ {
		v, ok := ns["none"][strconv.Itoa(r)]
		if !ok {
			t.Fatalf("no none round %d", r)
		}
		if v/1e9 < onPathMinNone {
			t.Fatalf("none round %d took %.3f guest s: the load did not do its work", r, v/1e9)
		}
		noneS = append(noneS, fmt.Sprintf("%.3f", v/1e9))
	}
	fmt.Fprintf(&out, "  %-7s guest s %s\n", "none", strings.Join(noneS, " "))
	var failed []string
	for _, m := range []string{"fentry", "kprobe"} {
		var ratios []float64
		var secs, ratioS, recs []string
		for r := 1; r <= onPathRounds; r++ {
			round := strconv.Itoa(r)
			v, ok := ns[m][round]
			if !ok {
				t.Fatalf("no %s round %d", m, r)
			}
			p := benchProfile(t, g.sections, m, round)
			if p.Attach != m {
				t.Fatalf("%s round %d recorded with %q", m, r, p.Attach)
			}
			// Each of stress-ng's audited opens is one event of the
			// onpath rule (its SYSCALL record; stress-ng's own start
			// adds a few): fewer events than opens means the programs
			// missed records of the load, which a total of records
			// (several an event) would hide.
			var events uint64
			for _, rule := range p.Rules {
				if rule.Key == "onpath" {
					events += rule.Events
				}
			}
			if events < onPathOpens {
				t.Fatalf("%s round %d counted %d events of the onpath rule for %d audited opens (%d records in all)",
					m, r, events, onPathOpens, p.Totals.Records)
			}
			recs = append(recs, fmt.Sprintf("%d (%d onpath events)", p.Totals.Records, events))
			ratio := v / ns["none"][round]
			ratios = append(ratios, ratio)
			secs = append(secs, fmt.Sprintf("%.3f", v/1e9))
			ratioS = append(ratioS, fmt.Sprintf("%.4f", ratio))
		}
		med := median(ratios)
		fmt.Fprintf(&out, "  %-7s guest s %s; vs none %s, median %.4f; records counted %s\n",
			m, strings.Join(secs, " "), strings.Join(ratioS, " "), med, strings.Join(recs, " "))
		goal := onPathGoals[m]
		bound := goal
		if miss, ok := onPathMisses[kernel+" "+m]; ok {
			bound = miss.bound
			fmt.Fprintf(&out, "  %-7s known miss of the %.2f goal (issue 14), %.2f asserted: %s\n", m, goal, bound, miss.why)
		}
		if med > bound {
			failed = append(failed, fmt.Sprintf("%s: median %.4f over %.2f (rounds %s)", m, med, bound, strings.Join(ratioS, " ")))
		}
	}
	t.Log("\n" + out.String())
	for _, f := range failed {
		t.Errorf("on the audit path auditprof costs too much: %s", f)
	}
}
