package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

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
	// ProcessMinAge: the age before a process gets a row of its own.
	ProcessMinAge time.Duration
	// Checkpoint: how often the output is replaced by the recording so
	// far (0: never).
	Checkpoint time.Duration
	consumer   consumerFlags

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
	enumFlag(cmd, &o.TaskState, "task-state", probe.TaskStateAuto, taskStates,
		"where the programs keep per-call state (task-storage: 5.12+; hash: what older kernels get)")
	f.DurationVar(&o.ProcessMinAge, "process-min-age", probe.DefaultProcessMinAge,
		"give a process a row of its own once it is this old; what it does younger is in the short-lived row and its program's row (0: every process from its first record)")
	f.DurationVar(&o.Checkpoint, "checkpoint", DefaultCheckpoint,
		"replace --output with the recording so far at this interval, a complete profile marked as a checkpoint, so that a recorder killed (or a power cut) leaves it (0: only at the end)")
	f.StringVar(&o.ReadyFile, "ready-file", "", "create this file once attached and counting")
	f.DurationVar(&o.Bucket, "bucket", probe.DefaultBucket, "timeline bucket width (1ms to 1s)")
	f.BoolVar(&o.JSON, "json", false, "print the profile as JSON on stdout instead of the summary")
	f.IntVar(&o.Top, "top", 5, "rows per table in the summary")
	addConsumerFlags(cmd, &o.consumer)
	return cmd
}

func (o *recordOptions) validate() error {
	o.mode, o.netlink = attachMode(o.Attach)
	if o.netlink && o.TaskState != probe.TaskStateAuto {
		return usagef("--task-state is for BPF; --attach netlink loads no programs")
	}
	if err := o.consumer.validate(o.netlink); err != nil {
		return err
	}
	if o.Duration < 0 {
		return usagef("--duration must not be negative")
	}
	if o.ProcessMinAge < 0 {
		return usagef("--process-min-age must not be negative")
	}
	if o.Checkpoint < 0 || o.Checkpoint > 0 && o.Checkpoint < time.Second {
		return usagef("--checkpoint must be at least 1s, or 0 for none, not %s", o.Checkpoint)
	}
	if o.netlink && o.Checkpoint != DefaultCheckpoint && o.Checkpoint != 0 {
		return usagef("--checkpoint needs BPF: a checkpoint's timeline is read from the journal a BPF recording writes, and --attach netlink keeps none")
	}
	if o.Bucket < time.Millisecond || o.Bucket > time.Second {
		return usagef("--bucket must be between 1ms and 1s, not %s", o.Bucket)
	}
	if err := checkOutput("--output", o.Output); err != nil {
		return err
	}
	if !o.netlink {
		if _, err := os.Lstat(o.journal()); err == nil {
			return usagef("%s is the journal of a recording of %s that did not finish: read it as a profile (auditprof recommend --profile %s, or report), then move it away or name another --output",
				o.journal(), o.Output, o.journal())
		}
	}
	if err := checkReadyFile(o.ReadyFile); err != nil {
		return err
	}
	if o.Top < 1 {
		return usagef("--top must be at least 1")
	}
	return nil
}

// DefaultCheckpoint is record's --checkpoint: a recorder killed loses at
// most this much, and a day's busy recording (issue 14) writes its
// profile 1,440 times.
const DefaultCheckpoint = time.Minute

// journal is where a BPF recording writes its timeline as it reads it
// (recording.Options.Journal): next to the profile, removed once the
// profile is saved, left by a recording that did not finish.
func (o *recordOptions) journal() string { return o.Output + ".partial" }

