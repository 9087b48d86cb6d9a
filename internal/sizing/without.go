package sizing

import (
	"github.com/auditprof/auditprof/internal/profile"
)

// RuleDemand is the demand a profile row stands for: its records plus the
// records of its events whose SYSCALL record was lost (the rest of such an
// event is never made), at the row's own records per event.
func RuleDemand(r profile.Rule, fallbackPerEvent float64) float64 {
	perEvent := fallbackPerEvent
	kept := float64(r.Events) - float64(r.LostEvents)
	if keptRecords := float64(r.Records) - float64(r.LostEvents); kept > 0 && keptRecords >= kept {
		perEvent = keptRecords / kept
	}
	return float64(r.Records) + float64(r.LostEvents)*max(perEvent-1, 0)
}

// Without is what the recommendation becomes if a share of the demand had
// never been made: the rows of one rule, say.
type Without struct {
	// BacklogLimit is the recommendation without it (0 when the rest is
	// still a sustained overload).
	BacklogLimit      uint32
	SustainedOverload bool
}

// LimitWithout recommends for d with share of its demand removed from
// every bucket alike. The profile keeps no per-rule timeline, so the rule's
// records are taken to be spread over the recording as all records were:
// a rule that only fires in the bursts weighs more in them than this
// assumes, and the limit without it is then lower than shown.
func LimitWithout(d *Demand, share, headroom float64) Without {
	if headroom < 1 {
		headroom = DefaultHeadroom
	}
	share = min(max(share, 0), 1)
	scaled := *d
	// Idle buckets (outside d.Spans) stay idle: no demand to scale.
	scaled.Records = make([]float64, len(d.Records))
	scaled.Burst = make([]float64, len(d.Burst))
	for i := range d.Records {
		scaled.Records[i] = d.Records[i] * (1 - share)
	}
	for i := range d.Burst {
		scaled.Burst[i] = d.Burst[i] * (1 - share)
	}
	var w Without
	mean, _ := rates(&scaled)
	if sustainedOverload(&scaled, Replay(&scaled, Setting{}), mean) {
		w.SustainedOverload = true
		return w
	}
	w.BacklogLimit = withHeadroom(smallestLossless(&scaled), headroom)
	return w
}

// optimistic is d with the consumer, outside overload episodes, as fast as
// its busiest second. Sizing replays the conservative d (DrainRate there,
// a lower bound: the queue was not full, so the consumer was not
// saturated); calling a recording a sustained overload, and refusing to
// size it, takes more: that even this consumer would not have caught up.
// Bursts with idle time between them, where a consumer starved during the
// bursts (auditd at low priority) catches up in between, are not one.
func optimistic(d *Demand) *Demand {
	o := *d
	o.Capacity = make([]float64, len(d.Capacity))
	best := d.BestDrainRate * float64(d.BucketNs) / 1e9
	o.IdleCapacity = max(d.IdleCapacity, best) // no idle bucket is in an episode
	for i, c := range d.Capacity {
		o.Capacity[i] = c
		if i >= len(d.Episode) || !d.Episode[i] {
			o.Capacity[i] = max(c, best)
		}
	}
	return &o
}

// sustainedOverload: arrivals at arrivalRate outran the consumer over the
// recording, so no limit is enough. free is d's replay with no limit. It
// takes both the conservative replay and the optimistic one to say so.
func sustainedOverload(d *Demand, free Outcome, arrivalRate float64) bool {
	return sustained(free, arrivalRate, d.DrainRate) && sustained(Replay(optimistic(d), Setting{}), arrivalRate, d.DrainRate)
}

// sustained: the consumer fell behind and did not catch up (the queue with
// no limit ends near its peak).
func sustained(free Outcome, arrivalRate, drainRate float64) bool {
	return free.EndDepth > 0 && free.EndDepth >= 0.5*free.MaxDepth && arrivalRate > drainRate
}
