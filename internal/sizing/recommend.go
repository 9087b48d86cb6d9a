package sizing

import (
	"fmt"
	"math"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recordsize"
)

// Defaults of a recommendation.
const (
	// DefaultHeadroom multiplies the smallest limit that loses nothing on
	// the recording where the recording cannot say how uneven its
	// consumer is (drainSpread): modest, because the recording is the
	// evidence.
	DefaultHeadroom = 1.25
	// FloorLimit is never recommended below: the kernel's default
	// backlog_limit, whose memory is negligible.
	FloorLimit = 64
	// maxLimit bounds the search: the kernel takes any u32, but a limit
	// beyond this is not sizing, it is giving up.
	maxLimit = 1 << 26
)

// Options of Recommend.
type Options struct {
	// Headroom multiplies the smallest lossless limit; 0 derives it from
	// the consumer's measured unevenness (drainSpread).
	Headroom float64
	// Stall is how long the consumer may take nothing, at the worst
	// moment of the recording, with the limit still losing nothing; 0
	// for none, negative for the longest stall the recording shows.
	Stall time.Duration
	// MemoryBudget caps memory_bytes (0: none).
	MemoryBudget uint64
}

// Recommendation is a backlog_limit and the reasoning behind it.
type Recommendation struct {
	// BacklogLimit is the recommended limit (0 with SustainedOverload).
	BacklogLimit uint32
	// MinimumLimit is the smallest limit that loses nothing in the replay,
	// before headroom and rounding, or the depth the queue really held
	// (Totals.MaxDepth) where that is more: MinimumFloored. The replay
	// works per bucket and can miss a swing inside one; the recorded
	// depth cannot be wrong.
	MinimumLimit   uint32
	MinimumFloored bool
	Headroom       float64
	// HeadroomFrom says where Headroom came from: "given", "drain spread
	// over N saturated seconds" or "default".
	HeadroomFrom string
	// Stalls is what the recording shows of its consumer stopping; Stall
	// is the stall the limit rides out (whole buckets), at StallAt.
	// NoStallMinimum is the smallest lossless limit with no stall.
	Stalls         Stalls
	Stall          time.Duration
	StallAt        time.Duration
	NoStallMinimum uint32
	// StallReplaces is the recording's own longest stall when the stall
	// asked for stands for it (Stall is at least as long): that one is
	// replayed at the consumer's pace, and the stall asked for put at the
	// worst moment instead (healStall). Zero: none.
	StallReplaces Stall
	// StallMove is how far into the stall the replay has kauditd first
	// move audit_queue to its retry queue (Demand.Moves), 0 for no move:
	// the recorded kernel's kauditd does not give up, or the stall is
	// shorter.
	StallMove time.Duration
	// PeakDepth is the deepest the queue gets in the replay with no limit.
	PeakDepth float64
	// InferredShare is the share of that replay's non-empty buckets in
	// which the consumer's pace was inferred from heavier load, not
	// measured (Demand.Measured): there the peak errs high if the
	// consumer is faster.
	InferredShare float64
	// ArrivalRate is the demand in records per second over the recording,
	// PeakArrivalRate the busiest second.
	ArrivalRate     float64
	PeakArrivalRate float64
	// RecordBytes is the measured average size of a queued record.
	RecordBytes float64
	// MemoryBytes is BacklogLimit full records of the measured size;
	// MemoryBytesUpperBound is the usual advice, limit x 8970 bytes.
	MemoryBytes           uint64
	MemoryBytesUpperBound uint64
	// SustainedOverload: arrivals outran the consumer over the recording,
	// so no limit is enough; RideOut is the limit that would have held
	// this recording (and only its length), GrowthPerMinute how many more
	// slots each further minute at this rate would take.
	SustainedOverload bool
	RideOut           uint32
	GrowthPerMinute   float64
	// OverBudget is set when the limit's memory exceeds the budget:
	// BudgetLimit is the largest limit within it, BudgetLost the records
	// it would lose on this recording.
	OverBudget  bool
	BudgetLimit uint32
	BudgetLost  float64
	// Current is the setting in force when the recording began
	// (AuditBefore). Schedule is the settings in force over it
	// (ScheduleOf: Current, then each change of the limit or the wait
	// time), and CurrentOutcome the replay's prediction over that
	// schedule, CurrentSteps per step. RecordedLost is what the recording
	// counted lost in each step's buckets, where the settings changed
	// (nil for one step: Totals.Lost is that): the replay's check, a
	// segment at a time, since a check against the total would hide a
	// segment replayed at the wrong limit (issue 20).
	Current        Setting
	Schedule       Schedule
	CurrentOutcome Outcome
	CurrentSteps   []Outcome
	RecordedLost   []uint64
	// Wait advice: what the backlog wait cost producers in the recording.
	RecordedWaits  uint64
	RecordedWaitNs uint64
	// Demand is the recording's demand; Sized the one the limit was
	// sized on: Demand with StallReplaces replayed at the consumer's
	// pace (healStall), or Demand itself.
	Demand *Demand
	Sized  *Demand
}

