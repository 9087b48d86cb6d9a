package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
	"github.com/auditprof/auditprof/internal/sizing"
)

type recommendOptions struct {
	streams
	profileSource
	Headroom     float64
	Stall        string
	MemoryBudget string
	JSON         bool
	Apply        bool
	Persist      string
	DryRun       bool

	budget uint64
	// stall is --stall, or -1 for the longest stall measured.
	stall time.Duration
}

// recommendReport is `recommend --json`.
type recommendReport struct {
	BacklogLimit uint32 `json:"backlog_limit"`
	// SetBy is the recording whose limit this is: the largest of
	// Profiles'.
	SetBy        string         `json:"set_by"`
	Profiles     []profileLimit `json:"profiles"`
	Notes        []string       `json:"notes,omitempty"`
	MinimumLimit uint32         `json:"minimum_limit"`
	// MinimumFloored: the minimum is the depth the queue really held,
	// more than the replay needs (the replay can miss a swing inside a
	// bucket).
	MinimumFloored bool    `json:"minimum_floored,omitempty"`
	Headroom       float64 `json:"headroom"`
	HeadroomFrom   string  `json:"headroom_from"`
	// The consumer stall the limit rides out (StallNs, whole buckets, 0
	// for none) and where in SetBy's recording it hurts most; where the
	// length came from ("given" or "longest measured"); the smallest
	// lossless limit with no stall; the stalls the recording shows.
	StallNs     int64 `json:"stall_ns"`
	StallAtNs   int64 `json:"stall_at_ns"`
	StallMoveNs int64 `json:"stall_move_ns,omitempty"`
	// The recording's own longest stall when the stall sized for stands
	// for it (replayed at the consumer's pace instead of added to).
	StallReplacesNs       int64         `json:"stall_replaces_ns,omitempty"`
	StallReplacesAtNs     int64         `json:"stall_replaces_at_ns,omitempty"`
	StallFrom             string        `json:"stall_from"`
	NoStallMinimum        uint32        `json:"no_stall_minimum_limit"`
	Stalls                sizing.Stalls `json:"stalls"`
	PeakDepth             float64       `json:"peak_depth"`
	MemoryBytes           uint64        `json:"memory_bytes"`
	MemoryBytesUpperBound uint64        `json:"memory_bytes_upper_bound"`
	RecordBytes           float64       `json:"record_bytes"`
	SustainedOverload     bool          `json:"sustained_overload"`
	// RideOut is the limit that would have held this recording only.
	RideOut         uint32  `json:"ride_out_limit,omitempty"`
	GrowthPerMinute float64 `json:"growth_per_minute,omitempty"`
	ArrivalRate     float64 `json:"arrival_rate"`
	PeakArrivalRate float64 `json:"peak_arrival_rate"`
	DrainRate       float64 `json:"drain_rate"`
	DrainMeasured   bool    `json:"drain_measured"`
	// The consumer's pace by load level, and the share of the replay's
	// busy buckets where it was inferred from heavier load.
	DrainByLoad        []sizing.LoadDrain `json:"drain_by_load"`
	DrainInferredShare float64            `json:"drain_inferred_share"`
	// Demand reconstruction: records recorded, and added for events whose
	// SYSCALL record was lost and for producers asleep in the wait.
	DemandRecords   float64 `json:"demand_records"`
	AddedSuppressed float64 `json:"demand_added_suppressed"`
	AddedBlocked    float64 `json:"demand_added_blocked"`
	CurrentLimit    uint32  `json:"current_backlog_limit"`
	CurrentWait     uint32  `json:"current_backlog_wait_time"`
	// Predicted for the setting in force during the recording, and what
	// the kernel counted then.
	CurrentPredictedLost float64  `json:"current_predicted_lost"`
	RecordedLost         uint64   `json:"recorded_lost"`
	RecordedWaits        uint64   `json:"recorded_waits"`
	RecordedWaitNs       uint64   `json:"recorded_wait_ns"`
	OverBudget           bool     `json:"over_budget,omitempty"`
	BudgetLimit          uint32   `json:"budget_limit,omitempty"`
	BudgetPredictedLost  float64  `json:"budget_predicted_lost,omitempty"`
	Reasoning            []string `json:"reasoning"`
	WaitAdvice           string   `json:"backlog_wait_time_advice"`

	// CurrentSegments: where the limit or the wait time changed during the
	// recording, the replay's check a setting at a time
	// (current_predicted_lost is their sum).
	CurrentSegments []currentSegment `json:"current_segments,omitempty"`

	// The noisiest programs, units and containers (their program rows by
	// cgroup), processes and rules, under sustained overload only:
	// programs first, as every record is in one program row while the
	// process table keeps only long-lived processes.
	NoisiestPrograms  []profile.ProgramRow `json:"noisiest_programs,omitempty"`
	NoisiestUnits     []ranking.UnitRow    `json:"noisiest_units,omitempty"`
	NoisiestRules     []profile.Rule       `json:"noisiest_rules,omitempty"`
	NoisiestProcesses []profile.Process    `json:"noisiest_processes,omitempty"`
	Applied           *applyReport         `json:"applied,omitempty"`
}

