package e2e

import (
	_ "embed"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/vmtest"
)

//go:embed testdata/uring.sh
var uringSh string

// ioUringEnter is __NR_io_uring_enter on x86_64 (and every other arch).
const ioUringEnter = 426

// TestUring, issue 14's item 2: io_uring records are keyed by their
// opcode, not as syscall 0. With an io_uring rule on openat (key uring),
// 200 openat operations run by io-wq workers (io_uring events:
// AUDIT_CTX_URING, whose ctx->major is 0) and 200 submitted for
// io_uring_enter to run inline (a URINGOP record inside the syscall's
// event, which the rule's context then records as an io_uring_enter
// SYSCALL event): the row keyed uring/openat holds exactly the io_uring
// events' records and events plus the inline URINGOP records auditd
// logged, the io_uring_enter row exactly that syscall's events, and no row
// is syscall 0. Both kernels, fentry; kprobes with task storage on the
// first kernel (whose kretprobe reads the context through current's BTF
// pointer) and with the hash fallback on the last
// (AUDITPROF_URING_VARIANTS=fentry, kprobe or kprobe-hash runs one).
func TestUring(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	files["/bin/uringload"] = guestBinary(t, "amd64", "./uringload")
	only := os.Getenv("AUDITPROF_URING_VARIANTS")
	for i, k := range kernels {
		for _, v := range []struct {
			name, mode, flags, taskState string
		}{
			{"fentry", "fentry", "", "task-storage"},
			{"kprobe", "kprobe", "", "task-storage"},
			{"kprobe-hash", "kprobe", "--task-state hash", "hash"},
		} {
			if (only != "" && !strings.Contains(","+only+",", ","+v.name+",")) ||
				(only == "" && v.name == "kprobe" && i != 0) ||
				(only == "" && v.name == "kprobe-hash" && i != len(kernels)-1) {
				continue
			}
			t.Run(k.Name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
					Vars:   map[string]string{"MODE": v.mode, "RECORD_FLAGS": v.flags},
					Script: guestScript(uringSh), Timeout: 20 * time.Minute})
				checkUring(t, g, v.mode, v.taskState)
			})
		}
	}
}

// uringLogged is what auditd logged for a row: events, and records with
// one EOE per event (auditd does not log EOE).
type uringLogged struct{ events, records uint64 }

var auditLine = regexp.MustCompile(`^type=(\w+) msg=audit\([0-9.]+:([0-9]+)\):`)

// parseUringLog reads the guest's uring.log (every record of the events
// holding a URINGOP or an io_uring_enter SYSCALL) within the recording's
// serial range into: per opcode, the io_uring events (a URINGOP and no
// SYSCALL) with all their records, plus the URINGOP records made inline
// in a syscall's event; and the io_uring_enter events with their other
// records. outside counts the events outside the serial range.
func parseUringLog(t *testing.T, s string, p *profile.Profile) (ops map[int32]*uringLogged, enter uringLogged, inline uint64, outside int) {
	t.Helper()
	type event struct {
		lines   int
		ops     []int32
		syscall int64
	}
	events := map[uint64]*event{}
	for _, line := range strings.Split(s, "\n") {
		m := auditLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		serial, _ := strconv.ParseUint(m[2], 10, 64)
		e := events[serial]
		if e == nil {
			e = &event{syscall: -1}
			events[serial] = e
		}
		e.lines++
		switch m[1] {
		case "URINGOP":
			op, err := strconv.Atoi(field(line, "uring_op"))
			if err != nil {
				t.Fatalf("URINGOP without uring_op: %s", line)
			}
			e.ops = append(e.ops, int32(op))
		case "SYSCALL":
			e.syscall, _ = strconv.ParseInt(field(line, "syscall"), 10, 64)
		}
	}
	ops = map[int32]*uringLogged{}
	add := func(op int32, events, records uint64) {
		if ops[op] == nil {
			ops[op] = &uringLogged{}
		}
		ops[op].events += events
		ops[op].records += records
	}
	for serial, e := range events {
		if serial < p.Totals.FirstSerial || serial > p.Totals.LastSerial {
			outside++
			continue
		}
		if e.syscall < 0 {
			if len(e.ops) != 1 {
				t.Errorf("event %d: %d URINGOP records and no SYSCALL", serial, len(e.ops))
				continue
			}
			add(e.ops[0], 1, uint64(e.lines)+1)
			continue
		}
		for _, op := range e.ops {
			add(op, 0, 1)
			inline++
		}
		if e.syscall == ioUringEnter {
			enter.events++
			enter.records += uint64(e.lines-len(e.ops)) + 1
		}
	}
	return ops, enter, inline, outside
}

