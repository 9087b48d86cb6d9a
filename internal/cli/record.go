package cli

import (
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

	mode probe.Mode
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
in one line and records what netlink offers instead (attach=netlink).`,
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
	f.StringVar(&o.Attach, "attach", "auto", "program family: auto, fentry or kprobe")
	f.StringVar(&o.ReadyFile, "ready-file", "", "create this file once attached and counting")
	f.DurationVar(&o.Bucket, "bucket", 10*time.Millisecond, "timeline bucket width (1ms to 1s)")
	f.BoolVar(&o.JSON, "json", false, "print the profile as JSON on stdout instead of the summary")
	f.IntVar(&o.Top, "top", 5, "rows per table in the summary")
	return cmd
}

func (o *recordOptions) validate() error {
	m, err := probe.ParseMode(o.Attach)
	if err != nil {
		return usageError{err}
	}
	o.mode = m
	if o.Duration < 0 {
		return usagef("--duration must not be negative")
	}
	if o.Bucket < time.Millisecond || o.Bucket > time.Second {
		return usagef("--bucket must be between 1ms and 1s, not %s", o.Bucket)
	}
	if o.Output == "" {
		return usagef("--output must name a file")
	}
	if o.Top < 1 {
		return usagef("--top must be at least 1")
	}
	return nil
}

func (o *recordOptions) run(cmd *cobra.Command) error {
	live := isTerminal(o.err)
	prof, err := recording.Run(cmd.Context(), recording.Options{
		Duration: o.Duration,
		Attach:   o.mode,
		BucketNs: uint64(o.Bucket.Nanoseconds()),
		Degraded: func(line string) { fmt.Fprintf(o.err, "auditprof: %s\n", line) },
		Ready: func(attach string) error {
			if attach == profile.AttachNetlink {
				fmt.Fprintf(o.err, "auditprof: listening to the audit multicast group and sampling AUDIT_GET (netlink) and counting; Ctrl-C to stop\n")
			} else {
				fmt.Fprintf(o.err, "auditprof: attached (%s) and counting; Ctrl-C to stop\n", attach)
			}
			if o.ReadyFile != "" {
				if err := os.WriteFile(o.ReadyFile, nil, 0o644); err != nil {
					return fmt.Errorf("creating ready file: %w", err)
				}
			}
			return nil
		},
		Progress: func(p recording.Progress) {
			if live {
				fmt.Fprintf(o.err, "\r\033[K%6.0fs  records %d  queued %d  lost %d  waits %d  peak depth %d",
					p.Elapsed.Seconds(), p.Records, p.Queued, p.Lost, p.Waits, p.MaxDepth)
			}
		},
	})
	if live {
		fmt.Fprint(o.err, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if err := prof.WriteFile(o.Output); err != nil {
		return err
	}
	if o.JSON {
		return prof.Encode(o.out)
	}
	summary.Write(o.out, prof, o.Top)
	fmt.Fprintf(o.out, "\nprofile written to %s\n", o.Output)
	return nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
