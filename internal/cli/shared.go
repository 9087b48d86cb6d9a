package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
	"github.com/auditprof/auditprof/internal/recording"
)

// bpfAttach are the --attach values of the commands that need BPF (top,
// the exporter); record also takes netlink.
var bpfAttach = []string{string(probe.ModeAuto), string(probe.ModeFentry), string(probe.ModeKprobe)}

// addAttachFlag defines --attach; withNetlink adds record's netlink, which
// loads no BPF at all.
func addAttachFlag(cmd *cobra.Command, p *string, withNetlink bool) {
	if withNetlink {
		enumFlag(cmd, p, "attach", string(probe.ModeAuto), append(slices.Clip(bpfAttach), profile.AttachNetlink),
			"program family, or netlink for no BPF")
		return
	}
	enumFlag(cmd, p, "attach", string(probe.ModeAuto), bpfAttach, "program family")
}

// attachMode is an --attach value as the recorder takes it: a BPF program
// family, or netlink. The flag has checked the value.
func attachMode(attach string) (mode probe.Mode, netlink bool) {
	if attach == profile.AttachNetlink {
		return "", true
	}
	return probe.Mode(attach), false
}

// addSortFlag defines --sort, one set of keys for every command that ranks
// rules or processes.
func addSortFlag(cmd *cobra.Command, p *string, usage string) {
	enumFlag(cmd, p, "sort", ranking.Records, ranking.Keys(), usage)
}

// taskStates are --task-state's values (probe.Options.TaskState).
var taskStates = []string{probe.TaskStateAuto, probe.TaskStateStorage, probe.TaskStateHash}

// loadProfile reads a profile; a missing or bad file is a usage error.
func loadProfile(path string) (*profile.Profile, error) {
	p, err := profile.ReadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// checkReadyFile checks a --ready-file before anything attaches, as the
// other output files are.
func checkReadyFile(path string) error {
	if path == "" {
		return nil
	}
	return checkOutput("--ready-file", path)
}

// createReadyFile creates --ready-file (if given) once the command is
// counting: scripts wait for it rather than sleep and hope.
func createReadyFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return fmt.Errorf("creating ready file: %w", err)
	}
	return nil
}

// noBPFError is the one line the live commands (top, the exporter) fail
// with where BPF cannot attach: they have no netlink fallback. It unwraps
// to probe.ErrNoAttach (exit 4).
type noBPFError struct {
	command string
	err     error
}

func (e noBPFError) Error() string {
	why := strings.TrimPrefix(e.err.Error(), probe.ErrNoAttach.Error())
	why = strings.TrimPrefix(why, ": ")
	if why != "" {
		why = " (" + why + ")"
	}
	return e.command + " needs BPF (kprobes or fentry on audit_log_start), which cannot attach here" + why +
		"; `auditprof status` shows the kernel's counters"
}

func (e noBPFError) Unwrap() error { return e.err }

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
		return createReadyFile(readyFile)
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