// field is the value of NAME= in an audit record.
func field(line, name string) string {
	i := strings.Index(line, " "+name+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(name)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return strings.Trim(v, `"`)
}

func checkUring(t *testing.T, g guestRun, mode, taskState string) {
	if rc := g.exitCode("rule"); rc != 0 {
		t.Fatalf("uringload rule exited %d: %s", rc, g.section("rule.out"))
	}
	t.Logf("auditctl -l: %q", strings.TrimSpace(g.section("loaded")))
	for _, w := range []string{"async", "inline"} {
		if rc := g.exitCode(w); rc != 0 {
			t.Fatalf("uringload open 200 %s exited %d: %s", w, rc, g.section(w+".out"))
		}
	}
	p := g.profile("u")
	checkAttach(t, p, mode, taskState)
	if rc := g.exitCode("u"); rc != 0 {
		t.Fatalf("record exited %d: %s", rc, g.section("u.out"))
	}
	if lost := g.delta("u", "lost"); lost != 0 || p.Totals.Lost != 0 {
		t.Errorf("lost %d (kernel) and %d (profile); this load must lose none", lost, p.Totals.Lost)
	}
	if err := p.RuleProgramsAddUp(); err != nil {
		t.Error(err)
	}

	ops, enter, inline, outside := parseUringLog(t, g.section("uring.log"), p)
	if outside > 0 {
		t.Errorf("%d io_uring events in auditd's log outside the recording's serials [%d, %d]", outside,
			p.Totals.FirstSerial, p.Totals.LastSerial)
	}
	logged := ops[18]
	if logged == nil || logged.events < 200 {
		t.Fatalf("auditd logged %+v for openat (18), want at least the 200 io-wq operations as events", logged)
	}
	t.Logf("auditd logged: openat events %d, records %d (with %d URINGOP records inline in io_uring_enter); io_uring_enter events %d, records %d; opcodes %v",
		logged.events, logged.records, inline, enter.events, enter.records, keysOf(ops))

	var opRow, enterRow *profile.Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Syscall == 0 {
			t.Errorf("a row keyed as syscall 0: %+v", *r)
		}
		if r.Key != "uring" {
			continue
		}
		t.Logf("row %q %s: records %d, events %d, lost %d, uring_op %v", r.Key, r.SyscallLabel(), r.Records, r.Events, r.Lost, r.Op())
		switch {
		case r.UringOp != nil && *r.UringOp == 18:
			opRow = r
		case r.UringOp != nil:
			if ops[*r.UringOp] == nil {
				t.Errorf("row for opcode %d, which auditd never logged", *r.UringOp)
			}
		case r.Syscall == ioUringEnter:
			enterRow = r
		default:
			t.Errorf("a row of key uring that is neither io_uring nor io_uring_enter: %+v", *r)
		}
	}
	if opRow == nil {
		t.Fatal("no row keyed uring / io_uring openat")
	}
	if opRow.Syscall != profile.SyscallUring || opRow.UringOpName != "openat" || opRow.SyscallLabel() != "io_uring openat" || opRow.Arch != "" {
		t.Errorf("openat row: syscall %d, name %q, label %q, arch %q; want %d, openat, io_uring openat, none",
			opRow.Syscall, opRow.UringOpName, opRow.SyscallLabel(), opRow.Arch, profile.SyscallUring)
	}
	if opRow.Events != logged.events || opRow.Records != logged.records {
		t.Errorf("openat row: %d events, %d records; auditd logged %d events, %d records (with EOE)",
			opRow.Events, opRow.Records, logged.events, logged.records)
	}
	switch {
	case enter.events == 0 && enterRow != nil:
		t.Errorf("an io_uring_enter row (%d records) and no io_uring_enter event in auditd's log", enterRow.Records)
	case enter.events > 0 && enterRow == nil:
		t.Errorf("no io_uring_enter row; auditd logged %d events", enter.events)
	case enterRow != nil && (enterRow.Events != enter.events || enterRow.Records != enter.records || enterRow.UringOp != nil):
		t.Errorf("io_uring_enter row: %d events, %d records, uring_op %v; auditd logged %d events, %d records (with EOE)",
			enterRow.Events, enterRow.Records, enterRow.Op(), enter.events, enter.records)
	}

	// Both rows are joined to the io_uring rule (the only one loaded),
	// and `rules` labels the operation's row by its opcode's name.
	for _, n := range p.Notes {
		if strings.Contains(n, "rules are not joined") {
			t.Errorf("profile note: %s", n)
		}
	}
	if !slices.Equal(opRow.Matches, []int{1}) || (enterRow != nil && !slices.Equal(enterRow.Matches, []int{1})) {
		t.Errorf("openat row joined to %v, io_uring_enter row to %v; want the io_uring rule, [1]", opRow.Matches, enterRow.Matches)
	}
	if len(p.LoadedRules) != 1 || p.LoadedRules[0].Text != "-a always,io_uring -S openat -F key=uring" {
		t.Errorf("loaded rules %+v, want the io_uring rule", p.LoadedRules)
	}
	if rc := g.exitCode("rules"); rc != 0 {
		t.Fatalf("rules exited %d: %s", rc, g.section("rules.out"))
	}
	var rep struct {
		Rules []struct {
			Key      string   `json:"key"`
			Text     string   `json:"text"`
			Records  uint64   `json:"records"`
			Syscalls []string `json:"syscalls"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(g.section("rules.out")), &rep); err != nil {
		t.Fatalf("rules --json: %v\n%s", err, g.section("rules.out"))
	}
	found := false
	for _, r := range rep.Rules {
		if r.Key == "uring" {
			found = true
			t.Logf("rules: %q %q syscalls %q, %d records", r.Key, r.Text, r.Syscalls, r.Records)
			if !slices.Contains(r.Syscalls, "io_uring openat") || r.Records != opRow.Records+recordsOf(enterRow) {
				t.Errorf("rules: key uring shows %q and %d records, want io_uring openat among them and %d", r.Syscalls, r.Records,
					opRow.Records+recordsOf(enterRow))
			}
		}
	}
	if !found {
		t.Errorf("rules shows no key uring:\n%s", g.section("rules.out"))
	}
}

func recordsOf(r *profile.Rule) uint64 {
	if r == nil {
		return 0
	}
	return r.Records
}

func keysOf[V any](m map[int32]V) []int32 {
	var out []int32
	for k := range m {
		out = append(out, k)
	}
	return out
}
