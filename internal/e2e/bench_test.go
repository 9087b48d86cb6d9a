package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// The benchmark's fixed amounts of work. Under icount (shift=0, one vCPU)
// the guest's clock counts instructions, so a fixed amount of work timed on
// it is a measure of CPU work that host load cannot move (NOTES.md, "Guest
// time that host load cannot move"; vmtest's package doc, "Guest time").
const (
	benchOpens = 8000   // stress-ng --open-ops: audited opens, under an openat rule
	benchPipes = 200000 // stress-ng --pipe-ops: writes no audit rule sees
)

// benchRounds is the number of rounds per load and mode, each with its own
// none run. Rounds on the audit path vary more in guest time (percents)
// than rounds of the pipe (tenths of a percent): the audit path gets more.
var benchRounds = map[string]int{"open": 5, "pipe": 3}

// benchLoads are the loads, in the order the guest runs them.
var benchLoads = []string{"open", "pipe"}

// benchLoadsEnv names a subset of benchLoads to run (unset or empty:
// both), benchRoundsEnv a number of rounds for every load run (unset or
// empty: benchRounds'): AUDITPROF_BENCH_LOADS=open AUDITPROF_BENCH_ROUNDS=3
// times three rounds of the open load and no pipe.
const (
	benchLoadsEnv  = "AUDITPROF_BENCH_LOADS"
	benchRoundsEnv = "AUDITPROF_BENCH_ROUNDS"
)

// benchSelectedLoads is the loads AUDITPROF_BENCH_LOADS selects, in
// benchLoads' order, and their rounds (AUDITPROF_BENCH_ROUNDS, or
// benchRounds'); an unselected load has 0.
func benchSelectedLoads() ([]string, map[string]int, error) {
	rounds := map[string]int{}
	n := 0
	if v := strings.TrimSpace(os.Getenv(benchRoundsEnv)); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return nil, nil, fmt.Errorf("%s: %q is not a number of rounds", benchRoundsEnv, v)
		}
	}
	want := map[string]bool{}
	for _, f := range strings.FieldsFunc(os.Getenv(benchLoadsEnv), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !slices.Contains(benchLoads, f) {
			return nil, nil, fmt.Errorf("%s: unknown load %q (the loads: %s)", benchLoadsEnv, f, strings.Join(benchLoads, " "))
		}
		want[f] = true
	}
	var loads []string
	for _, l := range benchLoads {
		if len(want) > 0 && !want[l] {
			rounds[l] = 0
			continue
		}
		loads = append(loads, l)
		rounds[l] = benchRounds[l]
		if n > 0 {
			rounds[l] = n
		}
	}
	return loads, rounds, nil
}

// benchModes are the modes of a round, in the order the first round runs
// them (later rounds rotate it). floor-fentry-S5 and floor-kprobe-S0
// attach the floor (internal/e2e/floor: programs on auditprof's hooks that
// only count their runs) with the hook set auditprof attaches on 6.1 and
// 6.12 (S5 with fentry: audit_log_start's fexit alone; S0 with kprobes):
// the cost of attaching at all, to set beside auditprof's.
// bpftrace and bpftrace-kfunc run the tool an engineer would otherwise
// write, Debian's bpftrace 0.17 (scripts/vm-assets-bpftrace.sh) counting
// audit_log_start by comm, on a kprobe and on a kfunc (fentry):
// auditprof, which measures far more, should cost at most that.
var benchModes = []string{"none", "floor-fentry-S5", "fentry", "floor-kprobe-S0", "kprobe", "bpftrace", "bpftrace-kfunc"}

// benchOldFloors attach the floor's old set (auditprof's hooks before
// issue 14), by AUDITPROF_BENCH_MODES only.
var benchOldFloors = []string{"floor-fentry", "floor-kprobe"}

// benchFloorSets are the floor's other hook sets (floor's -set; issue 14):
// S0 auditprof's hooks on 6.1 and 6.12 with kprobes (and with fentry
// before its audit_log_start entry was left out: S5), S1 audit_log_end's
// entry, S2 that and netlink_unicast's exit, S3 audit_log_start's exit and
// netlink_unicast's exit; S4, S5 and S6 are S0 less one per-record cost:
// S4 with kauditd_send_multicast_skb's entry (once a main-queue record) in
// place of kauditd_send_queue's (once a pass), S5 without audit_log_start's
// entry, S6 both. Mode floor-FAMILY-SET attaches SET in FAMILY;
// only AUDITPROF_BENCH_MODES runs them (after benchModes' modes).
var benchFloorSets = []string{"S0", "S1", "S2", "S3", "S4", "S5", "S6"}

