package netlink

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// fakeParents answers parentComm from a map ("" for a pid not in it: a
// parent gone before its child's record arrived), counting the reads.
func fakeParents(a *attributor, names map[uint32]string) *int {
	reads := 0
	a.progs.parentComm = func(pid uint32) string { reads++; return names[pid] }
	a.progs.self = 0
	return &reads
}

// shortCat is the SYSCALL record of one short-lived cat of a shell loop
// (ppid 1201, a new pid each time), as the multicast group carries it.
func shortCat(serial, pid int) string {
	return fmt.Sprintf(`audit(1700000000.500:%d): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd a2=0 a3=0 items=1 ppid=1201 pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" subj=unconfined key="etc-read"`, serial, pid)
}

func TestProgramRows(t *testing.T) {
	a := newAttributor()
	fakeParents(a, map[uint32]string{1201: "sh", 1: "systemd"})
	// The openat event of cat 1234 (five records), 100 short-lived cats
	// of the same loop (two records each), the chmod of "my script"
	// (parent 1), rm (pid 1234 again, after an exec), and a record no
	// SYSCALL record claims.
	in := []raw{{tSyscall, sysOpenat}, {tCwd, cwd4567}, {tPath, path4567}, {tProctitle, title4567}, {tEOE, eoe4567}}
	for i := range 100 {
		in = append(in, raw{tSyscall, shortCat(5000+i, 3000+i)}, raw{tEOE, fmt.Sprintf("audit(1700000000.500:%d): ", 5000+i)})
	}
	in = append(in, raw{tSyscall, sysChmod}, raw{tEOE, eoe4568}, raw{tSyscall, sysUnlink}, raw{tConfigChange, configChange})
	attribute(a, in)
	a.finish()
	rows, ovf := a.progs.finish()
	want := []profile.ProgramRow{
		{Comm: "cat", ParentComm: "sh", Exe: "cat", Processes: 101, Records: 205, Queued: 205},
		{Comm: "my script", ParentComm: "systemd", Exe: "bash", Processes: 1, Records: 2, Queued: 2},
		{Comm: "rm", ParentComm: "sh", Exe: "rm", Processes: 1, Records: 1, Queued: 1},
		{Comm: CommUnattributed, Records: 1, Queued: 1},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("program rows\n got %+v\nwant %+v", rows, want)
	}
	if ovf != 0 {
		t.Errorf("overflow %d", ovf)
	}
	// Every record is in one program row, as in one process row.
	procs, _, _ := a.finish()
	var byProc, byProg uint64
	for _, p := range procs {
		byProc += p.Records
	}
	for _, r := range rows {
		byProg += r.Records
	}
	if byProg != byProc || byProg != uint64(len(in)) {
		t.Errorf("program rows hold %d records, process rows %d, %d received", byProg, byProc, len(in))
	}
}

func TestProgramRowsBounds(t *testing.T) {
	a := newAttributor()
	reads := fakeParents(a, map[uint32]string{7: "cron"})
	a.progs.maxPrograms, a.progs.maxRowPids, a.progs.maxParents = 2, 2, 1
	for i, comm := range []string{"p0", "p1", "p2", "p3", "p0", "p0", "p0"} {
		// p0's pids: 10, 15, 16, then 10 again once its pair was
		// forgotten (the pair table holds two).
		pid := []int{10, 11, 12, 13, 15, 16, 10}[i]
		msg := fmt.Sprintf(`audit(1.000:%d): arch=c000003e syscall=1 ppid=7 pid=%d comm="%s" exe="/bin/%s" key="k"`, 100+i, pid, comm, comm)
		m, err := parseMessage(tSyscall, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		a.add(m, true)
		a.add(message{typ: tEOE, serial: uint32(100 + i)}, true)
	}
	rows, ovf := a.progs.finish()
	want := []profile.ProgramRow{
		// 10, 15, 16, and 10 counted again: a process seen again after
		// its pair was forgotten counts twice, as documented.
		{Comm: "p0", ParentComm: "cron", Exe: "p0", Processes: 4, Records: 8, Queued: 8},
		{Comm: "p1", ParentComm: "cron", Exe: "p1", Processes: 1, Records: 2, Queued: 2},
		{Comm: CommOther, Overflow: true, Records: 4, Queued: 4},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("program rows\n got %+v\nwant %+v", rows, want)
	}
	if ovf != 4 {
		t.Errorf("overflow counted %d records, want 4", ovf)
	}
	if len(a.progs.parents) > 1 || len(a.progs.seen) > 2 || len(a.progs.ring) > 2 {
		t.Errorf("caches over their bounds: %d parents, %d pairs", len(a.progs.parents), len(a.progs.seen))
	}
	// One parent, cached: read once per record only when the cache was
	// emptied, never more than once per record.
	if *reads < 1 || *reads > 7 {
		t.Errorf("%d reads of /proc for 7 records", *reads)
	}
}

// TestProgramRowsSelfAndParentGone: auditprof's records and its child's
// are its own row; a parent gone before the record arrived leaves the
// parent empty; the parents' cache is emptied at each sample.
func TestProgramRowsSelfAndParentGone(t *testing.T) {
	start := time.Unix(1000, 0)
	ta := newTally(int64(100*time.Millisecond), start)
	names := map[uint32]string{50: "bash", 60: "auditprof"}
	reads := fakeParents(ta.attr, names)
	ta.attr.progs.self = 60
	rec := func(serial, pid, ppid int, comm string) {
		msg := fmt.Sprintf(`audit(1.000:%d): arch=c000003e syscall=1 ppid=%d pid=%d comm="%s" exe="/usr/sbin/%s" key="k"`, serial, ppid, pid, comm, comm)
		ta.addRecord(start, tSyscall, []byte(msg), time.Time{})
	}
	rec(1, 60, 50, "auditprof") // auditprof itself
	rec(2, 61, 60, "auditprof") // its AUDIT_GET child
	rec(3, 70, 99, "orphan")    // parent 99 gone
	ta.addSample(start, &profile.AuditStatus{})
	names[99] = "reused" // pid 99 reused by another program
	rec(4, 71, 99, "orphan")
	p := ta.profile(0, start.Add(time.Second))
	var got []string
	for _, r := range p.ByProgram {
		got = append(got, fmt.Sprintf("%s/%s/%v/%d", r.Comm, r.ParentComm, r.Self, r.Records))
	}
	want := "auditprof/auditprof/true/1 auditprof/bash/true/1 orphan//false/1 orphan/reused/false/1"
	if strings.Join(got, " ") != want {
		t.Errorf("rows %v, want %s", got, want)
	}
	if *reads != 4 {
		t.Errorf("%d parent reads, want 4 (50, 60, 99, and 99 again after the sample emptied the cache)", *reads)
	}
}

func TestReadComm(t *testing.T) {
	want, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip(err)
	}
	if got := readComm(uint32(os.Getpid())); got != strings.TrimSpace(string(want)) {
		t.Errorf("readComm(self) = %q, want %q", got, want)
	}
	if got := readComm(0); got != "" {
		t.Errorf("readComm(0) = %q", got)
	}
	if got := readComm(1 << 30); got != "" {
		t.Errorf("readComm of a pid that does not exist = %q", got)
	}
}
