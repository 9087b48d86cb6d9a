package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/auditprof/auditprof/internal/auditdconf"
	"github.com/auditprof/auditprof/internal/limitlog"
)

// Where status looks for who set the limit; variables for tests.
var (
	statusAuditdConf = auditdconf.DefaultPath
	statusCmdline    = "/proc/cmdline"
)

// kernelDefaultLimit is backlog_limit when nothing set it
// (kernel/audit.c: audit_backlog_limit = 64).
const kernelDefaultLimit = 64

// defaultAuditLog is auditd's log_file when auditd.conf names none.
const defaultAuditLog = "/var/log/audit/audit.log"

// limitOrigin is who set the backlog_limit in force, as far as can be
// known (issue 20): the last change in auditd's log, or the kernel
// command line.
type limitOrigin struct {
	// Source: "auditd_log", "kernel_cmdline" or "unknown".
	Source string           `json:"source"`
	Change *limitlog.Change `json:"change,omitempty"`
	// BootLimit is audit_backlog_limit= on the kernel command line.
	BootLimit *uint64 `json:"boot_limit,omitempty"`
	Note      string  `json:"note,omitempty"`
}

// findLimitOrigin looks for who set limit, the backlog_limit in force.
func findLimitOrigin(limit uint32) *limitOrigin {
	o := &limitOrigin{Source: "unknown"}
	if data, err := os.ReadFile(statusCmdline); err == nil {
		if v, ok := limitlog.BootLimit(string(data)); ok {
			o.BootLimit = &v
		}
	}
	logPath := defaultAuditLog
	if f, err := os.Open(statusAuditdConf); err == nil {
		if c, err := auditdconf.Parse(f); err == nil && c.LogFile != "" {
			logPath = c.LogFile
		}
		f.Close()
	}
	ch, err := limitlog.Last(logPath)
	switch {
	case err != nil:
		o.Note = err.Error()
	case ch != nil && ch.New == uint64(limit):
		o.Source, o.Change = "auditd_log", ch
		return o
	case ch != nil:
		o.Change = ch
		o.Note = fmt.Sprintf("the last change in %s set %d; the limit changed since without a record (made while audit was off, or the log rotated)", logPath, ch.New)
	default:
		o.Note = fmt.Sprintf("no change of the limit in %s (its last %d MiB) nor in its last %d rotated files", logPath, limitlog.TailBytes>>20, limitlog.RotatedFiles)
	}
	if o.BootLimit != nil && *o.BootLimit == uint64(limit) && o.Change == nil {
		o.Source, o.Note = "kernel_cmdline", ""
	}
	return o
}

// line is the origin for status's text.
func (o *limitOrigin) line(limit uint32) string {
	switch o.Source {
	case "auditd_log":
		c := o.Change
		who := fmt.Sprintf("auid %d ses %d", c.Auid, c.Ses)
		if c.Auid == 4294967295 {
			who = "no login session (a service or boot script)"
		}
		if c.Comm != "" {
			who = fmt.Sprintf("%s (%s), %s", c.Comm, c.Exe, who)
		}
		return fmt.Sprintf("%d -> %d at %s by %s (auditd's log)", c.Old, c.New, c.Time.Format("2006-01-02 15:04:05 MST"), who)
	case "kernel_cmdline":
		return fmt.Sprintf("at boot: audit_backlog_limit=%d on the kernel command line", limit)
	}
	parts := []string{"not known"}
	if o.Note != "" {
		parts = append(parts, o.Note)
	}
	s := strings.Join(parts, ": ")
	if limit == kernelDefaultLimit {
		s += fmt.Sprintf(" (%d is the kernel's default: perhaps never set)", kernelDefaultLimit)
	}
	return s
}