// benchFloorSetModes are the modes of benchFloorSets, fentry's first.
func benchFloorSetModes() []string {
	var m []string
	for _, fam := range benchAttach {
		for _, set := range benchFloorSets {
			m = append(m, "floor-"+fam+"-"+set)
		}
	}
	return m
}

// benchModesEnv names a subset of benchModes to run (space- or
// comma-separated; unset or empty: all): AUDITPROF_BENCH_MODES="fentry
// kprobe" measures auditprof alone, without the floor and bpftrace (whose
// 200 MB tree then stays out of the initramfs). none is always run: every
// ratio is against it. The modes keep benchModes' order.
const benchModesEnv = "AUDITPROF_BENCH_MODES"

// benchSelectedModes is the modes AUDITPROF_BENCH_MODES selects, in
// benchModes' order, none first.
func benchSelectedModes() ([]string, error) {
	v := os.Getenv(benchModesEnv)
	if strings.TrimSpace(v) == "" {
		return benchModes, nil
	}
	all := slices.Clone(benchModes)
	for _, m := range append(benchOldFloors, benchFloorSetModes()...) {
		if !slices.Contains(all, m) {
			all = append(all, m)
		}
	}
	want := map[string]bool{"none": true}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !slices.Contains(all, f) {
			return nil, fmt.Errorf("%s: unknown mode %q (the modes: %s)", benchModesEnv, f, strings.Join(all, " "))
		}
		want[f] = true
	}
	var modes []string
	for _, m := range all {
		if want[m] {
			modes = append(modes, m)
		}
	}
	return modes, nil
}

// benchAttachOf is the modes of modes in which auditprof records.
func benchAttachOf(modes []string) []string {
	var a []string
	for _, m := range benchAttach {
		if slices.Contains(modes, m) {
			a = append(a, m)
		}
	}
	return a
}

// benchBpftrace are the bpftrace modes and what auditprof mode each is
// compared with: the one attaching the same way (kprobe; kfunc is a
// trampoline, as fentry).
var benchBpftrace = []struct{ mode, auditprof string }{{"bpftrace", "kprobe"}, {"bpftrace-kfunc", "fentry"}}

// benchFamily is the auditprof mode whose records a round of mode m makes
// (its added ns per record is over that count): floor-X's and
// floor-X-SET's is X's, a bpftrace mode's the auditprof mode it attaches
// like.
func benchFamily(m string) string {
	for _, bt := range benchBpftrace {
		if m == bt.mode {
			return bt.auditprof
		}
	}
	fam, _, _ := strings.Cut(strings.TrimPrefix(m, "floor-"), "-")
	return fam
}

// benchMemoryMB is the benchmark guest's memory, for every mode alike:
// bpftrace loads LLVM's and clang's libraries (about 200 MB, in the
// initramfs, which is in RAM too), more than the tests' default 1024 MiB
// leaves room for.
const benchMemoryMB = 2048

// benchAttach are the modes in which auditprof records.
var benchAttach = []string{"fentry", "kprobe"}

// benchVars hands the fixed amounts of work, the loads, their rounds and
// the modes to bench-overhead.sh.
func benchVars(modes, loads []string, rounds map[string]int) map[string]string {
	return map[string]string{
		"BENCH_LOADS":       strings.Join(loads, " "),
		"BENCH_ROUNDS_open": strconv.Itoa(rounds["open"]),
		"BENCH_ROUNDS_pipe": strconv.Itoa(rounds["pipe"]),
		"BENCH_OPENS":       strconv.Itoa(benchOpens),
		"BENCH_PIPES":       strconv.Itoa(benchPipes),
		"BENCH_MODES":       strings.Join(modes, " "),
		"BENCH_COST_MODES":  strings.Join(benchAttachOf(modes), " "),
	}
}

