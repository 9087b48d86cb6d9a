package netlink

import (
	"math"

	"github.com/auditprof/auditprof/internal/profile"
)

// timeline collects per-bucket series by offset from the recording's start.
type timeline struct {
	bucketNs int64
	arrivals []int64
	lost     []uint64
	maxDepth []uint64
}

// at returns the bucket index for an offset, growing the series to hold
// it. Negative offsets go to the first bucket.
func (t *timeline) at(offNs int64) int {
	i := 0
	if offNs > 0 {
		i = int(offNs / t.bucketNs)
	}
	for len(t.arrivals) <= i {
		t.arrivals = append(t.arrivals, 0)
		t.lost = append(t.lost, 0)
		t.maxDepth = append(t.maxDepth, 0)
	}
	return i
}

func (t *timeline) arrival(offNs int64) { t.arrivals[t.at(offNs)]++ }

// sample places one AUDIT_GET sample: the lost counter's increase since
// the previous sample and the backlog length read.
func (t *timeline) sample(offNs int64, lost uint64, backlog uint32) {
	i := t.at(offNs)
	t.lost[i] += lost
	t.maxDepth[i] = max(t.maxDepth[i], uint64(backlog))
}

// build returns the series over [0, durationNs): ceil(duration/bucket)
// buckets, at least one. Whatever lies at or after the end (the final
// AUDIT_GET sample is read just after receiving stopped) is folded into
// the last bucket. Records received are the netlink mode's arrivals,
// queued and drained alike; waits are unknown and stay zero.
func (t *timeline) build(startMonoNs, durationNs int64) profile.Timeline {
	n := 1
	if durationNs > 0 {
		n = int(min((durationNs+t.bucketNs-1)/t.bucketNs, math.MaxInt32))
	}
	t.at(int64(n-1) * t.bucketNs) // make the series at least n long
	for i := n; i < len(t.arrivals); i++ {
		t.arrivals[n-1] += t.arrivals[i]
		t.lost[n-1] += t.lost[i]
		t.maxDepth[n-1] = max(t.maxDepth[n-1], t.maxDepth[i])
	}
	s := profile.Series{
		Arrivals: append([]int64(nil), t.arrivals[:n]...),
		Queued:   make([]uint64, n),
		Lost:     append([]uint64(nil), t.lost[:n]...),
		Drained:  make([]uint64, n),
		MaxDepth: append([]uint64(nil), t.maxDepth[:n]...),
		Waits:    make([]uint64, n),
		WaitNs:   make([]uint64, n),
	}
	for i, a := range s.Arrivals {
		s.Queued[i] = uint64(a)
		s.Drained[i] = uint64(a)
	}
	return profile.NewTimeline(t.bucketNs, startMonoNs, s)
}

// lostDelta is how much the kernel's 32-bit lost counter rose from prev to
// cur. A decrease is either a wrap past 2^32 (prev near the top) or a
// reset (auditctl --reset-lost, AUDIT_SET with AUDIT_STATUS_LOST),
// after which cur is what was lost since the reset: a lower bound.
func lostDelta(prev, cur uint32) uint64 {
	switch {
	case cur >= prev:
		return uint64(cur - prev)
	case prev-cur > math.MaxUint32/2: // wrapped
		return uint64(cur - prev) // modulo 2^32
	default: // reset
		return uint64(cur)
	}
}
