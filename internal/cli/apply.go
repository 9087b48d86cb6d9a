package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/rulesd"
)

// maxBacklogLimit: the kernel takes any u32, but 2^26 records is over
// 140 GiB of queue: a typo, not a size.
const maxBacklogLimit = 1 << 26

type applyOptions struct {
	streams
	Limit    int64
	WaitTime string
	Persist  string
	DryRun   bool
	JSON     bool
}

// applyReport is `apply --json`.
type applyReport struct {
	DryRun bool `json:"dry_run"`
	// Before and After are AUDIT_GET replies around the AUDIT_SET (After is
	// the verification; absent in a dry run).
	Before          *profile.AuditStatus `json:"before"`
	After           *profile.AuditStatus `json:"after,omitempty"`
	BacklogLimit    uint32               `json:"backlog_limit"`
	BacklogWaitTime *uint32              `json:"backlog_wait_time,omitempty"`
	HZ              int                  `json:"hz,omitempty"`
	Persisted       *persistReport       `json:"persisted,omitempty"`
	Warnings        []string             `json:"warnings,omitempty"`
}

type persistReport struct {
	File    string           `json:"file"`
	Created bool             `json:"created"`
	Backup  string           `json:"backup,omitempty"`
	Changes []rulesd.Change  `json:"changes"`
	Later   []rulesd.Setting `json:"overridden_by,omitempty"`
}

