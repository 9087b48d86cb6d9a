package profile

import (
	"fmt"
	"time"
)

// ConsumerGap is a stretch of a recording without a consumer (issue 20).
// Cause says which kind:
//   - GapNoAuditd: from the registered pid going to 0 (a clean stop
//     unregisters; a killed auditd is dropped at kauditd's next failed send,
//     unlogged, so the poll places it between two replies) to the next
//     registration, or the recording's end;
//   - GapReplaced: one auditd followed by another with no 0 between (a
//     killed auditd not yet dropped when the next registered, or both
//     within one poll): from the last bucket that delivered before the
//     registration (the poll's earlier reply where the timeline has no
//     delivered column) to the registration;
//   - GapDisabled: audit disabled (enabled 1 -> 0) to enabled again:
//     a syscall entered while audit is off is not audited
//     (__audit_syscall_entry returns while !audit_enabled; one entered
//     before still logs at its exit); other records still pass
//     audit_log_start, and an auditd still registered drains the queue.
type ConsumerGap struct {
	Cause string
	// FromNs is when the stretch began (for a change seen by the poll,
	// the earlier reply's time: it began within [FromNs, SeenNs]); ToNs
	// its end, 0 for none before the recording's: for an end seen by the
	// poll (the kernel does not log enabling audit while it is off), the
	// earliest it can be, and ToSeenNs the reply that showed it: it
	// ended within [ToNs, ToSeenNs]. The sums below run to ToNs.
	FromNs, SeenNs, ToNs, ToSeenNs int64
	// Arrivals, Lost and Delivered are the records made, lost and put on
	// an auditd's socket from FromNs's bucket to ToNs's (a gap seen by the
	// poll may begin before auditd went: what it took then is Delivered);
	// DeliveredAfter what the buckets from the registration's delivered
	// beyond their own arrivals, up to the records held (Held): what
	// kauditd held and delivered late, within MaxLateBuckets of it.
	Arrivals, Lost, Delivered, DeliveredAfter uint64
}

// The causes of a ConsumerGap.
const (
	GapNoAuditd = "no auditd"
	GapReplaced = "auditd replaced"
	GapDisabled = "audit disabled"
)

// Held is the gap's records that were neither lost nor delivered in it.
func (g ConsumerGap) Held() uint64 {
	return g.Arrivals - min(g.Lost+g.Delivered, g.Arrivals)
}

// MaxLateBuckets bounds where a gap's held records are looked for once
// auditd is back: a second of 10 ms buckets.
const MaxLateBuckets = 100

// ConsumerGaps are the recording's stretches without a consumer, from its
// settings and its timeline (one pass over the rows), in the order they
// began. A profile without the delivered column gives no DeliveredAfter.
func (p *Profile) ConsumerGaps() ([]ConsumerGap, error) {
	var gaps []ConsumerGap
	pid, enabled := uint32(0), uint32(1)
	if p.AuditBefore != nil {
		pid, enabled = p.AuditBefore.PID, p.AuditBefore.Enabled
	}
	open, off := -1, -1
	if pid == 0 && p.AuditBefore != nil {
		gaps, open = append(gaps, ConsumerGap{Cause: GapNoAuditd, FromNs: p.Timeline.StartNs, SeenNs: p.Timeline.StartNs}), 0
	}
	if enabled == 0 && p.AuditBefore != nil {
		gaps, off = append(gaps, ConsumerGap{Cause: GapDisabled, FromNs: p.Timeline.StartNs, SeenNs: p.Timeline.StartNs}), len(gaps)
	}
	begin := func(c SettingChange, cause string) ConsumerGap {
		g := ConsumerGap{Cause: cause, FromNs: c.MonoNs, SeenNs: c.MonoNs}
		if c.Seen == SeenPoll {
			g.FromNs = c.SinceNs
		}
		return g
	}
	for _, c := range p.Settings {
		switch {
		case c.Field == SettingEnabled && c.New == 0 && off < 0:
			gaps, off = append(gaps, begin(c, GapDisabled)), len(gaps)
		case c.Field == SettingEnabled && c.New != 0 && off >= 0:
			gaps[off].end(c)
			off = -1
		case c.Field != SettingPID:
		case c.New == 0 && open < 0:
			gaps, open = append(gaps, begin(c, GapNoAuditd)), len(gaps)
		case c.New != 0 && open >= 0:
			gaps[open].end(c)
			open = -1
		case c.New != 0 && c.Old != 0 && open < 0:
			// Both ends in the change: it began at or after FromNs
			// (the earlier reply, for one seen by the poll), ended by
			// its registration.
			g := begin(c, GapReplaced)
			g.ToNs, g.ToSeenNs = c.MonoNs, c.MonoNs
			gaps = append(gaps, g)
		}
	}
	if len(gaps) == 0 {
		return nil, nil
	}
	t := &p.Timeline
	if t.BucketNs <= 0 {
		return gaps, nil
	}
	bucket := func(ns int64) int64 { return (ns - t.StartNs) / t.BucketNs }
	// A replaced auditd's stretch begins after the last bucket that
	// delivered before the registration: the sums restart at each one.
	delivered := t.Carries("delivered")
	if delivered {
		// Until a delivery is seen, the stretch may go back to the start.
		for k := range gaps {
			if g := &gaps[k]; g.Cause == GapReplaced {
				g.FromNs, g.SeenNs = t.StartNs, t.StartNs
			}
		}
	}
	for b, err := range t.All() {
		if err != nil {
			return nil, fmt.Errorf("reading timeline rows: %w", err)
		}
		for k := range gaps {
			g := &gaps[k]
			from, to := bucket(g.FromNs), int64(t.Len())
			if g.ToNs != 0 {
				to = bucket(g.ToNs)
			}
			if g.Cause == GapReplaced && delivered {
				from = 0
				if b.Index < to && b.Delivered > 0 {
					g.FromNs = t.StartNs + (b.Index+1)*t.BucketNs
					g.SeenNs, g.Arrivals, g.Lost = g.FromNs, 0, 0
					continue
				}
			}
			switch {
			case b.Index >= from && b.Index < to:
				g.Arrivals += uint64(b.Arrivals)
				g.Lost += b.Lost
				g.Delivered += b.Delivered
			case g.Cause != GapDisabled && g.ToNs != 0 && b.Index >= to && b.Index < to+MaxLateBuckets && b.Delivered > uint64(b.Arrivals):
				g.DeliveredAfter = min(g.DeliveredAfter+b.Delivered-uint64(b.Arrivals), g.Held())
			}
		}
	}
	for k := range gaps {
		// A replaced auditd's stretch ends at the registration; one that
		// began after it (the registration's own bucket delivered) is none.
		if g := &gaps[k]; g.Cause == GapReplaced && g.FromNs > g.ToNs {
			g.FromNs, g.SeenNs = g.ToNs, g.ToNs
		}
	}
	return gaps, nil
}

