package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/sizing"
)

type validateOptions struct {
	streams
	Profile  string
	Limit    int64
	WaitTime string
	JSON     bool
}

// validateReport is `validate --json`.
type validateReport struct {
	BacklogLimit    uint32 `json:"backlog_limit"`
	BacklogWaitTime uint32 `json:"backlog_wait_time"`
	HZ              int    `json:"hz"`
	// Held: the replay loses no record at this setting.
	Held                  bool    `json:"held"`
	PredictedLost         float64 `json:"predicted_lost"`
	PredictedWaits        float64 `json:"predicted_waits"`
	PredictedWaitNs       float64 `json:"predicted_wait_ns"`
	PredictedMaxWaitNs    float64 `json:"predicted_max_wait_ns"`
	PredictedMaxDepth     float64 `json:"predicted_max_depth"`
	MemoryBytes           uint64  `json:"memory_bytes"`
	MemoryBytesUpperBound uint64  `json:"memory_bytes_upper_bound"`
	// What the recording saw at the setting in force then.
	RecordedLimit uint32 `json:"recorded_backlog_limit"`
	RecordedLost  uint64 `json:"recorded_lost"`
}

func newValidateCmd(s streams) *cobra.Command {
	o := &validateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "validate --profile FILE --backlog-limit N",
		Short: "Would this backlog setting have held during a recording? Predicted loss, waits and depth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", "", "a profile, a `FILE` written by auditprof record")
	f.Int64Var(&o.Limit, "backlog-limit", 0, "candidate backlog_limit (records)")
	f.StringVar(&o.WaitTime, "backlog-wait-time", "0", "candidate backlog_wait_time: jiffies (60000) or a duration (15s), at the profile's HZ")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *validateOptions) validate() error {
	if o.Profile == "" {
		return usagef("--profile is required")
	}
	if o.Limit < 1 || o.Limit > maxBacklogLimit {
		return usagef("--backlog-limit must be between 1 and %d, not %d", maxBacklogLimit, o.Limit)
	}
	return nil
}

func (o *validateOptions) run() error {
	p, err := loadProfile(o.Profile)
	if err != nil {
		return err
	}
	wait, err := parseWaitTime(o.WaitTime, p.HZ)
	if err != nil {
		return usageError{fmt.Errorf("--backlog-wait-time: %w", err)}
	}
	s := sizing.Setting{Limit: uint32(o.Limit), WaitJiffies: wait, HZ: p.HZ}
	out, _, err := sizing.Predict(p, s)
	if errors.Is(err, sizing.ErrTooLittle) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	size := sizing.RecordBytes(p)
	r := validateReport{BacklogLimit: s.Limit, BacklogWaitTime: wait, HZ: p.HZ, Held: out.Lost < 0.5,
		PredictedLost: out.Lost, PredictedWaits: out.Waits, PredictedWaitNs: out.WaitNs, PredictedMaxWaitNs: out.MaxWaitNs,
		PredictedMaxDepth: out.MaxDepth, RecordedLost: p.Totals.Lost}
	r.MemoryBytes, r.MemoryBytesUpperBound = sizing.Memory(s.Limit, size)
	if p.AuditBefore != nil {
		r.RecordedLimit = p.AuditBefore.BacklogLimit
	}
	if o.JSON {
		return writeJSON(o.out, r)
	}
	verdict := "held: the replay loses nothing"
	if !r.Held {
		verdict = "would not hold: the replay loses records"
	}
	fmt.Fprintf(o.out, "backlog_limit %d, backlog_wait_time %d (%s): %s\n", s.Limit, wait, human.Jiffies(wait, p.HZ), verdict)
	fmt.Fprintf(o.out, "  predicted lost:      %s records\n", human.Count(out.Lost))
	fmt.Fprintf(o.out, "  predicted waits:     %s records, %s in total, %s at most\n", human.Count(out.Waits),
		time.Duration(out.WaitNs).Round(time.Millisecond), time.Duration(out.MaxWaitNs).Round(time.Millisecond))
	fmt.Fprintf(o.out, "  predicted max depth: %s records\n", human.Count(out.MaxDepth))
	fmt.Fprintf(o.out, "  memory when full:    %s at %.0f bytes per record (measured); the x8970 B advice says %s, an upper bound\n",
		humanize.IBytes(r.MemoryBytes), size, humanize.IBytes(r.MemoryBytesUpperBound))
	fmt.Fprintf(o.out, "  recorded:            %d lost at backlog_limit %d\n", p.Totals.Lost, r.RecordedLimit)
	return nil
}
