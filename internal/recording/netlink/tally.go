package netlink

import (
	"sync"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// LostReasonUnknown is the single loss reason netlink mode can give.
const LostReasonUnknown = "unknown (netlink mode)"

// recorder holds what Record accumulates; the receive loop and the
// sampler share it.
type recorder struct {
	mu        sync.Mutex
	start     time.Time
	tl        timeline
	attr      *attributor
	delivered uint64
	overruns  uint64
	first     *profile.AuditStatus
	last      *profile.AuditStatus
	lost      uint64
	maxDepth  uint64
}

func newRecorder(bucketNs int64, start time.Time) *recorder {
	return &recorder{start: start, tl: timeline{bucketNs: bucketNs}, attr: newAttributor()}
}

// addRecord counts one record received at at, unless stop is set and the
// record's event began after it.
func (r *recorder) addRecord(at time.Time, typ uint16, payload []byte, stop time.Time) stampClass {
	rec, err := parseRecord(typ, payload)
	if !stop.IsZero() && err == nil && !rec.stamp.IsZero() {
		// The stamp is the kernel's coarse real-time clock at the
		// event's start, truncated to milliseconds: never later than
		// time.Now() would have read then.
		switch {
		case rec.stamp.After(stop.Add(drainMargin)):
			return pastMargin
		case rec.stamp.After(stop):
			return afterStop
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered++
	r.tl.arrival(at.Sub(r.start).Nanoseconds())
	r.attr.add(rec, err == nil)
	return counted
}

func (r *recorder) overrun() {
	r.mu.Lock()
	r.overruns++
	r.mu.Unlock()
}

func (r *recorder) addSample(at time.Time, st *profile.AuditStatus) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d uint64
	if r.first == nil {
		r.first = st
	} else {
		d = lostDelta(r.last.Lost, st.Lost)
		r.lost += d
	}
	r.last = st
	r.maxDepth = max(r.maxDepth, uint64(st.Backlog))
	r.tl.sample(at.Sub(r.start).Nanoseconds(), d, st.Backlog)
	return Progress{Delivered: r.delivered, Lost: r.lost, Backlog: st.Backlog, Overruns: r.overruns}
}

func (r *recorder) profile(startMono int64, end time.Time) *profile.Profile {
	r.mu.Lock()
	defer r.mu.Unlock()
	procs, rules, ovf := r.attr.finish()
	d := r.delivered
	p := &profile.Profile{
		Attach:      profile.AttachNetlink,
		AuditBefore: r.first,
		AuditAfter:  r.last,
		Totals: profile.Totals{
			Records:      d,
			Queued:       d,
			Drained:      d,
			Delivered:    d,
			Lost:         r.lost,
			LostByReason: map[string]uint64{},
			MaxDepth:     r.maxDepth,
			FirstSerial:  uint64(r.attr.firstSerial),
			LastSerial:   uint64(r.attr.lastSerial),
		},
		Processes:       procs,
		Rules:           rules,
		WaitHistogramNs: []profile.HistogramBucket{},
		Timeline:        r.tl.build(startMono, end.Sub(r.start).Nanoseconds()),
		Overflows:       ovf,
	}
	p.Netlink = &profile.NetlinkSocket{Overruns: r.overruns}
	if r.lost > 0 {
		p.Totals.LostByReason[LostReasonUnknown] = r.lost
	}
	return p
}