func newApplyCmd(s streams) *cobra.Command {
	o := &applyOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "apply --backlog-limit N",
		Short: "Set backlog_limit (and backlog_wait_time) now, verify it, and optionally persist it in rules.d",
		Long: `Set the kernel's backlog_limit (and backlog_wait_time) with AUDIT_SET, then read
them back with AUDIT_GET to verify they took. --persist FILE writes them into
a rules.d drop-in (atomically, keeping FILE.auditprof.bak) and warns about
what will override it: later files in rules.d order, the
audit_backlog_limit= boot parameter, agents that set the limit when they
start. --dry-run shows what would change and changes nothing.

--backlog-wait-time takes jiffies, as auditctl does (60000), or a duration
(15s), converted with the kernel's HZ (see status).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			r, err := o.apply(cmd.Context())
			if err != nil {
				return err
			}
			if o.JSON {
				return writeJSON(o.out, r)
			}
			writeApply(o.out, r)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.Limit, "backlog-limit", 0, "backlog_limit to set (records, 1 to 67108864)")
	f.StringVar(&o.WaitTime, "backlog-wait-time", "", "backlog_wait_time to set: jiffies (60000) or a duration (15s)")
	f.StringVar(&o.Persist, "persist", "", "also write the settings to this rules.d file (e.g. /etc/audit/rules.d/50-backlog.rules)")
	f.BoolVar(&o.DryRun, "dry-run", false, "show what would change, change nothing")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *applyOptions) validate() error {
	if o.Limit < 1 || o.Limit > maxBacklogLimit {
		return usagef("--backlog-limit must be between 1 and %d, not %d (0, unlimited, lets the queue take all memory)", maxBacklogLimit, o.Limit)
	}
	return checkPersist(o.Persist, o.DryRun)
}

// checkPersist checks a --persist file before anything changes: the
// kernel is set before the file is written, and a file that cannot be
// written would leave the two disagreeing. A dry run writes nothing, so
// only the name is checked.
func checkPersist(file string, dryRun bool) error {
	if file == "" {
		return nil
	}
	if filepath.Ext(file) != ".rules" {
		return usagef("--persist %s: augenrules only loads files ending in .rules", file)
	}
	if dryRun {
		return nil
	}
	return checkOutput("--persist", file)
}

func (o *applyOptions) apply(ctx context.Context) (*applyReport, error) {
	r := &applyReport{DryRun: o.DryRun, BacklogLimit: uint32(o.Limit)}
	if o.WaitTime != "" {
		// HZ converts a duration to jiffies and checks jiffies against the
		// kernel's 600 s; jiffies can be set without it.
		hz, hzErr := kernel.MeasureHZ(ctx)
		if hzErr != nil && (errors.Is(hzErr, kernel.ErrHZEnv) || !isJiffies(o.WaitTime)) {
			return nil, hzErr
		}
		r.HZ = hz.Value
		if hz.Note != "" {
			r.Warnings = append(r.Warnings, hz.Note)
		}
		w, err := parseWaitTime(o.WaitTime, hz.Value)
		if err != nil {
			return nil, usageError{fmt.Errorf("--backlog-wait-time: %w", err)}
		}
		r.BacklogWaitTime = &w
	}
	before, err := auditnl.Get(ctx)
	if err != nil {
		return nil, err
	}
	r.Before = before
	if before.Enabled == 2 {
		return nil, fmt.Errorf("%w: audit is locked (enabled 2, set by `auditctl -e 2`, usually the last line of the rules): the backlog settings can only change at boot; use --persist, or the audit_backlog_limit= boot parameter, and reboot",
			ErrUnsupported)
	}
	settings := rulesd.Settings{BacklogLimit: &r.BacklogLimit, BacklogWaitTime: r.BacklogWaitTime}
	// Plan the rules file edit before changing anything: a file we could
	// not update must not leave the kernel changed and the file not.
	var plan *rulesd.Plan
	if o.Persist != "" {
		if plan, err = rulesd.PlanEdit(o.Persist, settings); err != nil {
			return nil, usageError{err}
		}
		r.Persisted = newPersistReport(plan)
	}
	r.Warnings = append(r.Warnings, overrideWarnings(o.Persist, r.Persisted)...)
	if o.DryRun {
		return r, nil
	}

	if err := setBacklog(r.BacklogLimit, r.BacklogWaitTime); err != nil {
		return nil, err
	}
	after, err := auditnl.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("verifying the new settings: %w", err)
	}
	r.After = after
	if after.BacklogLimit != r.BacklogLimit || (r.BacklogWaitTime != nil && after.BacklogWaitTime != *r.BacklogWaitTime) {
		return r, fmt.Errorf("verifying the new settings: the kernel reports backlog_limit %d and backlog_wait_time %d after setting %d and %v",
			after.BacklogLimit, after.BacklogWaitTime, r.BacklogLimit, deref(r.BacklogWaitTime))
	}
	if plan != nil {
		if err := plan.Write(); err != nil {
			return r, fmt.Errorf("the kernel has the new settings, but persisting them failed: %w", err)
		}
		r.Persisted = newPersistReport(plan)
	}
	return r, nil
}

// isJiffies reports whether a --backlog-wait-time is a plain number of
// jiffies, which needs no HZ, rather than a duration.
func isJiffies(s string) bool {
	_, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return err == nil
}

func deref(p *uint32) any {
	if p == nil {
		return "(unchanged)"
	}
	return *p
}

func newPersistReport(pr *rulesd.Plan) *persistReport {
	return &persistReport{File: pr.File, Created: pr.Created, Backup: pr.Backup, Changes: pr.Changes, Later: pr.Overrides}
}

// setBacklog is auditnl.SetBacklog with its refusals sorted into the exit
// codes: no privilege (3), a value the kernel refuses (2).
func setBacklog(limit uint32, wait *uint32) error {
	err := auditnl.SetBacklog(limit, wait)
	switch {
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: %w", probe.ErrPrivilege, err)
	case errors.Is(err, syscall.EINVAL):
		return usageError{err}
	}
	return err
}

// agents that set backlog_limit themselves when they start.
var limitSetters = map[string]string{
	"auditbeat":      "its backlog_limit option",
	"osqueryd":       "--audit_backlog_limit",
	"go-audit":       "its backlog_limit option",
	"wazuh-modulesd": "its audit configuration",
}

// overrideWarnings names what will set the backlog limit instead of the
// persisted file or after it.
func overrideWarnings(file string, pr *persistReport) []string {
	var w []string
	if pr != nil {
		for _, s := range pr.Later {
			w = append(w, fmt.Sprintf("%s:%d sets %s %d and loads after %s, so it wins", s.File, s.Line, s.Flag, s.Value, file))
		}
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if strings.HasPrefix(f, "audit_backlog_limit=") {
				w = append(w, fmt.Sprintf("the kernel was booted with %s: that limit holds from boot until the rules load", f))
			}
		}
	}
	ents, _ := os.ReadDir("/proc")
	seen := map[string]bool{}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		if how, ok := limitSetters[comm]; ok && !seen[comm] {
			seen[comm] = true
			w = append(w, fmt.Sprintf("%s is running and sets backlog_limit when it starts (%s)", comm, how))
		}
	}
	return w
}

func writeApply(w io.Writer, r *applyReport) {
	verb := "set"
	if r.DryRun {
		verb = "would set"
	}
	fmt.Fprintf(w, "%s backlog_limit %d -> %d", verb, r.Before.BacklogLimit, r.BacklogLimit)
	if r.BacklogWaitTime != nil {
		fmt.Fprintf(w, ", backlog_wait_time %d -> %d jiffies (%s)", r.Before.BacklogWaitTime, *r.BacklogWaitTime, human.Jiffies(*r.BacklogWaitTime, r.HZ))
	}
	fmt.Fprintln(w)
	if r.After != nil {
		fmt.Fprintf(w, "verified with AUDIT_GET: backlog_limit %d, backlog_wait_time %d\n", r.After.BacklogLimit, r.After.BacklogWaitTime)
	}
	if p := r.Persisted; p != nil {
		switch {
		case len(p.Changes) == 0 && !p.Created:
			fmt.Fprintf(w, "%s already says so\n", p.File)
		case r.DryRun:
			fmt.Fprintf(w, "would change %s:\n", p.File)
		default:
			fmt.Fprintf(w, "changed %s", p.File)
			if p.Backup != "" {
				fmt.Fprintf(w, " (previous content in %s)", p.Backup)
			}
			fmt.Fprintln(w, ":")
		}
		for _, c := range p.Changes {
			if c.Old != "" {
				fmt.Fprintf(w, "  line %d: - %s\n", c.Line, c.Old)
			}
			if c.New != "" {
				fmt.Fprintf(w, "  line %d: + %s\n", c.Line, c.New)
			}
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
