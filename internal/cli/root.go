// Package cli is auditprof's command line: one file per subcommand, each
// with an options struct that validates and runs. Errors are printed in one
// place, Main, and mapped to the documented exit codes.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/probe"
)

// Exit codes, documented in the README.
const (
	ExitOK          = 0
	ExitFailure     = 1 // anything not listed below
	ExitUsage       = 2 // bad flags, arguments or input files
	ExitPrivilege   = 3 // missing capabilities or not root
	ExitUnsupported = 4 // the kernel cannot do what was asked
)

// Version is set at link time.
var Version = "dev"

// usageError marks errors in what the user typed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// ErrUnsupported marks kernel refusals that no flag can fix.
var ErrUnsupported = errors.New("unsupported by this kernel")

type streams struct {
	in       io.Reader
	out, err io.Writer
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "auditprof",
		Short: "Measure the Linux audit backlog and size backlog_limit from measurements",
		Long: `auditprof measures what the kernel's audit backlog does: records produced and
dropped per process and per rule, time producers spend blocked in the backlog
wait, and the queue depth over time.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetIn(s.in)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		// pflag wraps a Set error in "invalid argument ... flag:"; a
		// repeated flag and a value outside an enum are said plainly.
		var rep *repeatedFlagError
		if errors.As(err, &rep) {
			return usageError{rep}
		}
		var enum *enumError
		if errors.As(err, &enum) {
			return usageError{enum}
		}
		return usageError{err}
	})
	root.AddCommand(newStatusCmd(s), newRecordCmd(s), newRecommendCmd(s), newValidateCmd(s), newApplyCmd(s))
	root.AddCommand(newReportCmd(s), newRulesCmd(s), newTopCmd(s), newExporterCmd(s))
	refuseRepeats(root)
	return root
}

// writeJSON is every command's --json output: indented, one document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Main runs the command line and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(streams{in: in, out: out, err: errOut})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(errOut, "auditprof: %v\n", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, kernel.ErrHZEnv), strings.HasPrefix(err.Error(), "unknown command"),
		strings.HasPrefix(err.Error(), "unknown flag"):
		return ExitUsage
	case errors.Is(err, probe.ErrPrivilege), errors.Is(err, os.ErrPermission):
		return ExitPrivilege
	case errors.Is(err, ErrUnsupported), errors.Is(err, probe.ErrNoAttach):
		return ExitUnsupported
	}
	return ExitFailure
}