// Recommend finds the smallest backlog_limit that loses nothing on the
// recorded workload (with backlog_wait_time 0, the strict case: nothing may
// even wait), then applies headroom and rounds to a tidy number.
func Recommend(p *profile.Profile, opts Options) (*Recommendation, error) {
	if opts.Headroom != 0 && opts.Headroom < 1 || math.IsNaN(opts.Headroom) || math.IsInf(opts.Headroom, 0) {
		return nil, fmt.Errorf("headroom must be at least 1, not %v", opts.Headroom)
	}
	d, err := Reconstruct(p)
	if err != nil {
		return nil, err
	}
	return recommendFrom(p, d, opts)
}

// recommendFrom is Recommend on the demand d of p (Reconstruct's).
func recommendFrom(p *profile.Profile, d *Demand, opts Options) (*Recommendation, error) {
	r := &Recommendation{Headroom: opts.Headroom, Demand: d, Sized: d, HeadroomFrom: "given",
		RecordedWaits: p.Totals.Waits, RecordedWaitNs: p.Totals.WaitNs}
	r.Stalls = summarizeStalls(d.stalls, d.BucketNs)
	if opts.Headroom == 0 {
		h, secs, ok, err := drainSpread(&p.Timeline)
		if err != nil {
			return nil, err
		}
		r.Headroom, r.HeadroomFrom = DefaultHeadroom, "default"
		if ok {
			r.Headroom, r.HeadroomFrom = h, fmt.Sprintf("drain spread over %d saturated seconds", secs)
		}
	}
	stall := opts.Stall
	if stall < 0 {
		stall = r.Stalls.Longest
	}
	r.RecordBytes = RecordBytes(p)
	if p.AuditBefore != nil {
		r.Current = Setting{Limit: p.AuditBefore.BacklogLimit, WaitJiffies: p.AuditBefore.BacklogWaitTime, HZ: p.HZ}
		r.Schedule = ScheduleOf(p)
		r.CurrentOutcome, r.CurrentSteps = ReplaySchedule(d, r.Schedule)
		if len(r.Schedule) > 1 {
			var err error
			if r.RecordedLost, err = RecordedLost(&p.Timeline, r.Schedule); err != nil {
				return nil, fmt.Errorf("reading the lost per setting: %w", err)
			}
		}
	}
	r.ArrivalRate, r.PeakArrivalRate = rates(d)

	free := Replay(d, Setting{})
	r.PeakDepth = free.MaxDepth
	if free.BusyBuckets > 0 {
		r.InferredShare = float64(free.InferredBuckets) / float64(free.BusyBuckets)
	}
	if sustainedOverload(d, free, r.ArrivalRate) {
		r.SustainedOverload = true
		r.RideOut = clampLimit(math.Ceil(free.MaxDepth))
		r.GrowthPerMinute = (r.ArrivalRate - d.DrainRate) * 60
		return r, nil
	}

	// The queue really held Totals.MaxDepth records: a smaller limit
	// would have dropped there, whatever the per-bucket replay makes of
	// the swing inside a bucket.
	floor := clampLimit(float64(p.Totals.MaxDepth))
	replayed := smallestLossless(d)
	r.NoStallMinimum = max(replayed, floor)
	r.MinimumLimit = r.NoStallMinimum
	// A stall asked for that is at least as long as the recording's
	// longest stands for it: that one is replayed at the consumer's pace
	// and the headroom multiplies the minimum without it, so the stall
	// is not counted twice (and its depth not made headroom). The depth
	// the queue really held stays a floor, for the minimum with the stall.
	if st, ok := standsFor(d, stall); ok {
		r.StallReplaces = st
		d = healStall(d, st)
		r.Sized = d
		r.NoStallMinimum = smallestLossless(d)
		replayed = r.NoStallMinimum
		r.MinimumLimit = max(r.NoStallMinimum, floor)
	}
	if sd, at := stalled(d, stall); at.Stall > 0 {
		r.Stall, r.StallAt = at.Stall, at.At
		if d.Moves.movesIn(sd.stallEnd - sd.stallStart) {
			r.StallMove = time.Duration(int64(d.Moves.First) * d.BucketNs)
		}
		replayed = smallestLossless(sd)
		r.MinimumLimit = max(replayed, floor)
	}
	r.MinimumFloored = replayed < floor
	// The headroom is for the consumer's unevenness, so it multiplies
	// what the consumer's pace sets (the minimum with no stall); what a
	// stall adds is the recording's own arrivals over it, with no
	// consumer to be uneven, and the stall asked for is its margin.
	r.BacklogLimit = max(Tidy(float64(r.NoStallMinimum)*r.Headroom+float64(r.MinimumLimit-r.NoStallMinimum)), FloorLimit)
	r.MemoryBytes, r.MemoryBytesUpperBound = Memory(r.BacklogLimit, r.RecordBytes)
	if opts.MemoryBudget > 0 && r.MemoryBytes > opts.MemoryBudget && r.RecordBytes > 0 {
		r.OverBudget = true
		r.BudgetLimit = uint32(math.Floor(float64(opts.MemoryBudget) / r.RecordBytes))
		r.BudgetLost = Replay(d, Setting{Limit: max(r.BudgetLimit, 1)}).Lost
	}
	return r, nil
}

