package sizing

import (
	"math"
	"slices"
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

// Replay runs the demand through the kernel's queue, bucket by bucket
// (kernel/audit.c, audit_log_start, 4.18 to 6.18):
//   - one slot per record; a record may be queued while the queue length is
//     not above the limit (the kernel compares with a strict >), so the
//     queue can reach limit+1;
//   - above the limit, with backlog_wait_time 0 the record is dropped and
//     counted lost (a dropped SYSCALL record drops its whole event, counted
//     once); with a wait time, the producer sleeps (replayWait);
//   - the consumer takes Capacity[i] records in bucket i while the queue is
//     non-empty (DrainRate per second where Capacity is not given).
//
// Within a bucket arrivals and drain are spread evenly, plus the bucket's
// measured burst above its even level. With a wait time, see replayWait.
// It is ReplaySchedule of one step.
func Replay(d *Demand, s Setting) Outcome {
	var o [1]Outcome
	replay(d, Constant(s), nil, 1, o[:])
	return o[0]
}

// ReplayPeaks is the queue of Replay(d, s) folded into groups of step
// buckets: the deepest it gets in each (0 where it stays empty; the last
// group may hold fewer), clipped at limit+1 as Outcome.MaxDepth is, which
// is its largest. It is the same replay, so a chart of it is the evidence
// behind a limit Replay sized. A chart of a day draws
// a few thousand points, and a series of every bucket would cost 69 MB
// (issue 14).
func ReplayPeaks(d *Demand, s Setting, step int) []float64 {
	step = max(step, 1)
	peaks := make([]float64, (d.Len()+step-1)/step)
	var o [1]Outcome
	replay(d, Constant(s), peaks, step, o[:])
	return peaks
}

// replay is ReplaySchedule, its outcomes one per step in steps (as long
// as sch), and when depths is not nil (one per every buckets) it also
// keeps the deepest of those buckets there. The limit in force is looked
// up as the buckets pass a step's First (>=: the idle buckets are jumped
// over).
func replay(d *Demand, sch Schedule, depths []float64, every int, steps []Outcome) {
	if sch.waits() {
		replayWait(d, sch, depths, every, steps)
		return
	}
	var o Outcome // of step j
	bucketSec := float64(d.BucketNs) / 1e9
	capacity := d.DrainRate * bucketSec
	j := 0
	limit := limitOf(sch[0].Setting)
	nextStep := stepFirst(sch, 1) // the bucket the next step begins at
	rpe := max(d.DemandPerLost, 1)

	level := d.StartDepth
	// In a replayed stall with kauditd's moves (withStall, Moves), moved
	// is what kauditd took out of audit_queue to its retry and hold
	// queues: ahead of audit_queue for the consumer, not counted against
	// the limit. admittedSoFar is the prefix sum of what was admitted,
	// and padm[j-st] its value at the start of bucket j, for the stall's
	// buckets and the one after (the moves read no other).
	st, en, mv := d.stallStart, d.stallEnd, d.Moves
	n := d.Len()
	moves := mv.movesIn(en-st) && st+mv.First < n
	var moved, startLevel, admittedSoFar float64
	var padm []float64
	if moves {
		padm = make([]float64, en-st+1)
	}
	// Outside the stall's buckets an empty bucket changes nothing even
	// with moves: the prefix sum adds 0.
	inMoves := func(i int) bool { return moves && i >= st && i < en }
	spans, k := d.spans(), 0 // k: the span bucket i is in or before
	for i := 0; i < n; i++ {
		if i == st {
			startLevel = level
			if moves {
				padm[0] = admittedSoFar
			}
		}
		demand, burst, inferred, kept := d.bucketAt(spans, &k, i, &capacity)
		if !kept {
			// An idle bucket (outside d.Spans): an empty queue stays
			// empty until the next span.
			if level == 0 && moved == 0 && !inMoves(i) {
				next := n
				if k < len(spans) {
					next = spans[k].First
				}
				if moves && i < st {
					next = min(next, st) // the stall's buckets are stepped
				}
				i = next - 1
				continue
			}
		}
		// An empty queue and nothing arriving: the bucket changes nothing
		// (what follows would compute next = 0 and skip every sum). A day's
		// recording is mostly such buckets, and a recommendation replays
		// it some twenty times (issue 14).
		if level == 0 && demand == 0 && burst == 0 && moved == 0 && !inMoves(i) {
			continue
		}
		// The buckets skipped above use neither the setting nor the
		// outcome, nor change the queue: a step begins here as well.
		for i >= nextStep {
			o.EndDepth = level + moved
			steps[j], o = o, Outcome{}
			j++
			limit, nextStep = limitOf(sch[j].Setting), stepFirst(sch, j+1)
		}
		capacity := capacity
		if moved > 0 {
			took := min(moved, capacity)
			moved -= took
			capacity -= took
		}
		// Room this bucket: up to the limit (less the burst that will
		// ride on top), plus what the consumer takes meanwhile.
		room := math.Inf(1)
		if !math.IsInf(limit, 1) {
			room = max(0, limit-burst-level+capacity)
		}
		admitted := min(demand, room)
		if rest := demand - admitted; rest > 0 {
			o.DroppedDemand += rest
			o.Lost += rest / rpe
		}
		next := max(0, level+admitted-capacity)
		peak := max(level, next) + burst
		if admitted > 0 || level > 0 {
			o.MaxDepth = max(o.MaxDepth, min(peak, limit))
			if depths != nil {
				depths[i/every] = max(depths[i/every], min(peak, limit))
			}
			o.BusyBuckets++
			if inferred {
				o.InferredBuckets++
			}
		}
		if moves {
			admittedSoFar += admitted
			if i >= st && i < en {
				padm[i+1-st] = admittedSoFar
			}
			if i >= st+mv.First-1 && i < en {
				keep := min(next, padm[i+1-st]-padm[max(st+mv.Keep, i+1-mv.Window)-st])
				moved += next - keep
				next = keep
			}
			// The hold queue at the stall's end, bounded by the limit.
			if h := en - mv.HoldLag; i == en-1 && h > st {
				if over := startLevel + padm[h-st] - padm[0] + 1 - limit; over > 0 {
					o.DroppedDemand += over
					o.Lost += over
					// Dropped from the hold queue: not sent after the
					// stall either.
					moved = max(0, moved-over)
				}
			}
		}
		level = next
	}
	for ; j < len(sch); j++ {
		o.EndDepth = level + moved
		steps[j], o = o, Outcome{}
	}
}

// limitOf is the deepest s lets the queue get: limit+1 (the kernel
// compares with a strict >), +Inf for no limit.
func limitOf(s Setting) float64 {
	if s.Limit == 0 {
		return math.Inf(1)
	}
	return float64(s.Limit) + 1
}

// stepFirst is the bucket step j of sch begins at, MaxInt past its last.
func stepFirst(sch Schedule, j int) int {
	if j >= len(sch) {
		return math.MaxInt
	}
	return sch[j].First
}

// sleeper is a record whose producer sleeps in the backlog wait.
type sleeper struct {
	amount  float64
	sinceNs float64
	// budgetNs is the wait time in force when it went to sleep.
	budgetNs float64
}

// maxWaitSteps bounds the steps a bucket is cut into for replayWait.
const maxWaitSteps = 16

// replayWait is Replay with a backlog_wait_time: producers that find the
// queue over its limit sleep instead of dropping. Its rules, beyond
// Replay's (kernel/audit.c audit_log_start, 4.18 to 6.18):
//   - a producer sleeps with one record, and makes no other until that one
//     is let in: at most as many records sleep at a time as there are
//     producers (the most tasks seen making records in one bucket over
//     the last wait time, d.ProducersAt, or d.Producers), and the demand
//     a sleeping producer would have made meanwhile is deferred, made once
//     it runs again (no faster than the recording's busiest bucket), not
//     dropped;
//   - sleepers are let in, oldest first, as soon as the consumer makes
//     room (the kernel wakes one sleeper per kauditd pass, and the others
//     on their timeout, so waits err low where passes are long);
//   - a sleeper whose budget (backlog_wait_time, fresh for every record)
//     runs out before there is room is dropped: one lost record, standing
//     for DemandPerLost records of demand (a lost SYSCALL record takes its
//     event's other records with it: they leave the deferred demand).
//
// Buckets are cut into steps of at most a quarter of the wait time (up
// to maxWaitSteps), so that a wait shorter than a bucket times out, and a
// producer can sleep and drop several times in one bucket, as in the
// kernel. The wait counted is the time slept, as backlog_wait_time_actual
// counts it (in jiffies there).
//
// Over a schedule (ReplaySchedule), a step's setting takes over at its
// first bucket: its limit, its wait time, the steps a bucket is cut into
// and the producers' window. A sleeper keeps the budget it went to sleep
// with (the kernel reads backlog_wait_time once per audit_log_start call),
// so one asleep across a change times out by the old wait. A step with
// no wait time or no limit does Replay's arithmetic, a bucket at a time:
// what finds no room is dropped and no one goes to sleep, while those
// already asleep are let in or time out as before.
func replayWait(d *Demand, sch Schedule, depths []float64, every int, steps []Outcome) {
	var o Outcome // of step si
	bucketNs := float64(d.BucketNs)
	rpe := max(d.DemandPerLost, 1)
	si := 0
	ws := newWaitStep(sch[0].Setting, bucketNs)
	nextStep := stepFirst(sch, 1)
	producersAt := slidingMax{sparse: d.ProducersAt, w: ws.window}
	producers := max(d.Producers, 1)
	busiest := 0.0
	for _, r := range d.Records {
		busiest = max(busiest, r)
	}
	capacity := d.DrainRate * bucketNs / 1e9

	level := d.StartDepth
	deferred := 0.0 // demand not yet made: its producers were asleep
	var line []sleeper
	asleep := 0.0
	// mixedUntil, when not 0: sleepers that went to sleep before a change
	// of the wait time may be in line until then, and the budgets in line
	// differ, so each sleeper is checked for its timeout, not only the
	// oldest.
	mixedUntil := 0.0
	n := d.Len()
	spans, sp := d.spans(), 0 // sp: the span bucket i is in or before
	for i := 0; i < n; i++ {
		demand, burst, inferred, kept := d.bucketAt(spans, &sp, i, &capacity)
		if !kept {
			// An idle bucket (outside d.Spans): with the queue empty,
			// no one asleep and nothing deferred, nothing changes
			// until the next span (every step would admit nothing and
			// leave the level at 0).
			if level == 0 && len(line) == 0 && deferred == 0 {
				i = n - 1
				if sp < len(spans) {
					i = spans[sp].First - 1
				}
				continue
			}
		}
		// The buckets skipped above use neither the setting nor the
		// outcome, nor change the queue: a step begins here as well.
		for i >= nextStep {
			o.EndDepth = level
			steps[si], o = o, Outcome{}
			si++
			next := newWaitStep(sch[si].Setting, bucketNs)
			if next.waitNs != ws.waitNs {
				for _, p := range line {
					mixedUntil = max(mixedUntil, p.sinceNs+p.budgetNs)
				}
			}
			if next.window != ws.window {
				producersAt = slidingMax{sparse: d.ProducersAt, w: next.window}
			}
			ws, nextStep = next, stepFirst(sch, si+1)
		}
		if d.ProducersAt != nil {
			producers = max(float64(producersAt.at(i)), 1)
		}
		k, step, stepNs, limit := ws.k, ws.step, ws.stepNs, ws.limit
		busy := false
		for j := 0; j < k; j++ {
			now := (float64(i) + float64(j)*step) * bucketNs
			room := max(0, limit-burst-level+capacity*step)

			// Sleepers first, oldest first.
			admitted := 0.0
			for len(line) > 0 && room > 0 {
				p := &line[0]
				take := min(p.amount, room)
				w := now - p.sinceNs
				o.WaitNs += take * w
				o.MaxWaitNs = max(o.MaxWaitNs, w)
				room -= take
				admitted += take
				p.amount -= take
				asleep -= take
				if p.amount <= 1e-9 {
					line = line[1:]
				}
			}

			// What the producers awake make: this step's demand and
			// what was deferred, at no more than their share of the
			// busiest rate.
			awake := max(0, producers-asleep) / producers
			want := demand*step + deferred
			made := min(want, busiest*step*awake)
			deferred = want - made
			take := min(made, room)
			admitted += take
			if rest := made - take; rest > 0 {
				if ws.sleeps {
					n := min(rest, max(0, producers-asleep))
					if n > 0 {
						line = append(line, sleeper{amount: n, sinceNs: now, budgetNs: ws.waitNs})
						asleep += n
						o.Waits += n
					}
					deferred += rest - n
				} else {
					// No wait time: dropped at once, as Replay drops.
					o.DroppedDemand += rest
					o.Lost += rest / rpe
				}
			}

			// Sleepers whose budget runs out in this step are dropped,
			// having slept it all, and their events' other records are
			// never made. With one budget in line the oldest runs out
			// first.
			end := now + stepNs
			for x := 0; x < len(line); {
				p := line[x]
				if end-p.sinceNs < p.budgetNs {
					if mixedUntil == 0 {
						break
					}
					x++
					continue
				}
				o.Lost += p.amount
				suppressed := min(deferred, p.amount*(rpe-1))
				o.DroppedDemand += p.amount + suppressed
				deferred -= suppressed
				o.WaitNs += p.amount * p.budgetNs
				o.MaxWaitNs = max(o.MaxWaitNs, p.budgetNs)
				asleep -= p.amount
				if x == 0 {
					line = line[1:]
				} else {
					line = slices.Delete(line, x, x+1)
				}
			}
			if end >= mixedUntil {
				mixedUntil = 0
			}

			next := max(0, level+admitted-capacity*step)
			if admitted > 0 || level > 0 {
				busy = true
				peak := min(max(level, next)+burst, limit)
				o.MaxDepth = max(o.MaxDepth, peak)
				if depths != nil {
					depths[i/every] = max(depths[i/every], peak)
				}
			}
			level = next
		}
		if busy {
			o.BusyBuckets++
			if inferred {
				o.InferredBuckets++
			}
		}
	}
	// Sleepers still in line at the end are counted as waiting so far.
	end := float64(n) * bucketNs
	for _, p := range line {
		o.WaitNs += p.amount * (end - p.sinceNs)
	}
	for ; si < len(sch); si++ {
		o.EndDepth = level
		steps[si], o = o, Outcome{}
	}
}

// waitStep is what replayWait works with of a step's setting.
type waitStep struct {
	// sleeps: a producer over the limit sleeps, for waitNs at most;
	// otherwise its record is dropped.
	sleeps bool
	waitNs float64
	// A bucket is cut into k steps of stepNs, step of a bucket each.
	k            int
	stepNs, step float64
	// limit is the deepest the queue may get (limitOf).
	limit float64
	// window is how many buckets before one the producers asleep in it
	// may have gone to sleep in (d.ProducersAt's window).
	window int
}

func newWaitStep(s Setting, bucketNs float64) waitStep {
	if !s.waits() {
		return waitStep{k: 1, stepNs: bucketNs, step: 1, limit: limitOf(s)}
	}
	w := waitStep{sleeps: true, waitNs: float64(s.WaitJiffies) / float64(s.HZ) * 1e9}
	w.k = int(min(maxWaitSteps, max(1, math.Ceil(bucketNs/(w.waitNs/4)))))
	w.stepNs = bucketNs / float64(w.k)
	w.step = 1 / float64(w.k)
	w.limit = float64(s.Limit) + 1 // the deepest a strict > lets it get
	w.window = int(math.Ceil(w.waitNs / bucketNs))
	return w
}

// slidingMax gives the largest of v[i-w..i] for i = 0, 1, 2, ... in turn
// (a monotonic deque, as windowMax), without a series of its own: the
// replay reads it once per bucket, in order.
type slidingMax struct {
	v  []uint64
	w  int
	dq []indexed // decreasing values
	i  int       // the next index to take in
	// sparse, when v is nil, holds the values where they are not 0, in
	// order (Demand.ProducersAt); k is the first of them not before i.
	sparse []ProducerCount
	k      int
}

// value is v[i], taken in for i = 0, 1, 2, ... in turn (jumps allowed).
func (s *slidingMax) value(i int) uint64 {
	if s.v != nil {
		return s.v[i]
	}
	for s.k < len(s.sparse) && s.sparse[s.k].Bucket < i {
		s.k++
	}
	if s.k < len(s.sparse) && s.sparse[s.k].Bucket == i {
		return s.sparse[s.k].Tasks
	}
	return 0
}

// at returns the largest of v[i-w..i]; i must not go back.
func (s *slidingMax) at(i int) uint64 {
	if s.i < i-s.w {
		// A jump past the window (a replay over idle buckets): what
		// came before i-w no longer counts.
		s.dq, s.i = s.dq[:0], i-s.w
	}
	for ; s.i <= i; s.i++ {
		if s.v == nil {
			// In a run of zeros each takes the one before it off
			// the deque's tail: the run leaves what its last alone
			// leaves. A day of 10 ms buckets with a window of a
			// minute would otherwise take in every bucket (issue 14).
			for s.k < len(s.sparse) && s.sparse[s.k].Bucket < s.i {
				s.k++
			}
			last := i // the run's last bucket
			if s.k < len(s.sparse) {
				last = min(last, s.sparse[s.k].Bucket-1)
			}
			s.i = max(s.i, last)
		}
		x := s.value(s.i)
		for len(s.dq) > 0 && s.dq[len(s.dq)-1].v <= x {
			s.dq = s.dq[:len(s.dq)-1]
		}
		s.dq = append(s.dq, indexed{s.i, x})
	}
	for s.dq[0].i < i-s.w {
		s.dq = s.dq[1:]
	}
	return s.dq[0].v
}

// indexed is a value of slidingMax's series and its index.
type indexed struct {
	i int
	v uint64
}

// windowMax returns, for each i, the largest of v[i-w..i] (nil for nil v),
// with a monotonic deque: linear in len(v) whatever w.
func windowMax(v []float64, w int) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	var dq []int // indices of decreasing values
	for i, x := range v {
		for len(dq) > 0 && v[dq[len(dq)-1]] <= x {
			dq = dq[:len(dq)-1]
		}
		dq = append(dq, i)
		if dq[0] < i-w {
			dq = dq[1:]
		}
		out[i] = v[dq[0]]
	}
	return out
}

// bucketAt is what a replay reads of bucket i: its demand, its burst,
// and whether its consumer pace was inferred; *capacity becomes its
// capacity (left as it is where d has no Capacity). kept is false for an
// idle bucket (outside d.Spans), whose capacity is IdleCapacity. k is the
// span i is in or before, moved past a span at its last bucket: the
// replays walk the buckets in order.
func (d *Demand) bucketAt(spans []Span, k *int, i int, capacity *float64) (demand, burst float64, inferred, kept bool) {
	if *k >= len(spans) || i < spans[*k].First {
		*capacity = d.IdleCapacity
		return 0, 0, !d.IdleMeasured, false
	}
	sp := spans[*k]
	j := sp.Off + i - sp.First
	if d.Capacity != nil {
		*capacity = d.Capacity[j]
	}
	if i == sp.First+sp.Len-1 {
		*k++
	}
	return d.Records[j], d.Burst[j], j < len(d.Measured) && !d.Measured[j], true
}
