package netlink

import (
	"fmt"
	"sync"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// LostReasonUnknown is the single loss reason netlink mode can give.
const LostReasonUnknown = "unknown (netlink mode)"

// tally holds what Run counts; the receive loop and the samplers share
// it.
type tally struct {
	mu        sync.Mutex
	start     time.Time
	tl        timeline
	attr      *attributor
	delivered uint64
	overruns  uint64
	first     *profile.AuditStatus
	last      *profile.AuditStatus
	lastAt    time.Time
	lost      uint64
	maxDepth  uint64
	// settings are the changes two samples in a row show (issue 20),
	// their times from start (profile shifts them to the timeline's
	// clock).
	settings []profile.SettingChange
}

func newTally(bucketNs int64, start time.Time) *tally {
	return &tally{start: start, tl: timeline{bucketNs: bucketNs}, attr: newAttributor()}
}

// addRecord counts one record received at at, unless stop is set and the
// record's event began after it.
func (t *tally) addRecord(at time.Time, typ uint16, payload []byte, stop time.Time) stampClass {
	m, err := parseMessage(typ, payload)
	if !stop.IsZero() && err == nil && !m.stamp.IsZero() {
		// The stamp is the kernel's coarse real-time clock at the
		// event's start, truncated to milliseconds: never later than
		// time.Now() would have read then.
		switch {
		case m.stamp.After(stop.Add(drainMargin)):
			return pastMargin
		case m.stamp.After(stop):
			return afterStop
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.delivered++
	t.tl.arrival(at.Sub(t.start).Nanoseconds())
	t.attr.add(m, err == nil)
	return counted
}

func (t *tally) overrun() {
	t.mu.Lock()
	t.overruns++
	t.mu.Unlock()
}

func (t *tally) addSample(at time.Time, st *profile.AuditStatus) Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d uint64
	if t.first == nil {
		t.first = st
	} else {
		d = lostDelta(t.last.Lost, st.Lost)
		t.lost += d
		t.settings = append(t.settings, profile.PolledChanges(*t.last, *st,
			t.lastAt.Sub(t.start).Nanoseconds(), at.Sub(t.start).Nanoseconds())...)
	}
	t.last, t.lastAt = st, at
	t.attr.progs.forgetParents()
	t.maxDepth = max(t.maxDepth, uint64(st.Backlog))
	t.tl.sample(at.Sub(t.start).Nanoseconds(), d, st.Backlog)
	return Progress{Delivered: t.delivered, Lost: t.lost, Backlog: st.Backlog, Overruns: t.overruns}
}

func (t *tally) profile(startMono int64, end time.Time) *profile.Profile {
	t.mu.Lock()
	defer t.mu.Unlock()
	procs, rules, ovf := t.attr.finish()
	progs, ovfProgs := t.attr.progs.finish()
	ovf.Programs = ovfProgs
	d := t.delivered
	p := &profile.Profile{
		Attach:      profile.AttachNetlink,
		AuditBefore: t.first,
		AuditAfter:  t.last,
		Totals: profile.Totals{
			Records:      d,
			Queued:       d,
			Drained:      d,
			Delivered:    d,
			Lost:         t.lost,
			LostByReason: map[string]uint64{},
			MaxDepth:     t.maxDepth,
			FirstSerial:  uint64(t.attr.firstSerial),
			LastSerial:   uint64(t.attr.lastSerial),
		},
		Processes:       procs,
		Rules:           rules,
		ByProgram:       progs,
		WaitHistogramNs: []profile.HistogramBucket{},
		Timeline:        t.tl.build(startMono, end.Sub(t.start).Nanoseconds()),
		Overflows:       ovf,
	}
	for _, c := range withSenders(t.settings, t.attr.configs, t.start) {
		c.MonoNs += startMono
		if c.Seen == profile.SeenPoll {
			c.SinceNs += startMono
		}
		p.Settings = append(p.Settings, c)
	}
	if t.attr.configsDropped > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%d changes of the audit settings past the first %d logged by the kernel were not kept: their senders are not named", t.attr.configsDropped, maxConfigs))
	}
	p.Netlink = &profile.NetlinkSocket{Overruns: t.overruns}
	if t.lost > 0 {
		p.Totals.LostByReason[LostReasonUnknown] = t.lost
	}
	return p
}
