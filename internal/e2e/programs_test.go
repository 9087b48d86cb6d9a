package e2e

import (
	"bufio"
	_ "embed"
	"encoding/hex"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

//go:embed testdata/programs.sh
var programsSh string

// TestPrograms, the proof of issue 13: 6,000 short-lived `cat` processes,
// then one long-lived stress-ng opener, recorded at the default map sizes
// (4,096 processes, 1,024 programs). The program table must name `cat` and
// stress-ng's worker first and second (auditprof's own rows aside), with
// records per program equal to auditd's log grouped by the events' comm=,
// `cat`'s process count exactly 6,000, the overflow rows under 1% of the
// records, and the rows summing to the totals. Both kernels; fentry with
// task storage and kprobes with the hash fallback
// (AUDITPROF_PROGRAMS_VARIANTS=fentry or kprobe-hash runs one).
//
// Also the rest of issue 13's kernel side: the openat rule's programs
// (cat under sh, stress-ng's worker) with auditd's counts, each rule's
// programs summing to it; per-process rows only for processes older than
// --process-min-age (500ms here): no `cat` row, a row for the stress-ng
// worker holding what it did once that old, the short-lived row, the
// process rows and "other" summing to the totals; each program row's
// executable. The attribution maps' memory at the defaults is logged.
func TestPrograms(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	logMapMemory(t)
	only := os.Getenv("AUDITPROF_PROGRAMS_VARIANTS")
	for _, k := range kernels {
		for _, v := range []struct {
			name, mode, flags, taskState string
		}{
			{"fentry", "fentry", "", "task-storage"},
			{"kprobe-hash", "kprobe", "--task-state hash", "hash"},
		} {
			if only != "" && !strings.Contains(","+only+",", ","+v.name+",") {
				continue
			}
			t.Run(k.Name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
					Vars:   map[string]string{"MODE": v.mode, "RECORD_FLAGS": v.flags},
					Script: guestScript(programsSh), Timeout: 35 * time.Minute})
				checkPrograms(t, g, v.mode, v.taskState)
			})
		}
	}
}

// loggedByComm is what auditd logged for the events of a recording's serial
// range, per comm: events, records (plus one EOE per event, which auditd
// does not log) and distinct pids.
type loggedByComm struct {
	events, records uint64
	pids            map[string]bool
}

func parseByComm(t *testing.T, s string, p *profile.Profile) map[string]*loggedByComm {
	t.Helper()
	out := map[string]*loggedByComm{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue
		}
		serial, _ := strconv.ParseUint(f[1], 10, 64)
		n, _ := strconv.ParseUint(f[2], 10, 64)
		if serial < p.Totals.FirstSerial || serial > p.Totals.LastSerial {
			continue
		}
		comm := unquoteComm(f[0])
		c := out[comm]
		if c == nil {
			c = &loggedByComm{pids: map[string]bool{}}
			out[comm] = c
		}
		c.events++
		c.records += n + 1 // the EOE record
		c.pids[f[3]] = true
	}
	return out
}

// unquoteComm turns auditd's comm= field into the name: quoted, or hex
// when it holds characters auditd escapes.
func unquoteComm(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.Trim(s, `"`)
	}
	if b, err := hex.DecodeString(s); err == nil {
		return string(b)
	}
	return s
}