// currentSegment is the part of a recording one setting was in force
// for, from FromNs into it until the next one's: what the replay at that
// setting loses there, and what the recording counted lost there.
type currentSegment struct {
	FromNs          int64   `json:"from_ns"`
	BacklogLimit    uint32  `json:"backlog_limit"`
	BacklogWaitTime uint32  `json:"backlog_wait_time"`
	PredictedLost   float64 `json:"predicted_lost"`
	RecordedLost    uint64  `json:"recorded_lost"`
}

// currentSegments are a recording's segments (nil for one: the settings
// did not change).
func currentSegments(bucketNs int64, sch sizing.Schedule, steps []sizing.Outcome, recorded []uint64) []currentSegment {
	if len(sch) < 2 {
		return nil
	}
	segs := make([]currentSegment, len(sch))
	for i, st := range sch {
		segs[i] = currentSegment{FromNs: int64(st.First) * bucketNs, BacklogLimit: st.Limit, BacklogWaitTime: st.WaitJiffies,
			PredictedLost: steps[i].Lost, RecordedLost: recorded[i]}
	}
	return segs
}

// segmentsCheck says what the recording lost in each segment and what the
// replay loses there: "1,518 lost at 300 until 14.2s, then 0 at 20000;
// replayed at those: 1,520, then 0".
func segmentsCheck(segs []currentSegment) string {
	recorded, replayed := make([]string, len(segs)), make([]string, len(segs))
	for i, s := range segs {
		at := fmt.Sprint(s.BacklogLimit)
		if s.BacklogWaitTime > 0 {
			at += fmt.Sprintf(" (wait %d)", s.BacklogWaitTime)
		}
		recorded[i] = fmt.Sprintf("%s lost at %s", human.Count(float64(s.RecordedLost)), at)
		if i > 0 {
			recorded[i] = fmt.Sprintf("%s at %s", human.Count(float64(s.RecordedLost)), at)
		}
		if i+1 < len(segs) {
			recorded[i] += fmt.Sprintf(" until %s", time.Duration(segs[i+1].FromNs).Round(time.Millisecond))
		}
		replayed[i] = human.Count(s.PredictedLost)
	}
	return strings.Join(recorded, ", then ") + "; replayed at those: " + strings.Join(replayed, ", then ")
}

// profileLimit is one recording's own limit in a recommendation over several.
type profileLimit struct {
	File              string `json:"file"`
	KernelRelease     string `json:"kernel_release"`
	BacklogLimit      uint32 `json:"backlog_limit"`
	MinimumLimit      uint32 `json:"minimum_limit"`
	SustainedOverload bool   `json:"sustained_overload"`
	LongestStallNs    int64  `json:"longest_stall_ns"`
}

