package profile

import (
	"fmt"
	"time"
)

// ConsumerGap is a stretch of a recording with no auditd registered
// (issue 20): from the registered pid going to 0 (a clean stop
// unregisters; a killed auditd is dropped at kauditd's next failed send,
// unlogged, so the poll places it between two replies) to the next
// registration, or the recording's end.
type ConsumerGap struct {
	// FromNs is when the pid went to 0 (for a change seen by the poll,
	// the earlier reply's time: the gap began within [FromNs, SeenNs]);
	// ToNs the next registration, 0 for none before the end.
	FromNs, SeenNs, ToNs int64
	// Arrivals, Lost and Delivered are the records made, lost and put on
	// an auditd's socket from FromNs's bucket to ToNs's (a gap seen by the
	// poll may begin before auditd went: what it took then is Delivered);
	// DeliveredAfter what the buckets from the registration's delivered
	// beyond their own arrivals, up to the records held (Held): what
	// kauditd held and delivered late, within MaxLateBuckets of it.
	Arrivals, Lost, Delivered, DeliveredAfter uint64
}

// Held is the gap's records that were neither lost nor delivered in it.
func (g ConsumerGap) Held() uint64 {
	return g.Arrivals - min(g.Lost+g.Delivered, g.Arrivals)
}

// MaxLateBuckets bounds where a gap's held records are looked for once
// auditd is back: a second of 10 ms buckets.
const MaxLateBuckets = 100

// ConsumerGaps are the recording's stretches without auditd, from its
// settings and its timeline (one pass over the rows). A profile without
// the delivered column gives no DeliveredAfter.
func (p *Profile) ConsumerGaps() ([]ConsumerGap, error) {
	var gaps []ConsumerGap
	pid := uint32(0)
	if p.AuditBefore != nil {
		pid = p.AuditBefore.PID
	}
	open := -1
	if pid == 0 && p.AuditBefore != nil {
		gaps, open = append(gaps, ConsumerGap{FromNs: p.Timeline.StartNs, SeenNs: p.Timeline.StartNs}), 0
	}
	for _, c := range p.Settings {
		if c.Field != SettingPID {
			continue
		}
		switch {
		case c.New == 0 && open < 0:
			g := ConsumerGap{FromNs: c.MonoNs, SeenNs: c.MonoNs}
			if c.Seen == SeenPoll {
				g.FromNs = c.SinceNs
			}
			gaps, open = append(gaps, g), len(gaps)
		case c.New != 0 && open >= 0:
			gaps[open].ToNs, open = c.MonoNs, -1
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
			switch {
			case b.Index >= from && b.Index < to:
				g.Arrivals += uint64(b.Arrivals)
				g.Lost += b.Lost
				g.Delivered += b.Delivered
			case g.ToNs != 0 && b.Index >= to && b.Index < to+MaxLateBuckets && b.Delivered > uint64(b.Arrivals):
				g.DeliveredAfter = min(g.DeliveredAfter+b.Delivered-uint64(b.Arrivals), g.Held())
			}
		}
	}
	return gaps, nil
}

// DescribeGap says when auditd was gone, for how long, and what became of
// the records made meanwhile: lost, or held and delivered once it was
// back (issue 20): what record's summary and the report show.
func (p *Profile) DescribeGap(g ConsumerGap) string {
	at := func(ns int64) string {
		return "+" + time.Duration(ns-p.Timeline.StartNs).Round(time.Millisecond).String()
	}
	from := at(g.FromNs)
	if g.SeenNs != g.FromNs {
		from = "between " + at(g.FromNs) + " and " + at(g.SeenNs)
	}
	held := g.Held()
	s := fmt.Sprintf("no auditd registered from %s", from)
	if g.ToNs == 0 {
		s += " to the end"
	} else {
		s += fmt.Sprintf(" until %s (at most %s): %d records made meanwhile, %d lost, %d delivered before it went, %d held", at(g.ToNs),
			time.Duration(g.ToNs-g.FromNs).Round(time.Millisecond), g.Arrivals, g.Lost, g.Delivered, held)
		if p.Timeline.Carries("delivered") {
			s += fmt.Sprintf(", %d of them delivered within %s of its return", g.DeliveredAfter,
				time.Duration(MaxLateBuckets*p.Timeline.BucketNs))
		}
		return s
	}
	return s + fmt.Sprintf(": %d records made meanwhile, %d lost, %d delivered before it went, %d held", g.Arrivals, g.Lost, g.Delivered, held)
}
