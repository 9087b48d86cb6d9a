package netlink

import (
	"container/list"
	"sort"
	"time"

	"github.com/auditprof/auditprof/internal/auditrules"
	"github.com/auditprof/auditprof/internal/profile"
)

// Bounds on what attribution keeps.
const (
	// maxSerials is how many recent events (by serial) are remembered. The
	// records of one event arrive together, so only a queue of thousands
	// of interleaved events could split one.
	maxSerials = 4096
	// maxProcesses and maxRules bound the tables; the excess goes to one
	// overflow row each.
	maxProcesses = 4096
	maxRules     = 4096
)

// Names of the rows that are not one process or one rule.
const (
	// CommUnattributed is the process row (tgid 0) of records no SYSCALL
	// record claimed: records of non-syscall events (kernel threads,
	// configuration changes, user-space messages) and of events whose
	// SYSCALL record was not seen.
	CommUnattributed = "unattributed"
	// CommOther is the process row (tgid 0) of processes beyond
	// maxProcesses.
	CommOther = "other"
)

// event is one audit event (one serial) in flight.
type event struct {
	serial uint32
	sc     *syscallInfo // nil until its SYSCALL record arrives
	// pending counts records that arrived before the SYSCALL record (an
	// AVC or CONFIG_CHANGE emitted during the syscall, before
	// audit_log_exit): they are credited once the SYSCALL record says to
	// whom, or as unattributed if it never comes.
	pending uint64
	// configs are the event's changes of a setting, their sender filled
	// in by its SYSCALL record.
	configs []configRecord
}

// configRecord is a setting's change from its CONFIG_CHANGE record, with
// the record's stamp and the event's SYSCALL record (nil without one).
type configRecord struct {
	configInfo
	stamp  time.Time
	sender *syscallInfo
}

// maxConfigs bounds the settings' changes kept for their senders; the
// excess is counted (attributor.configsDropped).
const maxConfigs = 1024

type ruleKey struct {
	key string
	nr  int32
}

// attributor groups records by event serial and credits each to the
// process and rule of its event's SYSCALL record.
type attributor struct {
	maxSerials, maxProcs, maxRules int

	events map[uint32]*list.Element // of *event
	order  *list.List               // oldest first

	procs        map[uint32]*profile.Process
	procOther    profile.Process
	procUnattrib profile.Process
	rules        map[ruleKey]*profile.Rule
	ruleOther    profile.Rule
	ruleNone     profile.Rule

	overflowProcs, overflowRules uint64

	// progs counts the same records by program (profile.ByProgram).
	progs *programTable

	// firstSerial and lastSerial bound the serials of the SYSCALL
	// records seen (profile.Totals.FirstSerial); 0: none yet.
	firstSerial, lastSerial uint32

	// configs are the settings' changes of the events done, in order.
	configs        []configRecord
	configsDropped uint64
}

func newAttributor() *attributor {
	return &attributor{
		maxSerials: maxSerials, maxProcs: maxProcesses, maxRules: maxRules,
		events:       make(map[uint32]*list.Element),
		order:        list.New(),
		procs:        make(map[uint32]*profile.Process),
		procOther:    profile.Process{Comm: CommOther},
		procUnattrib: profile.Process{Comm: CommUnattributed},
		rules:        make(map[ruleKey]*profile.Rule),
		ruleOther:    profile.Rule{Syscall: profile.SyscallOther},
		ruleNone:     profile.Rule{Syscall: profile.SyscallNone},
		progs:        newProgramTable(),
	}
}