func checkPrograms(t *testing.T, g guestRun, mode, taskState string) {
	p := g.profile("p")
	checkAttach(t, p, mode, taskState)
	if rc := g.exitCode("p"); rc != 0 {
		t.Fatalf("record exited %d: %s", rc, g.section("p.out"))
	}
	if lost := g.delta("p", "lost"); lost != 0 || p.Totals.Lost != 0 {
		t.Errorf("lost %d (kernel) and %d (profile); this load must lose none", lost, p.Totals.Lost)
	}
	if err := p.ProgramsAddUp(); err != nil {
		t.Errorf("program rows do not add up: %v", err)
	}
	if len(p.ByProgram) == 0 {
		t.Fatalf("the profile has no program rows:\n%s", g.section("p.out"))
	}

	// Per comm, ours against auditd's log over the recording's serials.
	ours := map[string]profile.ProgramRow{}
	var other, self uint64
	for _, r := range p.ByProgram {
		switch {
		case r.Overflow:
			other += r.Records
			continue
		case r.Self:
			self += r.Records
			continue
		}
		o := ours[r.Comm]
		o.Comm = r.Comm
		o.Records += r.Records
		o.Processes += r.Processes
		ours[r.Comm] = o
	}
	var ranked []profile.ProgramRow
	for _, r := range ours {
		ranked = append(ranked, r)
	}
	sort.Slice(ranked, func(i, j int) bool { return ranked[i].Records > ranked[j].Records })
	for i, r := range ranked {
		if i < 8 {
			t.Logf("program %d: %-16s records %6d processes %5d", i+1, r.Comm, r.Records, r.Processes)
		}
	}
	t.Logf("totals: records %d, auditprof's own %d, overflow row %d; process rows overflowed %d times; program overflow %d",
		p.Totals.Records, self, other, p.Overflows.Processes, p.Overflows.Programs)
	if len(ranked) < 2 || ranked[0].Comm != "cat" || ranked[1].Comm != "stress-ng-open" {
		t.Errorf("programs ranked %v first, want cat then stress-ng-open", firstComms(ranked, 4))
	}
	if other*100 >= p.Totals.Records {
		t.Errorf("the overflow row holds %d of %d records, not under 1%%", other, p.Totals.Records)
	}
	if p.Overflows.Programs != other {
		t.Errorf("overflows.programs %d, the overflow row holds %d records", p.Overflows.Programs, other)
	}

	logged := parseByComm(t, g.section("by_comm"), p)
	for _, comm := range []string{"cat", "stress-ng-open"} {
		l := logged[comm]
		if l == nil {
			t.Errorf("auditd logged no event of %s", comm)
			continue
		}
		o := ours[comm]
		t.Logf("%s: ours %d records from %d processes; auditd's log %d events, %d records with EOE, %d pids",
			comm, o.Records, o.Processes, l.events, l.records, len(l.pids))
		if o.Records != l.records {
			t.Errorf("%s: %d records counted, auditd logged %d (with one EOE per event)", comm, o.Records, l.records)
		}
		if uint64(len(l.pids)) != o.Processes {
			t.Errorf("%s: %d processes counted, auditd's log names %d pids", comm, o.Processes, len(l.pids))
		}
	}
	checkByRuleAndProcess(t, p, logged)
	if n := ours["cat"].Processes; n != 6000 {
		t.Errorf("cat: %d processes counted, want 6000", n)
	}
	// The process table overflowed (more processes than its 4,096 rows):
	// the summary says where their records are.
	out := g.section("p.out")
	if !strings.Contains(out, "top programs") {
		t.Errorf("the summary has no program table:\n%s", out)
	}
	if p.Overflows.Processes > 0 && !strings.Contains(out, "in their program's row") {
		t.Errorf("the process table overflowed (%d) and the summary does not say where those records are:\n%s",
			p.Overflows.Processes, out)
	}
	t.Logf("summary:\n%s", out)
}

