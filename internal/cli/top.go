package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/live"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
)

type topOptions struct {
	streams
	Interval time.Duration
	Once     bool
	JSON     bool
	Sort     string
	Top      int
	Attach   string

	mode probe.Mode
}

// topHistory is how many seconds of per-second peak depths top keeps and
// shows (the sparkline shows what fits the terminal's width).
const topHistory = 120

// errTopOnce ends the recording after --once's frame: a success.
var errTopOnce = errors.New("top: one frame printed")

func newTopCmd(s streams) *cobra.Command {
	o := &topOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch the audit backlog live: queue depth, rates, drops and the noisiest programs, units, processes and rules",
		Long: `top attaches the BPF programs record uses and shows, every --interval, what the
audit backlog did since the last screen: the queue's depth now, its peak in the
interval and since start, and a sparkline of the peak of each second; records per
second arriving, queued and drained; drops per second by reason; backlog waits;
and the processes and loaded audit rules ranked by records, drops or wait time
in the interval.

Keys: r, l, w sort by records, lost or wait; q or Ctrl-C quits.

When stdout is not a terminal it prints one plain frame per interval, separated
by a blank line (like top -b). --once prints one frame after one interval and
exits; --json prints JSON (one object per line per interval without --once).

top needs BPF (fentry or kprobes on audit_log_start): it does not fall back to
netlink as record does. Nothing stays attached after it exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Interval, "interval", time.Second, "time between screens (100ms to 1h)")
	f.BoolVar(&o.Once, "once", false, "print one frame after one interval and exit")
	f.BoolVar(&o.JSON, "json", false, "print JSON: one object (--once) or one line per interval")
	addSortFlag(cmd, &o.Sort, "rank processes and rules over the interval by")
	f.IntVar(&o.Top, "top", 10, "rows per table (0: all)")
	addAttachFlag(cmd, &o.Attach, false)
	return cmd
}

func (o *topOptions) validate() error {
	if o.Interval < 100*time.Millisecond || o.Interval > time.Hour {
		return usagef("--interval must be between 100ms and 1h, not %s", o.Interval)
	}
	if o.Top < 0 {
		return usagef("--top must be 0 (all) or more")
	}
	o.mode, _ = attachMode(o.Attach)
	return nil
}

// topOutput is where frames go: one per snapshot.
type topOutput interface {
	// frame shows the interval between two snapshots.
	frame(prev, cur *profile.Profile) error
}

func (o *topOptions) run(cmd *cobra.Command) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	opts := live.Options{SortBy: o.Sort, Top: o.Top, History: topHistory}

	var out topOutput
	var ready func(string) error
	switch {
	case o.Once:
		out = &onceOutput{w: o.out, json: o.JSON, opts: opts}
	case o.JSON:
		out = &ndjsonOutput{enc: json.NewEncoder(o.out), opts: opts}
	case isTerminal(o.out):
		sc, stop, err := startScreen(ctx, cancel, o.streams, opts, o.Interval)
		if err != nil {
			return err
		}
		defer stop()
		out, ready = sc, sc.ready
	default:
		out = &batchOutput{w: o.out, opts: opts}
	}

	prev := &profile.Profile{}
	keep := int((max(o.Interval, topHistory*time.Second) + 5*time.Second) / probe.DefaultBucket)
	_, err := recording.Run(ctx, recording.Options{
		Attach:      o.mode,
		Every:       o.Interval,
		KeepBuckets: keep,
		Ready:       ready,
		// top shows nothing of auditd's threads: measuring them would be
		// cost for nothing (received and kauditd's passes are still
		// counted, by the programs on kauditd's path).
		Consumer: recording.ConsumerOff,
		Snapshot: func(cur *profile.Profile) error {
			err := out.frame(prev, cur)
			prev = cur
			return err
		},
	})
	switch {
	case errors.Is(err, errTopOnce):
		return nil
	case errors.Is(err, probe.ErrNoAttach):
		return noBPFError{"top", err}
	}
	return err
}

// onceOutput prints the first frame and ends the recording.
type onceOutput struct {
	w    io.Writer
	json bool
	opts live.Options
}

func (o *onceOutput) frame(prev, cur *profile.Profile) error {
	v := live.Frame(prev, cur, o.opts)
	var err error
	if o.json {
		err = writeJSON(o.w, v)
	} else {
		err = live.Render(o.w, v, 0)
	}
	if err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return errTopOnce
}

// ndjsonOutput prints one JSON object per line per interval.
type ndjsonOutput struct {
	enc  *json.Encoder
	opts live.Options
}

func (o *ndjsonOutput) frame(prev, cur *profile.Profile) error {
	if err := o.enc.Encode(live.Frame(prev, cur, o.opts)); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}

// batchOutput prints plain frames separated by a blank line, as top -b.
type batchOutput struct {
	w      io.Writer
	opts   live.Options
	frames int
}

func (o *batchOutput) frame(prev, cur *profile.Profile) error {
	if o.frames > 0 {
		if _, err := io.WriteString(o.w, "\n"); err != nil {
			return fmt.Errorf("writing frame: %w", err)
		}
	}
	o.frames++
	if err := live.Render(o.w, live.Frame(prev, cur, o.opts), 0); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}
