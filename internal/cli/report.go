package cli

import (
	"errors"
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/report"
)

type reportOptions struct {
	streams
	Profile string
	Output  string
	JSON    bool
}

// reportResult is `report --json`.
type reportResult struct {
	Output string `json:"output"`
	Bytes  int    `json:"bytes"`
	Charts int    `json:"charts"`
}

func newReportCmd(s streams) *cobra.Command {
	o := &reportOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "report --profile FILE --output FILE",
		Short: "Chart a recording as one self-contained HTML page",
		Long: `Write one HTML page that opens without network access: queue depth over
time, recorded and as the model replays it (with no limit, and at the
recommended limit through the consumer stall it is sized for), against the
backlog_limit in force and the recommended one; lost records; arrivals against
drain; the backlog wait-time histogram; the noisiest programs, units and
containers, rules and processes; and auditd's time by cause; with the
recording's facts and the recommendation (recommend's default: sized for the
recording's longest stall).

Netlink recordings have no per-bucket queue timeline and are refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", "", "the profile (a `FILE` written by auditprof record)")
	f.StringVarP(&o.Output, "output", "o", "auditprof-report.html", "write the page to this `FILE`")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *reportOptions) validate() error {
	if o.Profile == "" {
		return usagef("--profile is required")
	}
	// Checked before the work, so a typo costs no rendering.
	return checkOutput("--output", o.Output)
}

func (o *reportOptions) run() error {
	p, err := loadProfile(o.Profile)
	if err != nil {
		return err
	}
	pg, err := report.Build(p)
	if errors.Is(err, report.ErrNoTimeline) {
		return usagef("%s: %v; record again with `auditprof record` on a kernel where BPF can attach (fentry or kprobe) to chart it", o.Profile, err)
	}
	if err != nil {
		return err
	}
	// renameio: a failed or interrupted run never leaves half a page.
	if err := renameio.WriteFile(o.Output, pg.HTML, 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if o.JSON {
		return writeJSON(o.out, reportResult{Output: o.Output, Bytes: len(pg.HTML), Charts: pg.Charts})
	}
	fmt.Fprintf(o.out, "report written to %s (%d charts, %s)\n", o.Output, pg.Charts, humanize.IBytes(uint64(len(pg.HTML))))
	return nil
}
