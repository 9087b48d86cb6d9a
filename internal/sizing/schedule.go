package sizing

import (
	"github.com/auditprof/auditprof/internal/profile"
)

// Step is a setting in force from bucket First on, until the next step's.
type Step struct {
	First int
	Setting
}

// Schedule is the settings a replay applies bucket by bucket (issue 20:
// an operator who raises the limit mid-recording): steps in ascending
// First, the first from bucket 0 (whatever its First says).
type Schedule []Step

// Constant is one setting throughout: what Replay replays.
func Constant(s Setting) Schedule {
	return Schedule{{Setting: s}}
}

// ScheduleOf is the settings a profile's recording ran under: AuditBefore
// from bucket 0, then each change of backlog_limit or backlog_wait_time
// (p.Settings) from the bucket after the one it was made in. The change's
// own bucket replays at the old setting: the replay cannot place the
// change inside a bucket, and the old limit is what the bucket's first
// records met (a poll-seen change was made before its MonoNs, so it errs
// late). A change before the timeline's start applies from bucket 0, and
// one in its last bucket or later to no bucket at all; changes that take
// effect at the same bucket make one step, and a step that changes
// neither setting is none. HZ is p.HZ. Nil without AuditBefore: the
// setting in force is not known.
func ScheduleOf(p *profile.Profile) Schedule {
	if p.AuditBefore == nil {
		return nil
	}
	t := &p.Timeline
	cur := Setting{Limit: p.AuditBefore.BacklogLimit, WaitJiffies: p.AuditBefore.BacklogWaitTime, HZ: p.HZ}
	sch := Constant(cur)
	n := t.Len()
	for _, c := range p.Settings {
		switch c.Field {
		case profile.SettingBacklogLimit:
			cur.Limit = uint32(c.New)
		case profile.SettingBacklogWaitTime:
			cur.WaitJiffies = uint32(c.New)
		default:
			continue
		}
		first := 0
		if c.MonoNs >= t.StartNs && t.BucketNs > 0 {
			first = int((c.MonoNs-t.StartNs)/t.BucketNs) + 1
		}
		if first >= n {
			break // Settings are in time order: no later one applies either
		}
		if last := &sch[len(sch)-1]; last.First == first {
			last.Setting = cur
		} else {
			sch = append(sch, Step{First: first, Setting: cur})
		}
		// A change undone by the next step's (300, 20000, 300 in one
		// bucket) leaves two steps alike: one is enough.
		if k := len(sch); k > 1 && sch[k-1].Setting == sch[k-2].Setting {
			sch = sch[:k-1]
		}
	}
	return sch
}

// ReplaySchedule is Replay with the setting of each bucket taken from sch:
// the outcome over the whole demand, and one per step (over its buckets).
// A record's wait is counted in the step it ends in; a sleeper keeps the
// wait time it went to sleep with across a change (the kernel reads
// backlog_wait_time once per audit_log_start), and the limit in force is
// the one each admission meets. Each step's EndDepth is the queue at its
// end.
func ReplaySchedule(d *Demand, sch Schedule) (Outcome, []Outcome) {
	if len(sch) == 0 {
		return Outcome{}, nil // no setting known, nothing to replay
	}
	steps := make([]Outcome, len(sch))
	replay(d, sch, nil, 1, steps)
	return total(steps), steps
}

// total folds a schedule's per-step outcomes into the outcome of the
// whole replay: counts summed in order, the deepest and the longest of
// all, the queue at the last step's end. One step is itself, to the bit.
func total(steps []Outcome) Outcome {
	if len(steps) == 1 {
		return steps[0]
	}
	var o Outcome
	for _, s := range steps {
		o.Lost += s.Lost
		o.DroppedDemand += s.DroppedDemand
		o.Waits += s.Waits
		o.WaitNs += s.WaitNs
		o.MaxWaitNs = max(o.MaxWaitNs, s.MaxWaitNs)
		o.MaxDepth = max(o.MaxDepth, s.MaxDepth)
		o.BusyBuckets += s.BusyBuckets
		o.InferredBuckets += s.InferredBuckets
	}
	if len(steps) > 0 {
		o.EndDepth = steps[len(steps)-1].EndDepth
	}
	return o
}

// waits reports whether any step of sch sleeps producers in the backlog
// wait (replayWait).
func (sch Schedule) waits() bool {
	for _, s := range sch {
		if s.waits() {
			return true
		}
	}
	return false
}

// waits reports whether s sleeps a producer over the limit rather than
// dropping its record.
func (s Setting) waits() bool {
	return s.Limit > 0 && s.WaitJiffies > 0 && s.HZ > 0
}

// RecordedLost is, for each step of sch, the records the recording
// counted lost in its buckets (the timeline's lost column), read in one
// pass over the rows.
func RecordedLost(t *profile.Timeline, sch Schedule) ([]uint64, error) {
	lost := make([]uint64, len(sch))
	j := 0
	for b, err := range t.All() {
		if err != nil {
			return nil, err
		}
		for j+1 < len(sch) && int(b.Index) >= sch[j+1].First {
			j++
		}
		lost[j] += b.Lost
	}
	return lost, nil
}
