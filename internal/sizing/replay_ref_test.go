package sizing

import "math"

// sleeperRef is sleeper before schedules: every budget was the one wait time.
type sleeperRef struct {
	amount  float64
	sinceNs float64
}

// replayRef is the replay as it was before schedules (issue 20), kept to
// prove Replay unchanged to the bit: replay, and when depths is not nil (one per every buckets) it
// also keeps the deepest of those buckets there.
func replayRef(d *Demand, s Setting, depths []float64, every int) Outcome {
	if s.Limit > 0 && s.WaitJiffies > 0 && s.HZ > 0 {
		return replayWaitRef(d, s, depths, every)
	}
	var o Outcome
	bucketSec := float64(d.BucketNs) / 1e9
	capacity := d.DrainRate * bucketSec
	limit := math.Inf(1)
	if s.Limit > 0 {
		limit = float64(s.Limit) + 1 // the deepest a strict > lets it get
	}
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
	o.EndDepth = level + moved
	return o
}

// replayWaitRef is replayWait before schedules: Replay with a backlog_wait_time: producers that find the
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
func replayWaitRef(d *Demand, s Setting, depths []float64, every int) Outcome {
	var o Outcome
	bucketNs := float64(d.BucketNs)
	waitNs := float64(s.WaitJiffies) / float64(s.HZ) * 1e9
	k := int(min(maxWaitSteps, max(1, math.Ceil(bucketNs/(waitNs/4)))))
	stepNs := bucketNs / float64(k)
	step := 1 / float64(k)
	limit := float64(s.Limit) + 1 // the deepest a strict > lets it get
	rpe := max(d.DemandPerLost, 1)
	producersAt := slidingMax{sparse: d.ProducersAt, w: int(math.Ceil(waitNs / bucketNs))}
	producers := max(d.Producers, 1)
	busiest := 0.0
	for _, r := range d.Records {
		busiest = max(busiest, r)
	}
	capacity := d.DrainRate * bucketNs / 1e9

	level := d.StartDepth
	deferred := 0.0 // demand not yet made: its producers were asleep
	var line []sleeperRef
	asleep := 0.0
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
		if d.ProducersAt != nil {
			producers = max(float64(producersAt.at(i)), 1)
		}
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
				n := min(rest, max(0, producers-asleep))
				if n > 0 {
					line = append(line, sleeperRef{amount: n, sinceNs: now})
					asleep += n
					o.Waits += n
				}
				deferred += rest - n
			}

			// Sleepers whose budget runs out in this step are dropped,
			// having slept it all, and their events' other records are
			// never made.
			end := now + stepNs
			for len(line) > 0 && end-line[0].sinceNs >= waitNs {
				p := line[0]
				o.Lost += p.amount
				suppressed := min(deferred, p.amount*(rpe-1))
				o.DroppedDemand += p.amount + suppressed
				deferred -= suppressed
				o.WaitNs += p.amount * waitNs
				o.MaxWaitNs = max(o.MaxWaitNs, waitNs)
				asleep -= p.amount
				line = line[1:]
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
	o.EndDepth = level
	return o
}
