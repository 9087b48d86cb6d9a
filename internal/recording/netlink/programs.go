package netlink

import (
	"bytes"
	"os"
	"sort"
	"strconv"

	"github.com/auditprof/auditprof/internal/profile"
)

// Bounds on the program table.
const (
	// maxPrograms bounds the program rows; the records of programs beyond
	// it go to one overflow row (Overflows.Programs counts them).
	maxPrograms = 4096
	// maxRowPids bounds the (program row, pid) pairs remembered to count
	// each row's processes once: the oldest pair is forgotten first, and
	// a process seen again after that counts twice (as the BPF side's
	// LRU map does, profile.ProgramRow.Processes).
	maxRowPids = 16384
	// maxParents bounds the cache of parents' comms; it is also emptied
	// at every AUDIT_GET sample (forgetParents), so that a name is at
	// most a sample period old.
	maxParents = 1024
)

// programKey is what netlink mode keys a program row on: what the
// SYSCALL record names (comm=) and the parent's comm read from /proc. The
// record has no cgroup: CgroupID stays 0 (unknown).
type programKey struct {
	comm, parent string
	self         bool
}

// rowPid is one (program row, process) pair.
type rowPid struct {
	row  *profile.ProgramRow
	tgid uint32
}

// programTable counts records by program, bounded. It keeps the fields it
// counts by and nothing else of a record.
type programTable struct {
	maxPrograms, maxRowPids, maxParents int

	rows     map[programKey]*profile.ProgramRow
	other    profile.ProgramRow
	unattrib profile.ProgramRow
	overflow uint64

	// seen and ring remember the newest (row, pid) pairs, ring in
	// insertion order (next is the oldest once it is full).
	seen map[rowPid]struct{}
	ring []rowPid
	next int

	parents map[uint32]string
	// parentComm reads a parent's comm (readComm; tests replace it).
	parentComm func(pid uint32) string
	// self is this process's pid: its records and its children's (the
	// AUDIT_GET helper) are auditprof's own.
	self uint32
}

func newProgramTable() *programTable {
	return &programTable{
		maxPrograms: maxPrograms, maxRowPids: maxRowPids, maxParents: maxParents,
		rows:       make(map[programKey]*profile.ProgramRow),
		other:      profile.ProgramRow{Comm: CommOther, Overflow: true},
		unattrib:   profile.ProgramRow{Comm: CommUnattributed},
		seen:       make(map[rowPid]struct{}),
		parents:    make(map[uint32]string),
		parentComm: readComm,
		self:       uint32(os.Getpid()),
	}
}

// readComm returns /proc/PID/comm, "" when the process is gone. It is read
// when the record is received, not when it was made: under load kauditd
// delivers records seconds later, by when a short-lived parent may have
// exited (its children's rows then have no parent) or its pid been reused
// (another program's name). The kernel's record says only ppid=.
func readComm(pid uint32) string {
	if pid == 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSuffix(b, []byte("\n")))
}

func (t *programTable) parent(ppid uint32) string {
	if c, ok := t.parents[ppid]; ok {
		return c
	}
	c := t.parentComm(ppid)
	if len(t.parents) >= t.maxParents {
		clear(t.parents)
	}
	t.parents[ppid] = c
	return c
}

// forgetParents empties the parents' cache: parents exit and pids are
// reused, so a name is not kept longer than a sample period.
func (t *programTable) forgetParents() { clear(t.parents) }

// credit counts records of the process sc names in its program's row.
func (t *programTable) credit(sc *syscallInfo, records uint64) {
	self := t.self != 0 && (sc.tgid == t.self || sc.ppid == t.self)
	k := programKey{comm: sc.comm, parent: t.parent(sc.ppid), self: self}
	r := t.rows[k]
	if r == nil {
		if len(t.rows) < t.maxPrograms {
			r = &profile.ProgramRow{Comm: k.comm, ParentComm: k.parent, Self: self, Exe: sc.exe}
			t.rows[k] = r
		} else {
			r = &t.other
			t.overflow += records
		}
	}
	r.Records += records
	r.Queued += records
	if r != &t.other {
		t.countProcess(r, sc.tgid)
	}
}

// countProcess counts tgid in row r once while the pair is remembered.
func (t *programTable) countProcess(r *profile.ProgramRow, tgid uint32) {
	p := rowPid{r, tgid}
	if _, ok := t.seen[p]; ok {
		return
	}
	r.Processes++
	if len(t.ring) < t.maxRowPids {
		t.ring = append(t.ring, p)
	} else {
		delete(t.seen, t.ring[t.next])
		t.ring[t.next] = p
		t.next = (t.next + 1) % len(t.ring)
	}
	t.seen[p] = struct{}{}
}

func (t *programTable) creditUnattributed(n uint64) {
	t.unattrib.Records += n
	t.unattrib.Queued += n
}

// finish returns the program rows, most records first, the unattributed
// and overflow rows last when non-empty, and the overflow's records.
func (t *programTable) finish() ([]profile.ProgramRow, uint64) {
	rows := make([]profile.ProgramRow, 0, len(t.rows)+2)
	for _, r := range t.rows {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Records != b.Records {
			return a.Records > b.Records
		}
		if a.Comm != b.Comm {
			return a.Comm < b.Comm
		}
		if a.ParentComm != b.ParentComm {
			return a.ParentComm < b.ParentComm
		}
		return !a.Self && b.Self
	})
	for _, r := range []profile.ProgramRow{t.unattrib, t.other} {
		if r.Records > 0 {
			rows = append(rows, r)
		}
	}
	return rows, t.overflow
}