// BenchmarkOverhead is `make bench`: the guest time of fixed work without
// auditprof, with fentry and with kprobes, side by side in one VM per
// kernel, and the BPF programs' own cost per audit record
// (kernel.bpf_stats_enabled). The kernels' VMs run at the same time: under
// icount a guest's figures do not depend on how busy the host is. It fails
// when a round is missing, a profile is unreadable or a mode did not attach
// as asked; it does not assert speed.
func BenchmarkOverhead(b *testing.B) {
	modes, err := benchSelectedModes()
	if err != nil {
		b.Fatal(err)
	}
	loads, rounds, err := benchSelectedLoads()
	if err != nil {
		b.Fatal(err)
	}
	dir, files, kernels := guestSetup(b)
	if slices.ContainsFunc(modes, func(m string) bool { return strings.HasPrefix(m, "floor-") }) {
		files["/bin/floor"] = guestBinary(b, "amd64", "./floor")
	}
	if slices.ContainsFunc(modes, func(m string) bool { return strings.HasPrefix(m, "bpftrace") }) {
		benchBpftraceFiles(b, dir, files)
	}
	type result struct {
		res  *vmtest.Result
		err  error
		wall time.Duration
	}
	timeout := 75 * time.Minute // wall time; a busy host slows icount down
	done := make([]chan result, len(kernels))
	for i, k := range kernels {
		done[i] = make(chan result, 1)
		if !benchSelected(k.Name) {
			done[i] <- result{err: fmt.Errorf("%s: not started: -test.bench does not select it", k.Name)}
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
			defer cancel()
			start := time.Now()
			res, err := vmtest.Run(ctx, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars: benchVars(modes, loads, rounds), Script: guestScript(roundsSh + benchOverheadSh), Timeout: timeout, MemoryMB: benchMemoryMB})
			done[i] <- result{res, err, time.Since(start)}
		}()
	}
	for i, k := range kernels {
		b.Run(k.Name, func(b *testing.B) {
			r := <-done[i]
			done[i] <- r // b.N > 1 reuses the one run
			if r.err != nil {
				if r.res != nil {
					b.Fatalf("%v; console:\n%s", r.err, tail(r.res.Console, 80))
				}
				b.Fatal(r.err)
			}
			if r.res.ExitCode != 0 {
				b.Fatalf("guest script exited %d; console:\n%s", r.res.ExitCode, tail(r.res.Console, 80))
			}
			b.Logf("%s: the VM ran %s of wall time; %s", k.Name, r.wall.Round(time.Second), benchPhases(r.res.Sections["phases"]))
			reportOverhead(b, os.Stdout, k.Name, modes, loads, rounds, r.res.Sections)
		})
	}
}

// benchBpftraceFiles adds the bpftrace tree of scripts/vm-assets-bpftrace.sh
// (DIR/bpftrace/rootfs: /usr/bin/bpftrace, its libraries in
// /usr/lib/x86_64-linux-gnu) to files, merged over the base rootfs. Only
// the benchmark carries it: it is about 200 MB.
func benchBpftraceFiles(b testing.TB, dir string, files map[string]string) {
	bt := filepath.Join(dir, "bpftrace")
	if _, err := os.Stat(filepath.Join(bt, ".complete")); err != nil {
		b.Fatalf("no bpftrace in %s (%v): run scripts/vm-assets-bpftrace.sh %s (make bench does)", bt, err, dir)
	}
	root := filepath.Join(bt, "rootfs")
	ents, err := os.ReadDir(root)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		files["/"+e.Name()] = filepath.Join(root, e.Name())
	}
}

// benchSelected reports whether -test.bench selects the sub-benchmark
// BenchmarkOverhead/NAME, so that `-bench BenchmarkOverhead/6.12` boots one
// VM, not both.
func benchSelected(name string) bool {
	f := flag.Lookup("test.bench")
	if f == nil {
		return true
	}
	parts := strings.SplitN(f.Value.String(), "/", 3)
	if len(parts) < 2 {
		return true
	}
	re, err := regexp.Compile(parts[1])
	return err != nil || re.MatchString(name)
}

