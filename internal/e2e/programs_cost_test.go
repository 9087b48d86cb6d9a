package e2e

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

//go:embed testdata/programs-cost.sh
var programsCostSh string

// TestProgramsCost measures what a change to the programs adds or saves
// per record (first the program table, issue 13; then the enqueue hook,
// issue 14): the same audited work recorded by a build without it
// (AUDITPROF_COST_BASE, a static amd64 auditprof, e.g. of the commit this
// branch began at) and by this one, both families, rounds interleaved in
// one VM per kernel, guest time under icount. It logs each program's runs
// per record for both builds (kernel.bpf_stats_enabled is on). Skipped
// unless AUDITPROF_COST_BASE is set; AUDITPROF_COST_ROUNDS (default 3)
// and AUDITPROF_COST_OPENS (default 8000) set the rounds and the audited
// opens of each; AUDITPROF_COST_BACKLOG=LIMIT:WAIT sets the backlog limit
// and backlog_wait_time (default 65536:15000, nothing lost; 64:0 loses
// most records, for the loss path's programs). It asserts nothing about
// speed.
func TestProgramsCost(t *testing.T) {
	base := os.Getenv("AUDITPROF_COST_BASE")
	if base == "" {
		t.Skip("AUDITPROF_COST_BASE is not set: the path of an auditprof built without the program table")
	}
	dir, files, kernels := guestSetup(t)
	files["/bin/auditprof-base"] = base
	opens, rounds := 8000, 3
	if r, err := strconv.Atoi(os.Getenv("AUDITPROF_COST_ROUNDS")); err == nil && r > 0 {
		rounds = r
	}
	if n, err := strconv.Atoi(os.Getenv("AUDITPROF_COST_OPENS")); err == nil && n > 0 {
		opens = n
	}
	limit, wait := "65536", "15000"
	if v := os.Getenv("AUDITPROF_COST_BACKLOG"); v != "" {
		l, w, ok := strings.Cut(v, ":")
		_, errL := strconv.ParseUint(l, 10, 32)
		_, errW := strconv.ParseUint(w, 10, 32)
		if !ok || errL != nil || errW != nil {
			t.Fatalf("AUDITPROF_COST_BACKLOG=%q: want LIMIT:WAIT, e.g. 64:0", v)
		}
		limit, wait = l, w
	}
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars: map[string]string{"COST_OPENS": strconv.Itoa(opens), "COST_ROUNDS": strconv.Itoa(rounds),
					"COST_LIMIT": limit, "COST_WAIT": wait},
				Script: guestScript(programsCostSh), Timeout: 35 * time.Minute})
			// ns[mode][build][round]
			ns := map[string]map[string]map[string]float64{}
			sc := bufio.NewScanner(strings.NewReader(g.section("cost")))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 5 {
					t.Fatalf("bad cost line %q", sc.Text())
				}
				t0, _ := strconv.ParseFloat(f[3], 64)
				t1, _ := strconv.ParseFloat(f[4], 64)
				round := f[0][strings.LastIndex(f[0], ".")+1:]
				if ns[f[2]] == nil {
					ns[f[2]] = map[string]map[string]float64{}
				}
				if ns[f[2]][f[1]] == nil {
					ns[f[2]][f[1]] = map[string]float64{}
				}
				ns[f[2]][f[1]][round] = t1 - t0
			}
			for _, mode := range []string{"fentry", "kprobe"} {
				var ratios, bpfBase, bpfNew []float64
				var line []string
				for r := 1; r <= rounds; r++ {
					rs := strconv.Itoa(r)
					b, n := ns[mode]["base"][rs], ns[mode]["new"][rs]
					if b == 0 || n == 0 {
						t.Fatalf("%s round %d missing", mode, r)
					}
					ratios = append(ratios, n/b)
					line = append(line, fmt.Sprintf("%.3f/%.3f", n/1e9, b/1e9))
					for _, build := range []string{"base", "new"} {
						p := g.profile(fmt.Sprintf("%s.%s.%d", build, mode, r))
						if p.Attach != mode || p.Totals.Records < uint64(opens) {
							t.Fatalf("%s %s round %d: attach %s, %d records", build, mode, r, p.Attach, p.Totals.Records)
						}
						var run uint64
						var runs []string
						for _, pr := range p.Programs {
							run += pr.RunTimeNs
							runs = append(runs, fmt.Sprintf("%s %.3f", pr.Name, float64(pr.RunCount)/float64(p.Totals.Records)))
						}
						var perRecord uint64
						for _, pr := range p.Programs {
							perRecord += pr.RunCount
						}
						t.Logf("%s %s %s round %d: %d records; runs per record %.3f in all: %s",
							k.Name, build, mode, r, p.Totals.Records, float64(perRecord)/float64(p.Totals.Records), strings.Join(runs, ", "))
						v := float64(run) / float64(p.Totals.Records)
						if build == "base" {
							bpfBase = append(bpfBase, v)
						} else {
							bpfNew = append(bpfNew, v)
						}
					}
				}
				// Each program's own ns a run and a record, median over
				// the rounds, base -> new (issue 14: what a cut saved,
				// program by program).
				var progs []string
				profs := map[string][]*profile.Profile{}
				for _, build := range []string{"base", "new"} {
					for r := 1; r <= rounds; r++ {
						profs[build] = append(profs[build], g.profile(fmt.Sprintf("%s.%s.%d", build, mode, r)))
					}
				}
				for _, pr := range profs["base"][0].Programs {
					perRun := map[string][]float64{}
					perRec := map[string][]float64{}
					for _, build := range []string{"base", "new"} {
						for _, p := range profs[build] {
							for _, q := range p.Programs {
								if q.Name == pr.Name && q.RunCount > 0 {
									perRun[build] = append(perRun[build], float64(q.RunTimeNs)/float64(q.RunCount))
									perRec[build] = append(perRec[build], float64(q.RunTimeNs)/float64(p.Totals.Records))
								}
							}
						}
					}
					if len(perRun["base"]) == 0 || len(perRun["new"]) == 0 {
						continue
					}
					progs = append(progs, fmt.Sprintf("%s %.0f->%.0f a run, %.0f->%.0f a record",
						pr.Name, median(perRun["base"]), median(perRun["new"]), median(perRec["base"]), median(perRec["new"])))
				}
				t.Logf("%s %s: programs' own ns, base->new: %s", k.Name, mode, strings.Join(progs, "; "))
				lo, hi := minMax(ratios)
				t.Logf("%s %s: guest s per round new/base %s; new vs base median %.4f (%.4f-%.4f); programs' own ns per record: base %.0f, new %.0f (+%.0f)",
					k.Name, mode, strings.Join(line, " "), median(ratios), lo, hi, median(bpfBase), median(bpfNew), median(bpfNew)-median(bpfBase))
			}
		})
	}
}