// logMapMemory logs the attribution maps' keys and values at the default
// sizes, the memory a recording such as this one holds.
func logMapMemory(t *testing.T) {
	sizes, err := probe.MapMemory(probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, m := range sizes {
		t.Logf("map %-15s key %3d value %3d entries %6d: %8d bytes", m.Name, m.KeySize, m.ValueSize, m.MaxEntries, m.Bytes)
		if m.Name != "inflight" {
			total += m.Bytes
		}
	}
	t.Logf("attribution maps: %d bytes of keys and values at the defaults (inflight, the hash fallback's, apart)", total)
}

// checkByRuleAndProcess: the rules' programs, the process table's rows
// for long-lived processes only, and the program rows' executables.
func checkByRuleAndProcess(t *testing.T, p *profile.Profile, logged map[string]*loggedByComm) {
	t.Helper()
	if err := p.RuleProgramsAddUp(); err != nil {
		t.Errorf("rules' programs do not add up: %v", err)
	}
	if p.Overflows.RulePrograms != 0 {
		t.Errorf("the (rule, program) table overflowed by %d records", p.Overflows.RulePrograms)
	}
	var load *profile.Rule
	for i := range p.Rules {
		if p.Rules[i].Key == "load" {
			if load != nil {
				t.Errorf("two rows of the load rule: %+v and %+v", *load, p.Rules[i])
			}
			load = &p.Rules[i]
		}
	}
	if load == nil {
		t.Fatalf("no row of the load rule: %+v", p.Rules)
	}
	byProg := map[[2]string]uint64{}
	for i, rp := range load.Programs {
		if i < 6 {
			t.Logf("rule load, program %d: %-16s parent %-16s self %-5v records %6d events %5d lost %d",
				i+1, rp.Comm, rp.ParentComm, rp.Self, rp.Records, rp.Events, rp.Lost)
		}
		byProg[[2]string{rp.Comm, rp.ParentComm}] += rp.Records
	}
	for _, c := range []struct{ comm, parent string }{{"cat", "sh"}, {"stress-ng-open", "stress-ng"}} {
		l := logged[c.comm]
		if l == nil {
			continue // reported by checkPrograms
		}
		if got := byProg[[2]string{c.comm, c.parent}]; got != l.records {
			t.Errorf("rule load, program %s (parent %s): %d records, auditd logged %d", c.comm, c.parent, got, l.records)
		}
	}
	if len(load.Programs) > 0 && (load.Programs[0].Comm != "cat" || load.Programs[0].ParentComm != "sh") {
		t.Errorf("rule load's first program is %s (parent %s), want cat (parent sh)", load.Programs[0].Comm, load.Programs[0].ParentComm)
	}

	// Processes: rows only for those older than --process-min-age.
	if p.ProcessMinAgeNs != 500e6 {
		t.Errorf("process_min_age_ns %d, want 500ms as recorded", p.ProcessMinAgeNs)
	}
	if err := p.ProcessesAddUp(); err != nil {
		t.Errorf("process rows do not add up: %v", err)
	}
	var short, other uint64
	var worker *profile.Process
	rows := 0
	for i, r := range p.Processes {
		switch {
		case r.ShortLived:
			short += r.Records
			if r.Tgid != 0 || r.Comm != "short-lived" {
				t.Errorf("short-lived row %+v", r)
			}
		case r.Tgid == 0:
			other += r.Records
		case r.Comm == "cat":
			t.Errorf("a process row for cat, which lives milliseconds: %+v", r)
		case r.Comm == "stress-ng-open":
			if worker != nil {
				t.Errorf("two stress-ng-open rows: %+v and %+v", *worker, r)
			}
			worker = &p.Processes[i]
		}
		if r.Tgid != 0 {
			rows++
		}
	}
	t.Logf("processes: %d rows of their own, short-lived row %d records, other %d, totals %d; overflow %d",
		rows, short, other, p.Totals.Records, p.Overflows.Processes)
	if other != 0 || p.Overflows.Processes != 0 {
		t.Errorf("the process table overflowed (other %d, overflow %d) with rows for long-lived processes only", other, p.Overflows.Processes)
	}
	var workerProg uint64
	for _, r := range p.ByProgram {
		if r.Comm == "stress-ng-open" && !r.Self {
			workerProg += r.Records
		}
	}
	if worker == nil {
		t.Errorf("stress-ng-open has no process row")
	} else {
		t.Logf("stress-ng-open: process row %d records (from 500ms of age on), program row %d", worker.Records, workerProg)
		if worker.Records == 0 || worker.Records > workerProg {
			t.Errorf("stress-ng-open's process row holds %d records, its program row %d: want more than 0 and at most that",
				worker.Records, workerProg)
		}
	}

	// Executables: cat is busybox's applet in the guest (/bin/cat is a
	// symlink to it), stress-ng's worker runs stress-ng.
	exe := map[string]string{}
	for _, r := range p.ByProgram {
		if !r.Overflow && !r.Self {
			if prev, ok := exe[r.Comm]; ok && prev != r.Exe {
				t.Logf("program %s: executables %q and %q", r.Comm, prev, r.Exe)
			}
			exe[r.Comm] = r.Exe
		}
	}
	for comm, want := range map[string]string{"cat": "busybox", "stress-ng-open": "stress-ng"} {
		if exe[comm] != want {
			t.Errorf("program %s: exe %q, want %q", comm, exe[comm], want)
		}
	}
	t.Logf("executables: cat %q, stress-ng-open %q, sh %q", exe["cat"], exe["stress-ng-open"], exe["sh"])
}

func firstComms(rows []profile.ProgramRow, n int) []string {
	var out []string
	for i, r := range rows {
		if i == n {
			break
		}
		out = append(out, r.Comm)
	}
	return out
}
