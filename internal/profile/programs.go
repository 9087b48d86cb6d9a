package profile

import (
	"fmt"
	"sort"
)

// ProgramRow is one program's share: the records of every process that ran
// it. A program is what the kernel keys the row on: the task's comm (what
// auditd logs as comm=), its parent's comm (the script or cron job behind
// a swarm of short-lived processes), its cgroup (a systemd unit or a
// container), and Self. The table is bounded by the number of distinct
// programs, not of processes, so thousands of short-lived processes fit in
// one row where the process table (Processes) would overflow.
type ProgramRow struct {
	Comm       string `json:"comm"`
	ParentComm string `json:"parent_comm"`
	CgroupID   uint64 `json:"cgroup_id,omitempty"`
	// Cgroup is the cgroup v2 path of CgroupID, as for Process.
	Cgroup string `json:"cgroup,omitempty"`
	// Self marks auditprof's own records: its process's and its child
	// processes' (the AUDIT_GET helper), the observer's cost.
	Self bool `json:"self,omitempty"`
	// Exe is the file name of the executable the row's first process ran
	// (its mm->exe_file): an interpreter for a script, whose comm is the
	// script's name. Empty for kernel threads.
	Exe string `json:"exe,omitempty"`
	// Overflow marks the row of the programs that did not fit in the
	// kernel's table (Comm "other"); its records are Overflows.Programs.
	Overflow bool `json:"overflow,omitempty"`
	// Processes counts the processes whose records landed in the row,
	// each once (a process that execs or renames itself counts in each
	// row it made records in). Exact while fewer than 16,384 (process,
	// row) pairs are remembered at once (an LRU map): a process idle
	// long enough to be evicted and seen again is counted twice.
	Processes uint64 `json:"processes"`
	Records   uint64 `json:"records"`
	Queued    uint64 `json:"queued"`
	Bytes     uint64 `json:"bytes"`
	Lost      uint64 `json:"lost"`
	Waits     uint64 `json:"waits"`
	WaitNs    uint64 `json:"wait_ns"`
	MaxWaitNs uint64 `json:"max_wait_ns"`
	BlockedNs uint64 `json:"blocked_ns"`
}

// RecordsPerProcess is the row's records over its processes (0 with none).
func (r ProgramRow) RecordsPerProcess() float64 {
	if r.Processes == 0 {
		return 0
	}
	return float64(r.Records) / float64(r.Processes)
}

// ProgramsAddUp says whether the program rows sum to the totals: every
// record, loss and enqueue is counted in exactly one row. Only for a
// finished recording (a live snapshot reads the totals and the rows at
// different instants) and only where the rows were recorded (BPF modes).
func (p *Profile) ProgramsAddUp() error {
	var sum rowSums
	for _, r := range p.ByProgram {
		sum.add(r.Records, r.Lost, r.Queued, r.Bytes)
	}
	return p.addsUp("program", sum)
}

// rowSums are a table's sums of what every row of it counts.
type rowSums struct{ records, lost, queued, bytes uint64 }

func (s *rowSums) add(records, lost, queued, bytes uint64) {
	s.records += records
	s.lost += lost
	s.queued += queued
	s.bytes += bytes
}

// addsUp says whether a table's sums equal the totals; what names the
// table's rows in the error.
func (p *Profile) addsUp(what string, s rowSums) error {
	t := p.Totals
	switch {
	case s.records != t.Records:
		return fmt.Errorf("%s rows hold %d records, totals %d", what, s.records, t.Records)
	case s.lost != t.Lost:
		return fmt.Errorf("%s rows hold %d lost, totals %d", what, s.lost, t.Lost)
	case s.queued != t.Queued:
		return fmt.Errorf("%s rows hold %d queued, totals %d", what, s.queued, t.Queued)
	case s.bytes != t.BytesQueued:
		return fmt.Errorf("%s rows hold %d bytes queued, totals %d", what, s.bytes, t.BytesQueued)
	}
	return nil
}

// sortPrograms orders the program rows as views rank them: most lost
// first, then most records; the overflow row last among equals.
func (p *Profile) sortPrograms() {
	sort.SliceStable(p.ByProgram, func(i, j int) bool {
		a, b := p.ByProgram[i], p.ByProgram[j]
		if a.Lost != b.Lost {
			return a.Lost > b.Lost
		}
		if a.Records != b.Records {
			return a.Records > b.Records
		}
		if a.Comm != b.Comm {
			return a.Comm < b.Comm
		}
		if a.ParentComm != b.ParentComm {
			return a.ParentComm < b.ParentComm
		}
		return a.CgroupID < b.CgroupID
	})
}

// ProcessesAddUp says whether the process rows (each process's, the
// short-lived row's and the "other" row's) sum to the totals: every
// record, loss and enqueue is counted in exactly one of them. A process's
// own row counts from the moment it was ProcessMinAgeNs old, what it did
// before is in the short-lived row. Like ProgramsAddUp, only for a
// finished BPF recording.
func (p *Profile) ProcessesAddUp() error {
	var sum rowSums
	for _, r := range p.Processes {
		sum.add(r.Records, r.Lost, r.Queued, r.Bytes)
	}
	return p.addsUp("process", sum)
}

// RuleProgramsAddUp says whether each rule's Programs sum to the rule's
// records, events and lost, but for the (rule, program) pairs that did not
// fit in the kernel's pair table: those belong to no rule's Programs, and
// their records (Overflows.RulePrograms) must be exactly what the rules
// are short of, summed over every rule. Only for a finished BPF recording.
func (p *Profile) RuleProgramsAddUp() error {
	var short uint64
	for _, r := range p.Rules {
		var rec, ev, lost uint64
		for _, rp := range r.Programs {
			rec += rp.Records
			ev += rp.Events
			lost += rp.Lost
		}
		switch {
		case rec > r.Records:
			return fmt.Errorf("rule %q (syscall %d): programs hold %d records, the rule %d", r.Key, r.Syscall, rec, r.Records)
		case ev > r.Events:
			return fmt.Errorf("rule %q (syscall %d): programs hold %d events, the rule %d", r.Key, r.Syscall, ev, r.Events)
		case lost > r.Lost:
			return fmt.Errorf("rule %q (syscall %d): programs hold %d lost, the rule %d", r.Key, r.Syscall, lost, r.Lost)
		case p.Overflows.RulePrograms == 0 && (rec != r.Records || ev != r.Events || lost != r.Lost):
			return fmt.Errorf("rule %q (syscall %d): programs hold %d records, %d events, %d lost; the rule %d, %d, %d",
				r.Key, r.Syscall, rec, ev, lost, r.Records, r.Events, r.Lost)
		}
		short += r.Records - rec
	}
	if short != p.Overflows.RulePrograms {
		return fmt.Errorf("rules' programs are short of %d records, the pair table overflowed by %d", short, p.Overflows.RulePrograms)
	}
	return nil
}

// sortRulePrograms orders each rule's programs by records, most first.
func (p *Profile) sortRulePrograms() {
	for i := range p.Rules {
		sort.SliceStable(p.Rules[i].Programs, func(a, b int) bool {
			x, y := p.Rules[i].Programs[a], p.Rules[i].Programs[b]
			if x.Records != y.Records {
				return x.Records > y.Records
			}
			if x.Comm != y.Comm {
				return x.Comm < y.Comm
			}
			if x.ParentComm != y.ParentComm {
				return x.ParentComm < y.ParentComm
			}
			return x.CgroupID < y.CgroupID
		})
	}
}
