package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/sizing"
)

type validateOptions struct {
	streams
	Profiles []string
	Limit    int64
	WaitTime string
	Stall    string
	JSON     bool

	stall time.Duration
}

// validateReport is `validate --json`: the worst recording's prediction at
// the top, every recording's in Profiles.
type validateReport struct {
	validateOne
	// Worst is the recording that loses the most (or, losing nothing,
	// gets deepest).
	Worst    string        `json:"worst"`
	Profiles []validateOne `json:"profiles"`
	Notes    []string      `json:"notes,omitempty"`
}

// validateOne is the prediction for one recording.
type validateOne struct {
	File            string `json:"file"`
	BacklogLimit    uint32 `json:"backlog_limit"`
	BacklogWaitTime uint32 `json:"backlog_wait_time"`
	HZ              int    `json:"hz"`
	// The consumer stall replayed (whole buckets, 0 for none) and where.
	StallNs   int64 `json:"stall_ns"`
	StallAtNs int64 `json:"stall_at_ns"`
	// Held: the replay loses no record at this setting.
	Held                  bool    `json:"held"`
	PredictedLost         float64 `json:"predicted_lost"`
	PredictedWaits        float64 `json:"predicted_waits"`
	PredictedWaitNs       float64 `json:"predicted_wait_ns"`
	PredictedMaxWaitNs    float64 `json:"predicted_max_wait_ns"`
	PredictedMaxDepth     float64 `json:"predicted_max_depth"`
	MemoryBytes           uint64  `json:"memory_bytes"`
	MemoryBytesUpperBound uint64  `json:"memory_bytes_upper_bound"`
	RecordBytes           float64 `json:"record_bytes"`
	// What the recording saw at the setting in force then.
	RecordedLimit uint32 `json:"recorded_backlog_limit"`
	RecordedLost  uint64 `json:"recorded_lost"`
	// CurrentSegments: where the limit or the wait time changed during the
	// recording, the replay at the settings in force then, a setting at a
	// time, against what the recording lost then.
	CurrentSegments []currentSegment `json:"current_segments,omitempty"`
}