// benchPhases sums up where the guest's time went: the timed rounds,
// auditprof's starts (to ready, an idle second and an empty queue) and
// stops (with the profile emitted).
func benchPhases(text string) string {
	var timed, start, stop, end float64
	n := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 {
			continue
		}
		var t [4]float64
		for i := range t {
			t[i], _ = strconv.ParseFloat(f[3+i], 64)
		}
		timed += t[2] - t[1]
		if f[1] != "none" {
			start += t[1] - t[0]
			stop += t[3] - t[2]
			n++
		}
		end = t[3]
	}
	return fmt.Sprintf("guest seconds: %.1f at the last round's end, %.1f in timed rounds, %.1f starting and %.1f stopping auditprof (%d recordings)",
		end/1e9, timed/1e9, start/1e9, stop/1e9, n)
}

// benchRound is one timed round: LOAD MODE NAME T0 T1 in the guest's ns.
type benchRound struct {
	load, mode, name string
	ns               float64
}

func parseBench(b testing.TB, text string) []benchRound {
	var rounds []benchRound
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 {
			b.Fatalf("bad bench line %q", sc.Text())
		}
		t0, err0 := strconv.ParseInt(f[3], 10, 64)
		t1, err1 := strconv.ParseInt(f[4], 10, 64)
		if err0 != nil || err1 != nil || t1 <= t0 {
			b.Fatalf("bad bench times %q", sc.Text())
		}
		rounds = append(rounds, benchRound{load: f[0], mode: f[1], name: f[2], ns: float64(t1 - t0)})
	}
	return rounds
}

// benchProfile decodes the profile of round NAME in MODE and fails unless
// auditprof attached in that mode.
func benchProfile(b testing.TB, sections map[string]string, mode, name string) *profile.Profile {
	s, ok := sections[mode+"."+name+".json"]
	if !ok {
		b.Fatalf("no profile for %s round %s", mode, name)
	}
	p, err := profile.Decode(strings.NewReader(s))
	if err != nil {
		b.Fatalf("%s round %s: profile unreadable: %v", mode, name, err)
	}
	if p.Attach != mode {
		b.Fatalf("%s round %s: attached as %q (%s)", mode, name, p.Attach, p.AttachNote)
	}
	return p
}