func newRecommendCmd(s streams) *cobra.Command {
	o := &recommendOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "Recommend the smallest backlog_limit that loses nothing on a recorded workload",
		Long: `Replay a recording through the kernel's audit queue semantics and recommend the
smallest backlog_limit that would have lost nothing, with headroom (--headroom,
or measured from the consumer's unevenness), rounded up to a tidy number, with
the reasoning: peak depth, arrival and drain rates,
and the memory the limit can hold (measured record size; the usual
"limit x 8970 bytes" shown as the upper bound it is).

The limit rides out a consumer that takes nothing for --stall at the worst
moment of the recording (by default the longest stall the recording shows).

Reads --profile FILE, or records for --duration first. Give --profile more
than once (busy hours, hosts of one role) for one limit that holds for each:
the output names the recording that set it. When arrivals outran
the consumer over the whole recording, says that no limit is enough and what
to fix instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	o.profileSource.addFlags(f, true)
	f.Float64Var(&o.Headroom, "headroom", 0, "multiply the smallest lossless limit by this (at least 1); default: from the consumer's measured unevenness")
	f.StringVar(&o.Stall, "stall", "", "size for the consumer taking nothing this long (e.g. 2s; 0 for none); default: the longest stall in the recording")
	f.StringVar(&o.MemoryBudget, "memory-budget", "", "the most memory a full queue may hold, e.g. 64MiB")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	f.BoolVar(&o.Apply, "apply", false, "apply the recommended limit (AUDIT_SET), as `auditprof apply` does")
	f.StringVar(&o.Persist, "persist", "", "with --apply: also write it to this rules.d file")
	f.BoolVar(&o.DryRun, "dry-run", false, "with --apply: show what would change, change nothing")
	return cmd
}

func (o *recommendOptions) validate() error {
	if err := o.profileSource.validate(); err != nil {
		return err
	}
	if o.Headroom != 0 && (o.Headroom < 1 || o.Headroom > 100) {
		return usagef("--headroom must be between 1 and 100, not %v", o.Headroom)
	}
	stall, err := parseStall(o.Stall)
	if err != nil {
		return err
	}
	o.stall = stall
	if o.MemoryBudget != "" {
		b, err := humanize.ParseBytes(o.MemoryBudget)
		if err != nil || b == 0 {
			return usagef("--memory-budget %q is not a size (e.g. 64MiB, 1G)", o.MemoryBudget)
		}
		o.budget = b
	}
	if (o.Persist != "" || o.DryRun) && !o.Apply {
		return usagef("--persist and --dry-run go with --apply")
	}
	// Before recording, not after.
	return checkPersist(o.Persist, o.DryRun)
}

func (o *recommendOptions) run(cmd *cobra.Command) error {
	ps, err := o.profileSource.loadAll(cmd, o.streams)
	if err != nil {
		return err
	}
	// One stall for every recording: the given one, or the longest any
	// of them shows.
	stall, stallFrom := o.stall, "given"
	if stall < 0 {
		stall, stallFrom = 0, "longest measured"
		for _, p := range ps {
			s, err := sizing.MeasureStalls(p.Profile)
			if err != nil {
				return err
			}
			stall = max(stall, s.Longest)
		}
	}
	var (
		bind   int
		recs   = make([]*sizing.Recommendation, len(ps))
		limits = make([]profileLimit, len(ps))
	)
	for i, p := range ps {
		rec, err := sizing.Recommend(p.Profile, sizing.Options{Headroom: o.Headroom, Stall: stall, MemoryBudget: o.budget})
		if errors.Is(err, sizing.ErrTooLittle) {
			return usageError{fmt.Errorf("%s: %w", p.Name, err)}
		}
		if err != nil {
			return fmt.Errorf("sizing %s: %w", p.Name, err)
		}
		recs[i] = rec
		limits[i] = profileLimit{File: p.Name, KernelRelease: p.KernelRelease, BacklogLimit: rec.BacklogLimit,
			MinimumLimit: rec.MinimumLimit, SustainedOverload: rec.SustainedOverload, LongestStallNs: int64(rec.Stalls.Longest)}
		if binds(rec, recs[bind]) {
			bind = i
		}
	}
	rec := recs[bind]
	r := newRecommendReport(ps[bind].Profile, rec)
	r.SetBy, r.Profiles, r.StallFrom = ps[bind].Name, limits, stallFrom
	r.Notes = profileNotes(ps)
	if len(ps) > 1 {
		own := make([]string, len(limits))
		for i, l := range limits {
			own[i] = fmt.Sprintf("%s %d", l.File, l.BacklogLimit)
			if l.SustainedOverload {
				own[i] = l.File + " sustained overload"
			}
		}
		r.Reasoning = append([]string{fmt.Sprintf("%d recordings, one limit for all: %s sets it (each one's own: %s); the reasons below are its",
			len(ps), r.SetBy, strings.Join(own, ", "))}, r.Reasoning...)
	}
	if o.Apply {
		if rec.SustainedOverload {
			return fmt.Errorf("applying a limit: arrivals outran the consumer over the recording, so no backlog_limit is enough (see `auditprof recommend` without --apply)")
		}
		a := &applyOptions{streams: o.streams, Limit: int64(rec.BacklogLimit), WaitTime: "", Persist: o.Persist, DryRun: o.DryRun}
		if err := a.validate(); err != nil {
			return err
		}
		if r.Applied, err = a.apply(cmd.Context()); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(o.out, r)
	}
	writeRecommendation(o.out, r)
	if r.Applied != nil {
		writeApply(o.out, r.Applied)
	}
	return nil
}

// binds reports whether rec decides over the one binding so far: a
// sustained overload first (no limit is enough), then the larger limit.
func binds(rec, cur *sizing.Recommendation) bool {
	if rec.SustainedOverload != cur.SustainedOverload {
		return rec.SustainedOverload
	}
	if rec.SustainedOverload {
		return rec.RideOut > cur.RideOut
	}
	return rec.BacklogLimit > cur.BacklogLimit
}

// parseStall reads --stall: "" for the longest stall measured (-1), else a
// duration, 0 for none.
func parseStall(s string) (time.Duration, error) {
	if s == "" {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usagef("--stall %q is not a duration (e.g. 2s, 500ms; 0 for none)", s)
	}
	if d > time.Hour {
		return 0, usagef("--stall %s: at most 1h; a consumer stopped longer is an outage, not a stall to size the queue for", d)
	}
	return d, nil
}

func newRecommendReport(p *profile.Profile, rec *sizing.Recommendation) *recommendReport {
	d := rec.Demand
	var demand float64
	for _, v := range d.Records {
		demand += v
	}
	r := &recommendReport{
		BacklogLimit: rec.BacklogLimit, MinimumLimit: rec.MinimumLimit, MinimumFloored: rec.MinimumFloored, Headroom: rec.Headroom, HeadroomFrom: rec.HeadroomFrom,
		StallNs: int64(rec.Stall), StallAtNs: int64(rec.StallAt), StallMoveNs: int64(rec.StallMove),
		StallReplacesNs: int64(rec.StallReplaces.Buckets) * d.BucketNs, StallReplacesAtNs: int64(rec.StallReplaces.First) * d.BucketNs, NoStallMinimum: rec.NoStallMinimum, Stalls: rec.Stalls,
		PeakDepth: rec.PeakDepth, MemoryBytes: rec.MemoryBytes, MemoryBytesUpperBound: rec.MemoryBytesUpperBound,
		RecordBytes: rec.RecordBytes, SustainedOverload: rec.SustainedOverload, RideOut: rec.RideOut,
		GrowthPerMinute: rec.GrowthPerMinute, ArrivalRate: rec.ArrivalRate, PeakArrivalRate: rec.PeakArrivalRate,
		DrainRate: d.DrainRate, DrainMeasured: d.DrainSource != "fastest",
		DrainByLoad: d.DrainByLoad, DrainInferredShare: rec.InferredShare,
		DemandRecords: demand, AddedSuppressed: d.AddedSuppressed, AddedBlocked: d.AddedBlocked,
		CurrentLimit: rec.Current.Limit, CurrentWait: rec.Current.WaitJiffies,
		CurrentPredictedLost: rec.CurrentOutcome.Lost, RecordedLost: p.Totals.Lost,
		CurrentSegments: currentSegments(d.BucketNs, rec.Schedule, rec.CurrentSteps, rec.RecordedLost),
		RecordedWaits:   rec.RecordedWaits, RecordedWaitNs: rec.RecordedWaitNs,
		OverBudget: rec.OverBudget, BudgetLimit: rec.BudgetLimit, BudgetPredictedLost: rec.BudgetLost,
	}
	sec := float64(p.Timeline.Len()) * float64(p.Timeline.BucketNs) / 1e9
	drain := fmt.Sprintf("%s records/s, measured over %d buckets in which it was saturated (records from before the bucket still queued at its end)",
		human.Count(d.DrainRate), d.BusyBuckets)
	if d.DrainSource == "full" {
		drain = fmt.Sprintf("%s records/s, measured over %d buckets of overload (records lost or waiting; the replay uses what the consumer took bucket by bucket there and wherever it was saturated, and elsewhere the pace below, never less than this rate)",
			human.Count(d.DrainRate), d.BusyBuckets)
	}
	if d.DrainSource == "fastest" {
		drain = fmt.Sprintf("at least %s records/s (the consumer was never saturated long enough to measure it at full speed: the fastest bucket)", human.Count(d.DrainRate))
	}
	inForce := "were in force"
	for i, s := range r.CurrentSegments {
		if i == 0 {
			inForce += " at its start, then changed:"
			continue
		}
		inForce += fmt.Sprintf(" %d and %d from %s", s.BacklogLimit, s.BacklogWaitTime, time.Duration(s.FromNs).Round(time.Millisecond))
		if i+1 < len(r.CurrentSegments) {
			inForce += ","
		}
	}
	r.Reasoning = []string{
		fmt.Sprintf("recording: %.1f s on %s (%s); backlog_limit %d and backlog_wait_time %d (%s) %s",
			sec, p.KernelRelease, p.Attach, rec.Current.Limit, rec.Current.WaitJiffies, human.Jiffies(rec.Current.WaitJiffies, p.HZ), inForce),
		fmt.Sprintf("demand: %s records = %s recorded + %s of events whose SYSCALL record was lost (%.1f records per such event) + %s producers would have made while asleep in the wait",
			human.Count(demand), human.Count(demand-d.AddedSuppressed-d.AddedBlocked), human.Count(d.AddedSuppressed), d.RecordsPerLostEvent, human.Count(d.AddedBlocked)),
		fmt.Sprintf("arrivals: %s records/s on average, %s records/s in the busiest second", human.Count(rec.ArrivalRate), human.Count(rec.PeakArrivalRate)),
		"drain: " + drain,
	}
	if len(d.DrainByLoad) > 0 {
		levels := make([]string, len(d.DrainByLoad))
		for i, l := range d.DrainByLoad {
			load := fmt.Sprintf("%d-%d", l.MinArrivals, l.MaxArrivals)
			if l.MinArrivals == l.MaxArrivals {
				load = fmt.Sprint(l.MinArrivals)
			}
			levels[i] = fmt.Sprintf("%s/s at %s", human.Count(l.Rate), load)
		}
		r.Reasoning = append(r.Reasoning, fmt.Sprintf("drain by load (records per %s bucket) where it was saturated: %s; elsewhere the replay gives the consumer the pace at its bucket's load or the nearest heavier load measured",
			time.Duration(p.Timeline.BucketNs), strings.Join(levels, ", ")))
	}
	r.Reasoning = append(r.Reasoning, fmt.Sprintf("peak depth with no limit: %s records (replay of the demand against that drain)", human.Count(rec.PeakDepth)),
		"stalls: "+sizing.StallsLine(rec.Stalls))
	if rec.InferredShare >= 0.5 {
		r.Reasoning = append(r.Reasoning, fmt.Sprintf("caution: in %.0f%% of the buckets where that replay's queue was non-empty, the consumer's pace was not measured at their load (the recorded queue had emptied), only inferred from heavier load: the peak errs high if the consumer is faster there. Apply the recommendation and record again to measure it",
			rec.InferredShare*100))
	}
	if len(r.CurrentSegments) > 0 {
		r.Reasoning = append(r.Reasoning, "check, a setting at a time (the replay takes each bucket's): recorded "+segmentsCheck(r.CurrentSegments))
	} else if rec.Current.Limit > 0 {
		// Totals.Lost, not the AUDIT_GET delta: audit_after is read after
		// counting stops, and a load that outlasts the recording goes on
		// losing records in between (the tests prove Totals.Lost equal to
		// the kernel's counter over the counting window).
		r.Reasoning = append(r.Reasoning, fmt.Sprintf("check: the replay loses %s records at the limit in force (%d); the recording counted %s lost",
			human.Count(rec.CurrentOutcome.Lost), rec.Current.Limit, human.Count(float64(p.Totals.Lost))))
	}
	if rec.SustainedOverload {
		r.Reasoning = append(r.Reasoning,
			fmt.Sprintf("sustained overload: arrivals (%s records/s) outran the consumer (%s records/s) over the recording and the queue never caught up, so no backlog_limit is enough",
				human.Count(rec.ArrivalRate), human.Count(d.DrainRate)),
			fmt.Sprintf("a limit of %d would have ridden out these %.0f s only; each further minute at this rate needs about %s more slots",
				rec.RideOut, sec, human.Count(rec.GrowthPerMinute)),
			"fix the source: narrow or exclude the noisiest programs and rules below, or speed up the consumer (auditd's disk, dispatcher plugins)")
		r.NoisiestPrograms = ranking.NoisiestPrograms(p, 5)
		r.NoisiestUnits = ranking.Units(p, ranking.Records)
		if len(r.NoisiestUnits) > 5 {
			r.NoisiestUnits = r.NoisiestUnits[:5]
		}
		r.NoisiestRules = ranking.NoisiestRules(p, 5)
		r.NoisiestProcesses = ranking.NoisiestProcesses(p, 5)
	} else {
		stall := fmt.Sprintf("smallest limit that loses nothing in the replay: %d, with no consumer stall", rec.MinimumLimit)
		if rec.Stall > 0 {
			stall = fmt.Sprintf("smallest limit that loses nothing in the replay with the consumer taking nothing for %s at the worst moment (%s into the recording: the queue already there plus the arrivals over the stall are largest): %d; with no stall it would be %d",
				rec.Stall, rec.StallAt.Round(time.Millisecond), rec.MinimumLimit, rec.NoStallMinimum)
			if st := rec.StallReplaces; st.Buckets > 0 {
				stall += fmt.Sprintf("; the recording's own longest stall (%s, %s in) is replayed at the consumer's pace: the stall sized for stands for it, put where it needs the most room, instead of adding to it",
					time.Duration(int64(st.Buckets)*d.BucketNs), time.Duration(int64(st.First)*d.BucketNs).Round(time.Millisecond))
			}
			if rec.StallMove > 0 {
				stall += fmt.Sprintf("; %s into the stall kauditd moves what audit_queue holds to its retry queue (this kernel's kauditd gives up a send to a stopped auditd after %s), so from then on only the later arrivals wait in audit_queue",
					rec.StallMove, d.Moves.Timeout)
			}
		}
		if rec.MinimumFloored {
			stall += fmt.Sprintf("; that is the depth the queue really held (%d): the replay, bucket by bucket, needs less, but a smaller limit would have dropped there",
				p.Totals.MaxDepth)
		}
		measured := fmt.Sprintf(" (%s records of %.0f bytes, measured)", human.Count(float64(rec.BacklogLimit)), rec.RecordBytes)
		if rec.RecordBytes <= 0 {
			measured = ""
		}
		r.Reasoning = append(r.Reasoning, stall, headroomLine(rec),
			fmt.Sprintf("memory: a full queue at %d holds %s%s; the usual advice, %d x 8970 bytes = %s, is an upper bound",
				rec.BacklogLimit, human.FullQueue(rec.MemoryBytes, rec.RecordBytes), measured,
				rec.BacklogLimit, humanize.IBytes(rec.MemoryBytesUpperBound)))
		if rec.OverBudget {
			r.Reasoning = append(r.Reasoning, fmt.Sprintf("over the memory budget: the largest limit within it, %d, loses %s records in the replay",
				rec.BudgetLimit, human.Count(rec.BudgetLost)))
		}
	}
	if n := p.Totals.RetryQueued; n > 0 {
		// kauditd_send_queue: a unicast to auditd that times out (HZ/10,
		// 5.10+) sends the rest of the pass to the retry queue, retried
		// later at up to 100 ms a record while audit_queue waits.
		timeout := "send timeout"
		if t := time.Duration(p.KauditdSendTimeoutNs); t > 0 {
			timeout = t.String() + " send timeout"
		}
		r.Reasoning = append(r.Reasoning, fmt.Sprintf("warning: kauditd moved %s records to its retry queue (auditd's socket stayed full for its %s) and retried them while the queue waited: a consumer that slows down as it falls behind, which the replay does not model, so a deeper queue than this recording's may drain slower than assumed here; speed up the consumer, or add headroom",
			human.Count(float64(n)), timeout))
	}
	r.WaitAdvice = waitAdvice(p, rec)
	return r
}

// headroomLine says how the headroom made the limit.
func headroomLine(rec *sizing.Recommendation) string {
	if rec.Stall > 0 {
		return fmt.Sprintf("the no-stall minimum (%d) x%.2f headroom (%s), plus what the stall adds (%d: the recording's own arrivals, its margin the stall asked for), rounded up to two significant digits (never below %d): %d",
			rec.NoStallMinimum, rec.Headroom, headroomWhy(rec), rec.MinimumLimit-rec.NoStallMinimum, sizing.FloorLimit, rec.BacklogLimit)
	}
	return fmt.Sprintf("x%.2f headroom (%s), rounded up to two significant digits (never below %d): %d",
		rec.Headroom, headroomWhy(rec), sizing.FloorLimit, rec.BacklogLimit)
}

// headroomWhy says where the headroom came from.
func headroomWhy(rec *sizing.Recommendation) string {
	switch rec.HeadroomFrom {
	case "given":
		return "--headroom"
	case "default":
		return "the default: the recording has fewer than 3 seconds in which the queue never emptied, so the consumer's own unevenness was not measured"
	}
	return "the consumer's mean drain over its slowest tenth, in the " + strings.TrimPrefix(rec.HeadroomFrom, "drain spread over ") + " in which the queue never emptied"
}

func waitAdvice(p *profile.Profile, rec *sizing.Recommendation) string {
	cur := fmt.Sprintf("backlog_wait_time %d (%s)", rec.Current.WaitJiffies, human.Jiffies(rec.Current.WaitJiffies, p.HZ))
	if rec.RecordedWaits > 0 {
		per := time.Duration(rec.RecordedWaitNs / rec.RecordedWaits)
		return fmt.Sprintf("during the recording producers slept %s in the backlog wait, %s per waiting record (%d records): with %s a full queue stalls the audited programs instead of losing records. At the recommended limit the replay neither waits nor loses; beyond it, keep the wait where a lost record is worse than a stalled program, set 0 where a stall is worse",
			time.Duration(rec.RecordedWaitNs).Round(time.Millisecond), per.Round(time.Microsecond), rec.RecordedWaits, cur)
	}
	return fmt.Sprintf("no producer slept in the backlog wait during the recording (%s). At the recommended limit the replay neither waits nor loses, so the wait time only matters for bursts beyond this recording: non-zero stalls audited programs up to that long per record, 0 loses the record instead",
		cur)
}

func writeRecommendation(w io.Writer, r *recommendReport) {
	if r.SustainedOverload {
		fmt.Fprintf(w, "no backlog_limit is enough: sustained overload (%s)\n", r.SetBy)
	} else {
		fmt.Fprintf(w, "recommended backlog_limit: %d  (a full queue holds %s; the usual x8970 B advice says %s, an upper bound)\n",
			r.BacklogLimit, human.FullQueue(r.MemoryBytes, r.RecordBytes), humanize.IBytes(r.MemoryBytesUpperBound))
		stall := "no consumer stall"
		if r.StallNs > 0 {
			stall = fmt.Sprintf("a consumer stall of %s at the worst moment", time.Duration(r.StallNs))
		}
		fmt.Fprintf(w, "rides out: %s (%s)\n", stall, r.StallFrom)
	}
	if len(r.Profiles) > 1 {
		fmt.Fprintf(w, "set by: %s\n", r.SetBy)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "\nwhy:\n")
	for _, l := range r.Reasoning {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	printNoisiest(w, r)
	fmt.Fprintf(w, "\nbacklog_wait_time: %s\n", r.WaitAdvice)
}

// parseWaitTime reads a backlog_wait_time: jiffies as auditctl takes them
// ("60000"), or a duration ("2s") converted with hz.
func parseWaitTime(s string, hz int) (uint32, error) {
	s = strings.TrimSpace(s)
	if j, err := strconv.ParseUint(s, 10, 64); err == nil {
		// The kernel refuses more than 10*AUDIT_BACKLOG_WAIT_TIME, 600 s.
		if hz > 0 && j > 600*uint64(hz) {
			return 0, fmt.Errorf("%d jiffies is %s at HZ %d; the kernel takes at most 600 s", j, human.Jiffies(uint32(min(j, 1<<31)), hz), hz)
		}
		if j > 1<<31 {
			return 0, fmt.Errorf("%d jiffies is too large", j)
		}
		return uint32(j), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("backlog wait time %q is neither jiffies (e.g. 60000) nor a duration (e.g. 15s)", s)
	}
	if hz <= 0 {
		return 0, fmt.Errorf("backlog wait time %q needs HZ to convert to jiffies", s)
	}
	if d > 600*time.Second {
		return 0, fmt.Errorf("%s is more than the kernel takes, 600 s", d)
	}
	return uint32((d*time.Duration(hz) + time.Second - 1) / time.Second), nil
}

// printNoisiest lists what to fix under sustained overload: programs
// first (every record is in one), then units and containers, then single
// processes, then rules.
func printNoisiest(w io.Writer, r *recommendReport) {
	if len(r.NoisiestPrograms) > 0 {
		fmt.Fprintf(w, "\nnoisiest programs:\n")
		for _, pr := range r.NoisiestPrograms {
			parent := pr.ParentComm
			if parent == "" {
				parent = "-"
			}
			fmt.Fprintf(w, "  %-26s parent %-16s %-20s %8d procs %10d records %8d lost %10s waited\n",
				ranking.ProgramLabel(pr.Comm, pr.Self, pr.Overflow), parent, ranking.UnitName(pr.Cgroup, pr.CgroupID),
				pr.Processes, pr.Records, pr.Lost, human.Duration(pr.WaitNs))
		}
	}
	if len(r.NoisiestUnits) > 0 {
		fmt.Fprintf(w, "noisiest units and containers:\n")
		for _, u := range r.NoisiestUnits {
			fmt.Fprintf(w, "  %-32s %4d programs %8d procs %10d records %8d lost %10s waited\n",
				u.Name, u.Programs, u.Processes, u.Records, u.Lost, human.Duration(u.WaitNs))
		}
	}
	if len(r.NoisiestProcesses) > 0 {
		fmt.Fprintf(w, "noisiest processes:\n")
		for _, pr := range r.NoisiestProcesses {
			tgid, comm := fmt.Sprint(pr.Tgid), pr.Comm
			switch {
			case pr.Tgid == 0 && pr.ShortLived:
				tgid, comm = "-", ranking.ShortLivedLabel
			case pr.Tgid == 0 && pr.Comm == "other":
				tgid, comm = "-", "other (processes that did not fit)"
			}
			fmt.Fprintf(w, "  %-8s %-16s %10d records %8d lost\n", tgid, comm, pr.Records, pr.Lost)
		}
	}
	if len(r.NoisiestRules) > 0 {
		fmt.Fprintf(w, "noisiest rules:\n")
		for _, rl := range r.NoisiestRules {
			fmt.Fprintf(w, "  %-24s syscall %-5d %10d records %8d lost\n", human.Key(rl.Key), rl.Syscall, rl.Records, rl.Lost)
		}
	}
}
