package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording"
	"github.com/auditprof/auditprof/internal/summary"
)

type recordOptions struct {
	streams
	Duration  time.Duration
	Output    string
	Attach    string
	ReadyFile string
	Bucket    time.Duration
	JSON      bool
	Top       int
	TaskState string

	mode    probe.Mode
	netlink bool
}

func newRecordCmd(s streams) *cobra.Command {
	o := &recordOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Record what the audit backlog does, per process and per rule",
		Long: `Attach BPF programs to the kernel's audit path and count, in kernel maps,
records produced, queued and lost (with the reason), time producers spent
blocked in the backlog wait, and the queue depth over time. Stops after
--duration, or on Ctrl-C or SIGTERM, detaches, writes the profile and prints
a summary.

On a kernel where nothing can attach (no kprobes, fentry refused) it says so
in one line and records what netlink offers instead (attach=netlink);
--attach netlink chooses that without trying BPF.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (default: until Ctrl-C or SIGTERM)")
	f.StringVarP(&o.Output, "output", "o", "auditprof-profile.json", "write the profile to this file")
	addAttachFlag(cmd, &o.Attach, true)
	enumFlag(cmd, &o.TaskState, "task-state", "auto", taskStates,
		"where the programs keep per-call state (task-storage: 5.12+; hash: what older kernels get)")
	f.StringVar(&o.ReadyFile, "ready-file", "", "create this file once attached and counting")
	f.DurationVar(&o.Bucket, "bucket", recording.DefaultBucket, "timeline bucket width (1ms to 1s)")
	f.BoolVar(&o.JSON, "json", false, "print the profile as JSON on stdout instead of the summary")
	f.IntVar(&o.Top, "top", 5, "rows per table in the summary")
	return cmd
}

func (o *recordOptions) validate() error {
	o.mode, o.netlink = attachMode(o.Attach)
	if o.netlink && o.TaskState != "auto" {
		return usagef("--task-state is for BPF; --attach netlink loads no programs")
	}
	if o.Duration < 0 {
		return usagef("--duration must not be negative")
	}
	if o.Bucket < time.Millisecond || o.Bucket > time.Second {
		return usagef("--bucket must be between 1ms and 1s, not %s", o.Bucket)
	}
	if err := checkOutput("--output", o.Output); err != nil {
		return err
	}
	if o.ReadyFile != "" {
		if err := checkOutput("--ready-file", o.ReadyFile); err != nil {
			return err
		}
	}
	if o.Top < 1 {
		return usagef("--top must be at least 1")
	}
	return nil
}

func (o *recordOptions) run(cmd *cobra.Command) error {
	prof, err := runRecording(cmd.Context(), o.streams, recording.Options{
		Duration: o.Duration, Attach: o.mode, Netlink: o.netlink, TaskState: o.TaskState,
		BucketNs: uint64(o.Bucket.Nanoseconds())}, o.ReadyFile)
	if err != nil {
		return err
	}
	// A profile that could not be written where asked is still shown,
	// and the error says where it was saved instead.
	written, werr := saveRecording(prof, o.Output)
	if o.JSON {
		if err := prof.Encode(o.out); err != nil {
			return errors.Join(werr, err)
		}
		return werr
	}
	summary.Write(o.out, prof, o.Top)
	if werr == nil {
		fmt.Fprintf(o.out, "\nprofile written to %s\n", written)
	}
	return werr
}

// runRecording records as `record` does, for every command that records:
// the degraded-mode line, the line saying it is counting (and readyFile
// created then), and the live progress line on a terminal.
func runRecording(ctx context.Context, s streams, opts recording.Options, readyFile string) (*profile.Profile, error) {
	live := isTerminal(s.err)
	opts.Degraded = func(line string) { fmt.Fprintf(s.err, "auditprof: %s\n", line) }
	opts.Notice = opts.Degraded
	opts.Ready = func(attach string) error {
		stop := "Ctrl-C to stop"
		if opts.Duration > 0 {
			stop = fmt.Sprintf("for %s, or until Ctrl-C", opts.Duration)
		}
		if attach == profile.AttachNetlink {
			fmt.Fprintf(s.err, "auditprof: listening to the audit multicast group and sampling AUDIT_GET (netlink) and counting; %s\n", stop)
		} else {
			fmt.Fprintf(s.err, "auditprof: attached (%s) and counting; %s\n", attach, stop)
		}
		if readyFile != "" {
			if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
				return fmt.Errorf("creating ready file: %w", err)
			}
		}
		return nil
	}
	opts.Draining = func(queued int64, within time.Duration) {
		if live {
			fmt.Fprint(s.err, "\r\033[K")
		}
		what := "the records"
		if queued > 0 {
			what = fmt.Sprintf("the %d records", queued)
		}
		fmt.Fprintf(s.err, "auditprof: stopped; receiving %s still in the kernel's audit queue (at most %s)\n", what, within)
	}
	opts.Progress = func(p recording.Progress) {
		if live {
			fmt.Fprintf(s.err, "\r\033[K%6.0fs  records %d  queued %d  lost %d  waits %d  peak depth %d",
				p.Elapsed.Seconds(), p.Records, p.Queued, p.Lost, p.Waits, p.MaxDepth)
		}
	}
	prof, err := recording.Run(ctx, opts)
	if live {
		fmt.Fprint(s.err, "\r\033[K")
	}
	return prof, err
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