func reportOverhead(b *testing.B, w io.Writer, kernelName string, modes, loads []string, benchRounds map[string]int, sections map[string]string) {
	attach := benchAttachOf(modes)
	rounds := parseBench(b, sections["bench"])
	// ns[load][mode][round number]
	ns := map[string]map[string]map[string]float64{}
	for _, r := range rounds {
		if r.name == "cost" {
			continue
		}
		if ns[r.load] == nil {
			ns[r.load] = map[string]map[string]float64{}
		}
		if ns[r.load][r.mode] == nil {
			ns[r.load][r.mode] = map[string]float64{}
		}
		ns[r.load][r.mode][r.name] = r.ns
	}
	fmt.Fprintf(w, "\nkernel %s: guest time under icount (shift=0: 1 ns per instruction), one vCPU, auditd writing its log, modes interleaved\n",
		kernelName)
	for _, load := range []struct{ name, what string }{
		{"open", fmt.Sprintf("stress-ng --open 1 --open-ops %d under an openat rule, %d rounds", benchOpens, benchRounds["open"])},
		{"pipe", fmt.Sprintf("stress-ng --pipe 1 --pipe-ops %d, no rule sees it, %d rounds", benchPipes, benchRounds["pipe"])},
	} {
		if !slices.Contains(loads, load.name) {
			continue
		}
		// Every round of every mode, or the figures are not side by side.
		for _, m := range modes {
			for r := 1; r <= benchRounds[load.name]; r++ {
				name := fmt.Sprintf("%s.%d", load.name, r)
				if _, ok := ns[load.name][m][name]; !ok {
					b.Fatalf("%s: no %s round %s", kernelName, m, name)
				}
			}
		}
		none := ns[load.name]["none"]
		fmt.Fprintf(w, "  %s\n", load.what)
		fmt.Fprintf(w, "    %-12s %-34s %8s %13s %14s %12s\n", "attach", "guest s per round", "vs none", "(round range)", "records/round", "added ns/rec")
		var noneS []string
		for r := 1; r <= benchRounds[load.name]; r++ {
			noneS = append(noneS, fmt.Sprintf("%.3f", none[fmt.Sprintf("%s.%d", load.name, r)]/1e9))
		}
		fmt.Fprintf(w, "    %-12s %-34s %8s\n", "none", strings.Join(noneS, " "), "1.000")
		// Records a round, from auditprof's profiles; the floor's rounds
		// make the same records and count none, so its added ns per record
		// is over its family's count.
		recs := map[string]float64{}
		for _, m := range attach {
			var v []float64
			for r := 1; r <= benchRounds[load.name]; r++ {
				v = append(v, float64(benchProfile(b, sections, m, fmt.Sprintf("%s.%d", load.name, r)).Totals.Records))
			}
			recs[m] = median(v)
			if load.name == "open" && recs[m] < benchOpens {
				b.Fatalf("%s %s: %.0f records counted a round for %d audited opens: auditprof was not counting the whole round",
					kernelName, m, recs[m], benchOpens)
			}
		}
		// Without auditprof's rounds in a family, its floor rounds count
		// the records: the median of audit_log_start's exit runs (calls,
		// NULL returns among them) over the floor rounds that attach it.
		if load.name == "open" {
			for _, fam := range benchAttach {
				if _, ok := recs[fam]; ok {
					continue
				}
				var v []float64
				for _, m := range modes {
					if !strings.HasPrefix(m, "floor-") || benchFamily(m) != fam {
						continue
					}
					for r := 1; r <= benchRounds[load.name]; r++ {
						if n := benchFloorSlots(b, sections, m, fmt.Sprintf("%s.%d", load.name, r))[floorSlotLogStartRet]; n > 0 {
							v = append(v, float64(n))
						}
					}
				}
				if len(v) > 0 {
					recs[fam] = median(v)
					fmt.Fprintf(w, "    (%s: records a round from the floor's audit_log_start exit runs, median of %d rounds: %.0f)\n", fam, len(v), recs[fam])
				}
			}
		}
		added := map[string]float64{}
		medians := map[string]float64{}
		for _, m := range modes[1:] {
			family := benchFamily(m)
			var ratios []float64
			var secs []string
			for r := 1; r <= benchRounds[load.name]; r++ {
				name := fmt.Sprintf("%s.%d", load.name, r)
				switch {
				case strings.HasPrefix(m, "floor-"):
					benchFloorRan(b, sections, m, name, load.name == "open")
				case strings.HasPrefix(m, "bpftrace"):
					benchBpftraceRan(b, sections, m, name, load.name == "open")
				}
				ratios = append(ratios, ns[load.name][m][name]/none[name])
				secs = append(secs, fmt.Sprintf("%.3f", ns[load.name][m][name]/1e9))
			}
			med := median(ratios)
			medians[m] = med
			lo, hi := minMax(ratios)
			rec, counted := recs[family]
			addedS, recS := "-", "-"
			if counted {
				recS = fmt.Sprintf("%.0f", rec)
			}
			if rec >= benchOpens {
				added[m] = (median(values(ns[load.name][m])) - median(values(none))) / rec
				addedS = fmt.Sprintf("%.0f", added[m])
			}
			fmt.Fprintf(w, "    %-12s %-34s %8.3f %13s %14s %12s\n", m, strings.Join(secs, " "), med,
				fmt.Sprintf("%.3f-%.3f", lo, hi), recS, addedS)
			b.ReportMetric(med, load.name+"-"+m+"/none")
		}
		// The floor's runs a round per program (median over the rounds),
		// and per record.
		for _, m := range modes {
			if !strings.HasPrefix(m, "floor-") {
				continue
			}
			per := map[int][]float64{}
			for r := 1; r <= benchRounds[load.name]; r++ {
				for slot, n := range benchFloorSlots(b, sections, m, fmt.Sprintf("%s.%d", load.name, r)) {
					per[slot] = append(per[slot], float64(n))
				}
			}
			var parts []string
			for slot := range floorSlotNames {
				if v := per[slot]; len(v) > 0 && median(v) > 0 {
					p := fmt.Sprintf("%s %.0f", floorSlotNames[slot], median(v))
					if rec := recs[benchFamily(m)]; rec > 0 && load.name == "open" {
						p += fmt.Sprintf(" (%.2f/rec)", median(v)/rec)
					}
					parts = append(parts, p)
				}
			}
			fmt.Fprintf(w, "    %s runs a round: %s\n", m, strings.Join(parts, ", "))
		}
		if load.name == "open" {
			// The split against auditprof's own hook set on these
			// kernels, where it ran: S5 with fentry (no entry program
			// on audit_log_start), S0 with kprobes; the old set's floor
			// is not the hooks auditprof attaches here.
			for _, m := range attach {
				for _, f := range []string{"floor-" + m + "-S5", "floor-" + m + "-S0", "floor-" + m} {
					if m != "fentry" && strings.HasSuffix(f, "-S5") {
						continue
					}
					if !slices.Contains(modes, f) {
						continue
					}
					fmt.Fprintf(w, "    %s: %.0f ns a record added = %.0f attaching at all (%s) + %.0f auditprof's own work\n",
						m, added[m], added[f], f, added[m]-added[f])
					break
				}
			}
		}
		// auditprof against the bpftrace one-liner: the ratio of the guest
		// time each adds to the same work (per record on the audit path,
		// where both see the same records; median rounds, so per round
		// too), and the two medians of "vs none".
		addedTime := func(m string) float64 { return median(values(ns[load.name][m])) - median(values(none)) }
		for _, cmp := range []struct{ auditprof, bpftrace string }{
			{"fentry", "bpftrace"}, {"kprobe", "bpftrace"}, {"fentry", "bpftrace-kfunc"},
		} {
			if !slices.Contains(modes, cmp.auditprof) || !slices.Contains(modes, cmp.bpftrace) {
				continue
			}
			a, bt := addedTime(cmp.auditprof), addedTime(cmp.bpftrace)
			x := "-"
			if bt > 0 {
				x = fmt.Sprintf("%.2f", a/bt)
			}
			detail := fmt.Sprintf("vs none %.3f / %.3f", medians[cmp.auditprof], medians[cmp.bpftrace])
			if load.name == "open" {
				detail = fmt.Sprintf("%.0f / %.0f ns added a record; %s", added[cmp.auditprof], added[cmp.bpftrace], detail)
			}
			fmt.Fprintf(w, "    auditprof %s vs %s: %s (%s)\n", cmp.auditprof, cmp.bpftrace, x, detail)
			if load.name == "open" && bt > 0 {
				b.ReportMetric(a/bt, load.name+"-"+cmp.auditprof+"/"+cmp.bpftrace)
			}
		}
	}
	// The programs' own cost, from the rounds with kernel.bpf_stats_enabled.
	if len(attach) == 0 {
		return
	}
	fmt.Fprintf(w, "  BPF programs' own run time (kernel.bpf_stats_enabled=1, one open round each; guest ns = instructions)\n")
	for _, m := range attach {
		p := benchProfile(b, sections, m, "cost")
		if p.Totals.Records < benchOpens {
			b.Fatalf("%s %s (stats round): %d records counted for %d audited opens", kernelName, m, p.Totals.Records, benchOpens)
		}
		if len(p.Programs) == 0 {
			b.Fatalf("%s %s (stats round): the profile lists no programs", kernelName, m)
		}
		var total, misses uint64
		for _, prog := range p.Programs {
			total += prog.RunTimeNs
			misses += prog.RecursionMisses
		}
		if total == 0 {
			b.Fatalf("%s %s (stats round): run_time_ns is 0 with bpf_stats_enabled=1", kernelName, m)
		}
		recs := float64(p.Totals.Records)
		fmt.Fprintf(w, "    %s: %d records, all programs %.0f ns per record, %d recursion misses\n", m, p.Totals.Records, float64(total)/recs, misses)
		progs := append([]profile.ProgramStats(nil), p.Programs...)
		sort.SliceStable(progs, func(i, j int) bool { return progs[i].RunTimeNs > progs[j].RunTimeNs })
		for _, prog := range progs {
			if prog.RunCount == 0 {
				continue
			}
			fmt.Fprintf(w, "      %-32s %9d runs %6.2f runs/rec %7.0f ns/run %7.0f ns/rec\n", prog.Name, prog.RunCount,
				float64(prog.RunCount)/recs, float64(prog.RunTimeNs)/float64(prog.RunCount), float64(prog.RunTimeNs)/recs)
		}
		b.ReportMetric(float64(total)/recs, m+"-bpf-ns/record")
	}
}

