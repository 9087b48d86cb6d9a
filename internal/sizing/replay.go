package sizing

import (
	"math"
)

// Setting is a candidate backlog configuration.
type Setting struct {
	// Limit is backlog_limit; 0 means unlimited (as in the kernel).
	Limit uint32
	// WaitJiffies is backlog_wait_time; 0 drops at once.
	WaitJiffies uint32
	// HZ converts WaitJiffies to time.
	HZ int
}

// Outcome is what a replay predicts.
type Outcome struct {
	// Lost counts records the kernel would count lost: one per dropped
	// event (its other records are then never made) or dropped record.
	Lost float64
	// DroppedDemand is the records of demand that did not reach the queue.
	DroppedDemand float64
	// Waits counts records that would sleep in the backlog wait, WaitNs
	// their total sleep and MaxWaitNs the longest.
	Waits     float64
	WaitNs    float64
	MaxWaitNs float64
	// MaxDepth is the deepest the queue would get.
	MaxDepth float64
	// BusyBuckets counts the buckets in which the queue was non-empty,
	// InferredBuckets those of them whose consumer pace was inferred (see
	// Demand.Measured), not measured.
	BusyBuckets     int
	InferredBuckets int
	// EndDepth is the queue length at the end of the recording with no
	// limit: what arrivals left the consumer behind by.
	EndDepth float64
}

// pending is demand whose producers sleep in the backlog wait.
type pending struct {
	amount float64
	since  int // bucket it arrived in
}

// Replay runs the demand through the kernel's queue, bucket by bucket
// (kernel/audit.c, audit_log_start, 4.18 to 6.18):
//   - one slot per record; a record may be queued while the queue length is
//     not above the limit (the kernel compares with a strict >), so the
//     queue can reach limit+1;
//   - above the limit, with backlog_wait_time 0 the record is dropped and
//     counted lost (a dropped SYSCALL record drops its whole event, counted
//     once); with a wait time, the producer sleeps up to that long (a fresh
//     budget per record) and is dropped only when the wait runs out;
//   - the consumer takes Capacity[i] records in bucket i while the queue is
//     non-empty (DrainRate per second where Capacity is not given).
//
// Within a bucket arrivals and drain are spread evenly, plus the bucket's
// measured burst above its even level. Sleeping producers are modelled as a
// first-in first-out line in front of the queue; new demand joins its end,
// so waits err high when blocked producers would have slowed down.
func Replay(d *Demand, s Setting) Outcome {
	var o Outcome
	bucketSec := float64(d.BucketNs) / 1e9
	capacity := d.DrainRate * bucketSec
	limit := math.Inf(1)
	if s.Limit > 0 {
		limit = float64(s.Limit) + 1 // the deepest a strict > lets it get
	}
	waitBuckets := 0.0
	if s.WaitJiffies > 0 && s.HZ > 0 {
		waitBuckets = float64(s.WaitJiffies) / float64(s.HZ) / bucketSec
	}
	rpe := math.Max(d.DemandPerLost, 1)

	level := d.StartDepth
	var line []pending
	lineTotal := 0.0
	for i, demand := range d.Records {
		burst := d.Burst[i]
		if d.Capacity != nil {
			capacity = d.Capacity[i]
		}
		// Room this bucket: up to the limit (less the burst that will
		// ride on top), plus what the consumer takes meanwhile.
		room := math.Inf(1)
		if !math.IsInf(limit, 1) {
			room = math.Max(0, limit-burst-level+capacity)
		}

		// Sleepers first, oldest first; then this bucket's demand.
		admitted := 0.0
		for len(line) > 0 && room > 0 {
			p := &line[0]
			take := math.Min(p.amount, room)
			waitNs := float64(i-p.since) * float64(d.BucketNs)
			o.WaitNs += take * waitNs
			o.MaxWaitNs = math.Max(o.MaxWaitNs, waitNs)
			room -= take
			admitted += take
			p.amount -= take
			lineTotal -= take
			if p.amount <= 1e-9 {
				line = line[1:]
			}
		}
		take := math.Min(demand, room)
		admitted += take
		rest := demand - take
		if rest > 0 {
			if waitBuckets > 0 {
				line = append(line, pending{amount: rest, since: i})
				lineTotal += rest
				o.Waits += rest
			} else {
				o.DroppedDemand += rest
				o.Lost += rest / rpe
			}
		}
		// Sleepers whose budget ran out are dropped, having waited it all.
		for len(line) > 0 && float64(i+1-line[0].since) > waitBuckets {
			p := line[0]
			o.DroppedDemand += p.amount
			o.Lost += p.amount / rpe
			o.WaitNs += p.amount * waitBuckets * float64(d.BucketNs)
			o.MaxWaitNs = math.Max(o.MaxWaitNs, waitBuckets*float64(d.BucketNs))
			lineTotal -= p.amount
			line = line[1:]
		}

		next := math.Max(0, level+admitted-capacity)
		peak := math.Max(level, next) + burst
		if admitted > 0 || level > 0 {
			o.MaxDepth = math.Max(o.MaxDepth, math.Min(peak, limit))
			o.BusyBuckets++
			if i < len(d.Measured) && !d.Measured[i] {
				o.InferredBuckets++
			}
		}
		level = next
	}
	// Sleepers still in line at the end are counted as waiting so far.
	for _, p := range line {
		o.WaitNs += p.amount * float64(len(d.Records)-p.since) * float64(d.BucketNs)
	}
	o.EndDepth = level
	return o
}