func (o *recordOptions) run(cmd *cobra.Command) error {
	journal := ""
	if !o.netlink {
		journal = o.journal()
	}
	cp := &checkpoints{streams: o.streams, path: o.Output}
	opts := recording.Options{
		Duration: o.Duration, Attach: o.mode, Netlink: o.netlink, TaskState: o.TaskState,
		ProcessMinAge: processMinAge(o.ProcessMinAge),
		Bucket:        o.Bucket, Consumer: o.consumer.Source, ConsumerHz: o.consumer.Hz, Journal: journal}
	if journal != "" && o.Checkpoint > 0 {
		opts.CheckpointEvery, opts.Checkpoint, opts.CheckpointFailed = o.Checkpoint, cp.write, cp.failed
	}
	journalShort := false // its file lacks the last rows (the profile has them)
	opts.JournalBehind = func(err error) {
		journalShort = err != nil
		if err != nil {
			fmt.Fprintf(o.err, "auditprof: %v; the recording goes on\n", err)
		} else {
			fmt.Fprintf(o.err, "auditprof: the journal %s is written again, nothing missing\n", journal)
		}
	}
	prof, err := runRecording(cmd.Context(), o.streams, opts, o.ReadyFile)
	if err != nil {
		if _, serr := os.Stat(journal); journal != "" && serr == nil {
			return fmt.Errorf("%w; the timeline recorded so far is in %s (auditprof recommend --profile %s reads it)", err, journal, journal)
		}
		return err
	}
	defer prof.Timeline.Close() // the journal, whose rows it reads (removed below once saved)
	// A profile that could not be written where asked is still shown,
	// and the error says where it was saved instead.
	written, werr := saveRecording(prof, o.Output)
	if journal != "" {
		if written != "" {
			// Saved: the journal's timeline is in the profile.
			if err := os.Remove(journal); err != nil && !errors.Is(err, os.ErrNotExist) {
				werr = errors.Join(werr, fmt.Errorf("removing the journal: %w", err))
			}
		} else if journalShort {
			werr = fmt.Errorf("%w; %s keeps the timeline up to where its filesystem was full", werr, journal)
		} else {
			werr = fmt.Errorf("%w; the timeline is kept in %s", werr, journal)
		}
	}
	if o.JSON {
		if err := prof.Encode(o.out); err != nil {
			return errors.Join(werr, err)
		}
		return werr
	}
	summary.Write(o.out, prof, o.Top)
	if cp.written+cp.failures > 0 {
		fmt.Fprintf(o.out, "\n%s\n", cp)
	}
	if werr == nil {
		fmt.Fprintf(o.out, "\nprofile written to %s\n", written)
	}
	return werr
}

// checkpoints writes record's checkpoints to its output, atomically
// (profile.WriteFile): a failed one leaves the one before. The first
// failure is said at once, on stderr; the summary counts them all. Run
// hands them over one at a time and returns after the last.
type checkpoints struct {
	streams
	path     string
	written  int
	failures int
	longest  time.Duration
	lastErr  error
}

func (c *checkpoints) write(p *profile.Profile) error {
	start := time.Now()
	if err := p.WriteFile(c.path); err != nil {
		return err
	}
	c.written++
	c.longest = max(c.longest, time.Since(start))
	return nil
}

func (c *checkpoints) failed(err error) {
	c.failures++
	c.lastErr = err
	if c.failures == 1 {
		kept := "none was written before it"
		if c.written > 0 {
			kept = fmt.Sprintf("%s keeps the last one written", c.path)
		}
		fmt.Fprintf(c.err, "auditprof: %v; %s, and the recording goes on (said once: the summary counts the failures)\n", err, kept)
	}
}

// String is the summary's line.
func (c *checkpoints) String() string {
	s := fmt.Sprintf("checkpoints: %d written to %s (the longest write took %s)", c.written, c.path, c.longest.Round(time.Millisecond))
	if c.failures > 0 {
		s += fmt.Sprintf("; %d failed, the last: %v", c.failures, c.lastErr)
	}
	return s
}

// processMinAge turns --process-min-age into probe.Options.ProcessMinAge,
// where 0 means the default: the flag's 0 is "every process".
func processMinAge(d time.Duration) time.Duration {
	if d == 0 {
		return probe.NoProcessMinAge
	}
	return d
}