// floorSlotNames are the floor's per-CPU array slots (floor.bpf.c's enum
// floor_slot), by index.
var floorSlotNames = []string{
	"audit_log_start", "audit_log_start ret", "audit_log_lost", "skb_queue_tail",
	"schedule_timeout", "schedule_timeout ret", "kauditd_send_queue", "kauditd_send_queue ret",
	"kauditd_hold_skb", "kauditd_hold_skb ret", "audit_log_end", "netlink_unicast ret",
	"kauditd_send_multicast_skb", "add_wait_queue_exclusive", "audit_receive ret",
}

const (
	floorSlotLogStartRet = 1
	floorSlotLogEnd      = 10
)

// benchFloorSlots is the floor's round NAME in MODE's runs per slot, as it
// printed them ("slot N: M runs").
func benchFloorSlots(b testing.TB, sections map[string]string, mode, name string) map[int]uint64 {
	s, ok := sections[mode+"."+name+".out"]
	if !ok {
		b.Fatalf("no output for %s round %s", mode, name)
	}
	slots := map[int]uint64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var slot int
		var runs uint64
		if _, err := fmt.Sscanf(sc.Text(), "slot %d: %d runs", &slot, &runs); err == nil {
			slots[slot] = runs
		}
	}
	if len(slots) == 0 {
		b.Fatalf("%s round %s: no run count in %q", mode, name, s)
	}
	return slots
}

