package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLimitOrigin: the limit in force is attributed to the last change in
// auditd's log (named in auditd.conf) when that change set it, to the
// kernel command line when the log has none and the command line sets it,
// and is not known otherwise, saying why.
func TestLimitOrigin(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit.log")
	conf := filepath.Join(dir, "auditd.conf")
	cmdline := filepath.Join(dir, "cmdline")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(conf, "log_file = "+logPath+"\n")
	oldConf, oldCmd := statusAuditdConf, statusCmdline
	statusAuditdConf, statusCmdline = conf, cmdline
	defer func() { statusAuditdConf, statusCmdline = oldConf, oldCmd }()
	const change = "type=CONFIG_CHANGE msg=audit(1733550003.750:14): op=set audit_backlog_limit=20000 old=8192 auid=1000 ses=3 subj=unconfined res=1\n" +
		"type=SYSCALL msg=audit(1733550003.750:14): arch=c000003e syscall=44 success=yes exit=60 pid=912 auid=1000 ses=3 comm=\"auditctl\" exe=\"/usr/sbin/auditctl\" key=(null)\n"
	for _, tc := range []struct {
		name, log, cmdline string
		limit              uint32
		source, line       string
	}{
		{"logged", change, "audit=1", 20000, "auditd_log", "8192 -> 20000 at 2024-12-07 05:40:03 UTC by auditctl (/usr/sbin/auditctl), auid 1000 ses 3 (auditd's log)"},
		{"changed since", change, "audit=1", 64, "unknown", "not known: the last change in " + logPath + " set 20000; the limit changed since"},
		{"at boot", "", "audit=1 audit_backlog_limit=8192", 8192, "kernel_cmdline", "at boot: audit_backlog_limit=8192 on the kernel command line"},
		{"nothing", "", "audit=1", 64, "unknown", "not known: no change of the limit in " + logPath},
	} {
		write(logPath, tc.log)
		write(cmdline, tc.cmdline)
		o := findLimitOrigin(tc.limit)
		if o.Source != tc.source || !strings.HasPrefix(o.line(tc.limit), tc.line) {
			t.Errorf("%s: %s, %q; want %s, %q", tc.name, o.Source, o.line(tc.limit), tc.source, tc.line)
		}
	}
	os.Remove(logPath)
	if o := findLimitOrigin(64); o.Source != "unknown" || !strings.Contains(o.Note, "no such file") {
		t.Errorf("no log: %+v", o)
	}
}
