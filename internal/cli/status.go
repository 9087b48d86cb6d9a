package cli

import (
	"fmt"
	"io"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recordsize"
)

type statusOptions struct {
	streams
	JSON bool
}

// statusReport is `status --json`.
type statusReport struct {
	KernelRelease string  `json:"kernel_release"`
	HZ            int     `json:"hz"`
	HZMeasured    float64 `json:"hz_measured"`
	// HZSource is where HZ came from (kernel.HZSource*); HZNote says why
	// it may be wrong, when it may.
	HZSource string               `json:"hz_source"`
	HZNote   string               `json:"hz_note,omitempty"`
	Audit    *profile.AuditStatus `json:"audit"`
	// Seconds, converted with HZ.
	BacklogWaitTimeSeconds       float64  `json:"backlog_wait_time_seconds"`
	BacklogWaitTimeActualSeconds *float64 `json:"backlog_wait_time_actual_seconds,omitempty"`
	RecordBytes                  uint64   `json:"record_bytes"`
	RecordBytesSource            string   `json:"record_bytes_source"`
	RecordHeadBytes              uint64   `json:"record_head_bytes"`
	RecordSkBuffBytes            uint64   `json:"record_sk_buff_bytes"`
	BacklogBytes                 uint64   `json:"backlog_bytes"`
	LimitBytes                   uint64   `json:"limit_bytes"`
	LimitBytesUpperBound         uint64   `json:"limit_bytes_upper_bound"`
	// LimitSet is who set the backlog_limit in force, where that can be
	// known.
	LimitSet *limitOrigin `json:"limit_set"`
}

func newStatusCmd(s streams) *cobra.Command {
	o := &statusOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the kernel's audit backlog settings and counters (AUDIT_GET)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *statusOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	st, err := auditnl.Get(ctx)
	if err != nil {
		return err
	}
	hz, err := kernel.MeasureHZ(ctx)
	if err != nil {
		return err
	}
	rel, err := kernel.Release()
	if err != nil {
		return err
	}
	r := statusReport{KernelRelease: rel, HZ: hz.Value, HZMeasured: hz.Measured, HZSource: hz.Source, HZNote: hz.Note, Audit: st}
	r.BacklogWaitTimeSeconds = float64(st.BacklogWaitTime) / float64(hz.Value)
	if st.BacklogWaitTimeActual != nil {
		v := float64(*st.BacklogWaitTimeActual) / float64(hz.Value)
		r.BacklogWaitTimeActualSeconds = &v
	}
	size, err := recordsize.FromKernel()
	if err != nil {
		return err
	}
	r.RecordBytes, r.RecordBytesSource = size.Bytes, size.Source
	r.RecordHeadBytes, r.RecordSkBuffBytes = size.Head, size.SkBuff
	r.BacklogBytes = uint64(st.Backlog) * size.Bytes
	r.LimitBytes = uint64(st.BacklogLimit) * size.Bytes
	r.LimitBytesUpperBound = uint64(st.BacklogLimit) * recordsize.UpperBoundPerRecord
	r.LimitSet = findLimitOrigin(st.BacklogLimit)
	if o.JSON {
		return writeJSON(o.out, r)
	}
	writeStatus(o.out, &r)
	return nil
}

var enabledNames = map[uint32]string{0: "disabled", 1: "enabled", 2: "enabled and locked (immutable until reboot)"}
var failureNames = map[uint32]string{0: "silent", 1: "printk", 2: "panic"}

func writeStatus(w io.Writer, r *statusReport) {
	st := r.Audit
	fmt.Fprintf(w, "kernel:             %s (HZ=%d, %s)\n", r.KernelRelease, r.HZ, hzOrigin(r.HZSource, r.HZMeasured))
	if r.HZNote != "" {
		fmt.Fprintf(w, "note:               %s\n", r.HZNote)
	}
	fmt.Fprintf(w, "audit:              %d (%s)\n", st.Enabled, enabledNames[st.Enabled])
	if st.PID == 0 {
		fmt.Fprintf(w, "auditd pid:         none registered\n")
	} else {
		fmt.Fprintf(w, "auditd pid:         %d\n", st.PID)
	}
	fmt.Fprintf(w, "failure:            %d (%s)\n", st.Failure, failureNames[st.Failure])
	if st.RateLimit == 0 {
		fmt.Fprintf(w, "rate_limit:         0 (unlimited)\n")
	} else {
		fmt.Fprintf(w, "rate_limit:         %d records/s\n", st.RateLimit)
	}
	if st.BacklogLimit == 0 {
		fmt.Fprintf(w, "backlog_limit:      0 (unlimited)\n")
	} else {
		fmt.Fprintf(w, "backlog_limit:      %d records\n", st.BacklogLimit)
	}
	if r.LimitSet != nil {
		fmt.Fprintf(w, "limit set:          %s\n", r.LimitSet.line(st.BacklogLimit))
	}
	fmt.Fprintf(w, "backlog:            %d records queued now (%s)\n", st.Backlog, humanize.IBytes(r.BacklogBytes))
	fmt.Fprintf(w, "backlog_wait_time:  %d jiffies = %s\n", st.BacklogWaitTime, seconds(r.BacklogWaitTimeSeconds))
	if st.BacklogWaitTimeActual != nil {
		fmt.Fprintf(w, "wait_time_actual:   %d jiffies = %s producers spent blocked since boot or reset\n",
			*st.BacklogWaitTimeActual, seconds(*r.BacklogWaitTimeActualSeconds))
	} else {
		fmt.Fprintf(w, "wait_time_actual:   not reported by this kernel (added in 5.10)\n")
	}
	fmt.Fprintf(w, "lost:               %d records since boot or reset\n", st.Lost)
	fmt.Fprintf(w, "record size:        %d B per normal record (%d B kmalloc head + %d B sk_buff), %s; long records grow to 4-8 KiB\n",
		r.RecordBytes, r.RecordHeadBytes, r.RecordSkBuffBytes, r.RecordBytesSource)
	if st.BacklogLimit > 0 {
		fmt.Fprintf(w, "memory at limit:    %s (%d x %d B); the usual 8970 B x limit = %s is an upper bound, not a kernel figure\n",
			humanize.IBytes(r.LimitBytes), st.BacklogLimit, r.RecordBytes, humanize.IBytes(r.LimitBytesUpperBound))
	}
}

// hzOrigin says where HZ came from, for the status line.
func hzOrigin(source string, measured float64) string {
	switch source {
	case kernel.HZSourceConfig:
		return "the kernel's CONFIG_HZ"
	case kernel.HZSourceSinceBoot:
		return "from jiffies counted since boot"
	case kernel.HZSourceMeasured:
		return fmt.Sprintf("measured %.1f jiffies/s", measured)
	}
	return "from " + source
}

func seconds(s float64) string {
	switch {
	case s == 0:
		return "0 s"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	default:
		return fmt.Sprintf("%.1f s", s)
	}
}