// benchFloorRan fails unless the floor's round NAME in MODE printed its
// programs' runs, with the per-record program of its set (audit_log_start's
// entry, slot 0, for the old set; its exit for S0 and S3 to S6; audit_log_end's
// entry for S1 and S2) above zero where the load was audited: a floor that
// attached nothing would look free.
func benchFloorRan(b testing.TB, sections map[string]string, mode, name string, audited bool) {
	slots := benchFloorSlots(b, sections, mode, name)
	slot := 0
	switch {
	case strings.HasSuffix(mode, "-S0"), strings.HasSuffix(mode, "-S3"), strings.HasSuffix(mode, "-S4"),
		strings.HasSuffix(mode, "-S5"), strings.HasSuffix(mode, "-S6"):
		slot = floorSlotLogStartRet
	case strings.HasSuffix(mode, "-S1"), strings.HasSuffix(mode, "-S2"):
		slot = floorSlotLogEnd
	}
	if audited && slots[slot] < benchOpens {
		b.Fatalf("%s round %s: %s's program ran %d times for %d audited opens", mode, name, floorSlotNames[slot], slots[slot], benchOpens)
	}
}

// benchBpftraceRan fails unless bpftrace's round NAME in MODE attached
// its probe and printed its map at the end, with stress-ng-open's count at
// least the audited opens where the load was audited (each open makes
// several records, each one audit_log_start): a bpftrace that attached
// nothing, or late, would look cheap.
func benchBpftraceRan(b testing.TB, sections map[string]string, mode, name string, audited bool) {
	s, ok := sections[mode+"."+name+".out"]
	if !ok {
		b.Fatalf("no output for %s round %s", mode, name)
	}
	if !strings.Contains(s, "Attaching 1 probe") {
		b.Fatalf("%s round %s: bpftrace did not attach its probe: %q", mode, name, s)
	}
	counts := map[string]uint64{}
	for _, m := range bpftraceMapLine.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		counts[m[1]] = n
	}
	if len(counts) == 0 {
		b.Fatalf("%s round %s: bpftrace printed no map: %q", mode, name, s)
	}
	if audited && counts["stress-ng-open"] < benchOpens {
		b.Fatalf("%s round %s: bpftrace counted %d audit_log_start calls by stress-ng-open for %d audited opens: %q",
			mode, name, counts["stress-ng-open"], benchOpens, s)
	}
}

// bpftraceMapLine is a line of the map bpftrace prints at exit, @[comm]: N.
var bpftraceMapLine = regexp.MustCompile(`(?m)^@\[(.*)\]: ([0-9]+)$`)

func minMax(v []float64) (lo, hi float64) {
	lo, hi = v[0], v[0]
	for _, x := range v[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func values(m map[string]float64) []float64 {
	var v []float64
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