// add accounts one record. ok is false for a record that could not be
// parsed: it is credited as unattributed.
func (a *attributor) add(m message, ok bool) {
	if !ok {
		a.creditUnattributed(1)
		return
	}
	el, known := a.events[m.serial]
	if !known {
		if len(a.events) >= a.maxSerials {
			a.evict(a.order.Front())
		}
		el = a.order.PushBack(&event{serial: m.serial})
		a.events[m.serial] = el
	}
	ev := el.Value.(*event)
	if m.cfg != nil {
		ev.configs = append(ev.configs, configRecord{configInfo: *m.cfg, stamp: m.stamp, sender: ev.sc})
	}
	if m.sc != nil {
		for i := range ev.configs {
			ev.configs[i].sender = m.sc
		}
	}
	switch {
	case m.sc != nil:
		if a.firstSerial == 0 || m.serial < a.firstSerial {
			a.firstSerial = m.serial
		}
		a.lastSerial = max(a.lastSerial, m.serial)
		ev.sc = m.sc
		a.credit(ev.sc, 1+ev.pending, 1)
		ev.pending = 0
	case ev.sc != nil:
		a.credit(ev.sc, 1, 0)
	default:
		ev.pending++
	}
	if m.typ == typeEOE { // the event is complete
		a.evict(el)
	}
}

// evict forgets an event, crediting what it still holds.
func (a *attributor) evict(el *list.Element) {
	ev := a.order.Remove(el).(*event)
	delete(a.events, ev.serial)
	for _, c := range ev.configs {
		if len(a.configs) < maxConfigs {
			a.configs = append(a.configs, c)
		} else {
			a.configsDropped++
		}
	}
	if ev.pending > 0 {
		a.creditUnattributed(ev.pending)
	}
}

func (a *attributor) credit(sc *syscallInfo, records, events uint64) {
	p := a.procs[sc.tgid]
	if p == nil {
		if len(a.procs) < a.maxProcs {
			p = &profile.Process{Tgid: sc.tgid}
			a.procs[sc.tgid] = p
		} else {
			p = &a.procOther
			a.overflowProcs += records
		}
	}
	if p != &a.procOther {
		p.Comm = sc.comm // the latest: exec changes it
	}
	p.Records += records
	p.Queued += records
	a.progs.credit(sc, records)

	k := ruleKey{sc.key, sc.nr}
	r := a.rules[k]
	if r == nil {
		if len(a.rules) < a.maxRules {
			r = &profile.Rule{Key: sc.key, Syscall: sc.nr, Arch: auditrules.ArchName(sc.arch), SyscallName: auditrules.SyscallName(sc.nr, sc.arch)}
			a.rules[k] = r
		} else {
			r = &a.ruleOther
			a.overflowRules += records
		}
	}
	r.Records += records
	r.Events += events
}

func (a *attributor) creditUnattributed(n uint64) {
	a.procUnattrib.Records += n
	a.procUnattrib.Queued += n
	a.ruleNone.Records += n
	a.progs.creditUnattributed(n)
}

// finish credits the events still waiting for a SYSCALL record and returns
// the tables, with the unattributed and overflow rows last when non-empty.
func (a *attributor) finish() ([]profile.Process, []profile.Rule, profile.Overflows) {
	for a.order.Len() > 0 {
		a.evict(a.order.Front())
	}
	procs := make([]profile.Process, 0, len(a.procs)+2)
	for _, p := range a.procs {
		procs = append(procs, *p)
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Tgid < procs[j].Tgid })
	for _, p := range []profile.Process{a.procUnattrib, a.procOther} {
		if p.Records > 0 {
			procs = append(procs, p)
		}
	}
	rules := make([]profile.Rule, 0, len(a.rules)+2)
	for _, r := range a.rules {
		rules = append(rules, *r)
	}
	sort.Slice(rules, func(i, j int) bool {
		if rules[i].Key != rules[j].Key {
			return rules[i].Key < rules[j].Key
		}
		return rules[i].Syscall < rules[j].Syscall
	})
	for _, r := range []profile.Rule{a.ruleNone, a.ruleOther} {
		if r.Records > 0 {
			rules = append(rules, r)
		}
	}
	return procs, rules, profile.Overflows{Processes: a.overflowProcs, Rules: a.overflowRules}
}
