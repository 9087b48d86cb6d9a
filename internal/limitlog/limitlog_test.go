package limitlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lines as Debian 12's auditd 3.0.9 writes them (enriched format: the
// translated fields after 0x1d, put in below), and as the raw format does.
var logText = strings.NewReplacer("AUID=", "\x1dAUID=", "ARCH=", "\x1dARCH=").Replace(`type=DAEMON_START msg=audit(1733550000.100:7461): op=start ver=3.0.9 format=enriched kernel=6.12.0 auid=4294967295 pid=156 uid=0 ses=4294967295 res=successAUID="unset" UID="root"
type=CONFIG_CHANGE msg=audit(1733550001.250:12): op=set audit_backlog_limit=8192 old=64 auid=4294967295 ses=4294967295 subj=unconfined res=1AUID="unset"
type=CONFIG_CHANGE msg=audit(1733550002.500:13): op=set audit_backlog_limit=5 old=8192 auid=1000 ses=3 subj=unconfined res=0AUID="alice"
type=CONFIG_CHANGE msg=audit(1733550003.750:14): op=set audit_backlog_limit=20000 old=8192 auid=1000 ses=3 subj=unconfined res=1AUID="alice"
type=SYSCALL msg=audit(1733550003.750:14): arch=c000003e syscall=44 success=yes exit=60 a0=3 items=0 ppid=900 pid=912 auid=1000 uid=0 ses=3 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)ARCH=x86_64
type=CONFIG_CHANGE msg=audit(1733550004.000:15): op=set audit_backlog_wait_time=0 old=60000 auid=1000 ses=3 subj=unconfined res=1
type=PROCTITLE msg=audit(1733550004.000:15): proctitle=617564697463746C
`)

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  string
		want *Change
	}{
		{"the last allowed change, with its sender's SYSCALL record", logText,
			&Change{Time: time.Unix(1733550003, 750e6).UTC(), Serial: 14, New: 20000, Old: 8192, Auid: 1000, Ses: 3, Comm: "auditctl", Exe: "/usr/sbin/auditctl"}},
		{"no SYSCALL record: no sender's name", strings.Join(strings.Split(logText, "\n")[:2], "\n"),
			&Change{Time: time.Unix(1733550001, 250e6).UTC(), Serial: 12, New: 8192, Old: 64, Auid: 4294967295, Ses: 4294967295}},
		{"refused only", strings.Split(logText, "\n")[2], nil},
		{"no change of the limit", strings.Split(logText, "\n")[5] + "\n", nil},
		{"empty", "", nil},
		{"raw format", "type=CONFIG_CHANGE msg=audit(1733550009.001:99): op=set audit_backlog_limit=320 old=64 auid=0 ses=1 subj=unconfined res=1\n",
			&Change{Time: time.Unix(1733550009, 1e6).UTC(), Serial: 99, New: 320, Old: 64, Auid: 0, Ses: 1}},
	} {
		got, err := Find(strings.NewReader(tc.log))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestBootLimit(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    uint64
		ok      bool
	}{
		{"BOOT_IMAGE=/vmlinuz root=/dev/vda1 audit=1 audit_backlog_limit=8192 quiet", 8192, true},
		{"BOOT_IMAGE=/vmlinuz audit=1", 0, false},
		{"audit_backlog_limit=x", 0, false},
		{"audit_backlog_limit=64 audit_backlog_limit=320", 320, true},
	} {
		if got, ok := BootLimit(tc.cmdline); got != tc.want || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.cmdline, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add(logText)
	f.Fuzz(func(t *testing.T, log string) {
		c, err := Find(strings.NewReader(log))
		if err == nil && c != nil && !strings.Contains(log, "audit_backlog_limit=") {
			t.Errorf("a change %+v from a log without one", c)
		}
	})
}

// TestLastRotated: a change pushed out of the current log by a busy load
// is found in the rotated ones, newest first; without rotated files, none.
func TestLastRotated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	busy := "type=SYSCALL msg=audit(1733550100.000:20): arch=c000003e syscall=257 success=yes exit=3 comm=\"stress-ng\" exe=\"/usr/bin/stress-ng\" key=\"load\"\n"
	write(path, busy)
	if ch, err := Last(path); err != nil || ch != nil {
		t.Errorf("no change and no rotated file: %+v, %v", ch, err)
	}
	write(path+".2", "type=CONFIG_CHANGE msg=audit(1733550001.000:12): op=set audit_backlog_limit=8192 old=64 auid=0 ses=1 res=1\n")
	write(path+".1", "type=CONFIG_CHANGE msg=audit(1733550050.000:19): op=set audit_backlog_limit=32000 old=256 auid=0 ses=1 res=1\n"+busy)
	ch, err := Last(path)
	if err != nil || ch == nil || ch.New != 32000 {
		t.Errorf("the change in audit.log.1: %+v, %v", ch, err)
	}
}