// end closes the stretch at change c: at its time if the kernel logged
// it, else within the poll's window, from the earlier reply (but not
// before the stretch began) to the reply that showed it.
func (g *ConsumerGap) end(c SettingChange) {
	g.ToNs, g.ToSeenNs = c.MonoNs, c.MonoNs
	if c.Seen == SeenPoll {
		g.ToNs = max(c.SinceNs, g.FromNs)
	}
}

// DescribeGap says when a consumer was missing, for how long, and what
// became of the records made meanwhile: lost, or held and delivered once
// it was back (issue 20): what record's summary and the report show.
func (p *Profile) DescribeGap(g ConsumerGap) string {
	at := func(ns int64) string {
		return "+" + time.Duration(ns-p.Timeline.StartNs).Round(time.Millisecond).String()
	}
	from := at(g.FromNs)
	if g.SeenNs != g.FromNs {
		from = "between " + at(g.FromNs) + " and " + at(g.SeenNs)
	}
	var s string
	switch g.Cause {
	case GapDisabled:
		s = "audit disabled from " + from
	case GapReplaced:
		s = "auditd replaced without unregistering: nothing delivered from " + from
	default:
		s = "no auditd registered from " + from
	}
	// meanwhile: the span the sums cover.
	meanwhile := "meanwhile"
	switch {
	case g.ToNs == 0:
		s += " to the end"
	case g.ToSeenNs != g.ToNs:
		s += fmt.Sprintf(" until between %s and %s (at most %s; seen by AUDIT_GET", at(g.ToNs), at(g.ToSeenNs),
			time.Duration(g.ToSeenNs-g.FromNs).Round(time.Millisecond))
		if g.Cause == GapDisabled {
			s += ": the kernel does not log enabling audit while it is off"
		}
		s += ")"
		meanwhile = "up to " + at(g.ToNs)
	default:
		s += fmt.Sprintf(" until %s (at most %s)", at(g.ToNs), time.Duration(g.ToNs-g.FromNs).Round(time.Millisecond))
	}
	if g.Cause == GapDisabled {
		return s + fmt.Sprintf(": %d records made %s (syscalls entered while audit is off are not audited), %d lost, %d delivered", g.Arrivals, meanwhile, g.Lost, g.Delivered)
	}
	if g.Cause == GapReplaced {
		s += fmt.Sprintf(": %d records made %s, %d lost, %d held", g.Arrivals, meanwhile, g.Lost, g.Held())
	} else {
		s += fmt.Sprintf(": %d records made %s, %d lost, %d delivered before it went, %d held", g.Arrivals, meanwhile, g.Lost, g.Delivered, g.Held())
	}
	if g.ToNs != 0 && p.Timeline.Carries("delivered") {
		s += fmt.Sprintf(", %d of them delivered within %s of its return", g.DeliveredAfter,
			time.Duration(MaxLateBuckets*p.Timeline.BucketNs))
	}
	return s
}
