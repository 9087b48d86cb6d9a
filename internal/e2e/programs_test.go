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
func TestPrograms(t *testing.T) {
	dir, files, kernels := guestSetup(t)
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