// withHeadroom is the limit recommended for a smallest lossless one:
// times the headroom, rounded up to a tidy number, never below the floor.
func withHeadroom(minimum uint32, headroom float64) uint32 {
	return max(Tidy(float64(minimum)*headroom), FloorLimit)
}

// Predict replays a profile's demand under a candidate setting, with the
// consumer taking nothing for stall at the recording's worst moment (the
// worst for a setting without wait time; see worstStall).
func Predict(p *profile.Profile, s Setting, stall time.Duration) (Outcome, StallPlace, *Demand, error) {
	d, err := Reconstruct(p)
	if err != nil {
		return Outcome{}, StallPlace{}, nil, err
	}
	if st, ok := standsFor(d, stall); ok {
		d = healStall(d, st)
	}
	sd, at := stalled(d, stall)
	return Replay(sd, s), at, d, nil
}

// smallestLossless: the least limit whose replay (wait time 0) drops
// nothing. Lost falls as the limit grows, so a binary search finds it.
func smallestLossless(d *Demand) uint32 {
	lossless := func(l uint32) bool { return Replay(d, Setting{Limit: l}).DroppedDemand < 0.5 }
	hi := uint32(64)
	for !lossless(hi) && hi < maxLimit {
		hi *= 2
	}
	lo := uint32(1)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if lossless(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func clampLimit(v float64) uint32 {
	if v >= maxLimit {
		return maxLimit
	}
	return uint32(max(v, 1))
}

// rates returns the mean demand rate and that of the busiest second.
func rates(d *Demand) (mean, peak float64) {
	var total float64
	for _, v := range d.Records {
		total += v // idle buckets (outside d.Spans) add nothing
	}
	return total / (float64(d.Len()) * float64(d.BucketNs) / 1e9), busiestSecondSpans(d.Records, d.spans(), d.Len(), d.BucketNs)
}

// Memory is what a full queue at limit holds: limit records of the measured
// size, and the usual advice's limit x 8970 bytes (libaudit's receive
// buffer: an upper bound, not what the kernel allocates).
func Memory(limit uint32, recordBytes float64) (bytes, upperBound uint64) {
	return uint64(float64(limit) * recordBytes), uint64(limit) * recordsize.UpperBoundPerRecord
}

// RecordBytes is the measured average size of a queued record (skb head
// and sk_buff), or 0 when nothing was queued.
func RecordBytes(p *profile.Profile) float64 {
	if p.Totals.Queued == 0 {
		return 0
	}
	return float64(p.Totals.BytesQueued) / float64(p.Totals.Queued)
}

// Tidy rounds a limit up to two significant digits (1234 -> 1300,
// 87 -> 87, 101 -> 110): a number a person can type and defend.
func Tidy(v float64) uint32 {
	if v <= 0 {
		return 0
	}
	c := math.Ceil(v)
	if c < 100 {
		return uint32(c)
	}
	step := math.Pow(10, math.Floor(math.Log10(c))-1)
	return clampLimit(math.Ceil(c/step) * step)
}