func newValidateCmd(s streams) *cobra.Command {
	o := &validateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "validate --profile FILE [--profile FILE...] --backlog-limit N",
		Short: "Would this backlog setting have held during recordings? Predicted loss, waits and depth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Profiles, "profile", nil, "a profile, a `FILE` written by auditprof record; give it again for several recordings (each one's prediction, and the worst)")
	f.Int64Var(&o.Limit, "backlog-limit", 0, "candidate backlog_limit (records)")
	f.StringVar(&o.WaitTime, "backlog-wait-time", "0", "candidate backlog_wait_time: jiffies (60000) or a duration (15s), at the profile's HZ")
	f.StringVar(&o.Stall, "stall", "0", "replay the consumer taking nothing this long at the recording's worst moment (e.g. 2s)")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *validateOptions) validate() error {
	if len(o.Profiles) == 0 {
		return usagef("--profile is required")
	}
	if o.Limit < 1 || o.Limit > maxBacklogLimit {
		return usagef("--backlog-limit must be between 1 and %d, not %d", maxBacklogLimit, o.Limit)
	}
	stall, err := parseStall(o.Stall)
	if err != nil {
		return err
	}
	o.stall = max(stall, 0)
	return nil
}

func (o *validateOptions) run() error {
	ps, err := loadProfiles(o.Profiles)
	if err != nil {
		return err
	}
	r := validateReport{Notes: profileNotes(ps)}
	for _, p := range ps {
		one, err := o.predict(p)
		if err != nil {
			return err
		}
		r.Profiles = append(r.Profiles, one)
		if w := r.validateOne; w.File == "" || one.PredictedLost > w.PredictedLost ||
			one.PredictedLost == w.PredictedLost && one.PredictedMaxDepth > w.PredictedMaxDepth {
			r.validateOne = one
		}
	}
	r.Worst = r.File
	if o.JSON {
		return writeJSON(o.out, r)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(o.out, "note: %s\n", n)
	}
	for _, one := range r.Profiles {
		writeValidate(o.out, one, len(r.Profiles) > 1)
	}
	if len(r.Profiles) > 1 {
		verdict := "every recording held"
		if !r.Held {
			verdict = fmt.Sprintf("the worst, %s, loses %s records", r.Worst, human.Count(r.PredictedLost))
		}
		fmt.Fprintf(o.out, "worst of %d recordings: %s\n", len(r.Profiles), verdict)
	}
	return nil
}

// predict replays one recording at the candidate setting.
func (o *validateOptions) predict(p namedProfile) (validateOne, error) {
	wait, err := parseWaitTime(o.WaitTime, p.HZ)
	if err != nil {
		return validateOne{}, usageError{fmt.Errorf("--backlog-wait-time for %s: %w", p.Name, err)}
	}
	s := sizing.Setting{Limit: uint32(o.Limit), WaitJiffies: wait, HZ: p.HZ}
	out, at, _, err := sizing.Predict(p.Profile, s, o.stall)
	if errors.Is(err, sizing.ErrTooLittle) {
		return validateOne{}, usageError{fmt.Errorf("%s: %w", p.Name, err)}
	}
	if err != nil {
		return validateOne{}, fmt.Errorf("replaying %s: %w", p.Name, err)
	}
	r := validateOne{File: p.Name, BacklogLimit: s.Limit, BacklogWaitTime: wait, HZ: p.HZ, Held: out.Lost < 0.5,
		StallNs: int64(at.Stall), StallAtNs: int64(at.At),
		PredictedLost: out.Lost, PredictedWaits: out.Waits, PredictedWaitNs: out.WaitNs, PredictedMaxWaitNs: out.MaxWaitNs,
		PredictedMaxDepth: out.MaxDepth, RecordedLost: p.Totals.Lost, RecordBytes: sizing.RecordBytes(p.Profile)}
	r.MemoryBytes, r.MemoryBytesUpperBound = sizing.Memory(s.Limit, r.RecordBytes)
	if p.AuditBefore != nil {
		r.RecordedLimit = p.AuditBefore.BacklogLimit
	}
	if sch := sizing.ScheduleOf(p.Profile); len(sch) > 1 {
		// Predict's demand may have its own stall healed: the check
		// replays the recording as it was.
		d, err := sizing.Reconstruct(p.Profile)
		if err != nil {
			return validateOne{}, fmt.Errorf("replaying %s as recorded: %w", p.Name, err)
		}
		_, steps := sizing.ReplaySchedule(d, sch)
		recorded, err := sizing.RecordedLost(&p.Timeline, sch)
		if err != nil {
			return validateOne{}, fmt.Errorf("reading %s's lost per setting: %w", p.Name, err)
		}
		r.CurrentSegments = currentSegments(d.BucketNs, sch, steps, recorded)
	}
	return r, nil
}

func writeValidate(w io.Writer, r validateOne, named bool) {
	verdict := "held: the replay loses nothing"
	if !r.Held {
		verdict = "would not hold: the replay loses records"
	}
	if named {
		fmt.Fprintf(w, "%s:\n", r.File)
	}
	fmt.Fprintf(w, "backlog_limit %d, backlog_wait_time %d (%s): %s\n", r.BacklogLimit, r.BacklogWaitTime, human.Jiffies(r.BacklogWaitTime, r.HZ), verdict)
	if r.StallNs > 0 {
		fmt.Fprintf(w, "  consumer stall:      %s, %s into the recording (its worst moment)\n", time.Duration(r.StallNs), time.Duration(r.StallAtNs).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "  predicted lost:      %s records\n", human.Count(r.PredictedLost))
	fmt.Fprintf(w, "  predicted waits:     %s records, %s in total, %s at most\n", human.Count(r.PredictedWaits),
		time.Duration(r.PredictedWaitNs).Round(time.Millisecond), time.Duration(r.PredictedMaxWaitNs).Round(time.Millisecond))
	fmt.Fprintf(w, "  predicted max depth: %s records\n", human.Count(r.PredictedMaxDepth))
	per := fmt.Sprintf(" at %.0f bytes per record (measured)", r.RecordBytes)
	if r.RecordBytes <= 0 {
		per = ""
	}
	fmt.Fprintf(w, "  memory when full:    %s%s; the x8970 B advice says %s, an upper bound\n",
		human.FullQueue(r.MemoryBytes, r.RecordBytes), per, humanize.IBytes(r.MemoryBytesUpperBound))
	if len(r.CurrentSegments) > 0 {
		fmt.Fprintf(w, "  recorded:            %s\n", segmentsCheck(r.CurrentSegments))
		return
	}
	fmt.Fprintf(w, "  recorded:            %d lost at backlog_limit %d\n", r.RecordedLost, r.RecordedLimit)
}
