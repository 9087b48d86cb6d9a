// Package limitlog finds who last changed the audit backlog limit (issue
// 20): the kernel logs every change made while audit is enabled as an
// AUDIT_CONFIG_CHANGE record (kernel/audit.c, audit_log_config_change:
// "op=set audit_backlog_limit=NEW old=OLD auid=... ses=... ... res=1"),
// which auditd writes to its log; without one there, the limit may have
// been set on the kernel command line (audit_backlog_limit=).
package limitlog

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Change is the last change of the limit found in auditd's log.
type Change struct {
	Time   time.Time `json:"time"`
	Serial uint64    `json:"serial"`
	New    uint64    `json:"new"`
	Old    uint64    `json:"old"`
	// Auid and Ses are the sender's login uid and session (4294967295:
	// unset, a process not started from a login: a service, a boot
	// script).
	Auid uint64 `json:"auid"`
	Ses  uint64 `json:"ses"`
	// Comm and Exe name the sender where a SYSCALL record of the same
	// event is in the log (only where a rule audits its sendto).
	Comm string `json:"comm,omitempty"`
	Exe  string `json:"exe,omitempty"`
}

// TailBytes is how much of the end of the log Last reads: auditd rotates
// its log at max_log_file (8 MB by default), so a change older than the
// current file is not found anyway.
const TailBytes = 8 << 20

var (
	stamp  = regexp.MustCompile(`msg=audit\((\d+)\.(\d+):(\d+)\)`)
	change = regexp.MustCompile(`op=set audit_backlog_limit=(\d+) old=(\d+) auid=(\d+) ses=(\d+).* res=1`)
	comm   = regexp.MustCompile(` comm="([^"]*)"`)
	exe    = regexp.MustCompile(` exe="([^"]*)"`)
)

// Last reads the log at path (its last TailBytes) and returns its last
// allowed change of the limit, nil if it has none.
func Last(path string) (*Change, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading auditd's log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading auditd's log: %w", err)
	}
	var r io.Reader = f
	if fi.Size() > TailBytes {
		r = io.NewSectionReader(f, fi.Size()-TailBytes, TailBytes)
	}
	return Find(r)
}

// Find reads a log (auditd's raw or enriched format) and returns its last
// allowed change of the limit, with the sender's comm and exe where a
// SYSCALL record of the same event is there, nil if it has none.
func Find(r io.Reader) (*Change, error) {
	var last *Change
	syscalls := map[uint64][2]string{} // serial: comm, exe
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// The enriched format appends the translated fields after 0x1d.
		if i := bytes.IndexByte(line, 0x1d); i >= 0 {
			line = line[:i]
		}
		s := string(line)
		m := stamp.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		serial, _ := strconv.ParseUint(m[3], 10, 64)
		switch {
		case strings.HasPrefix(s, "type=SYSCALL "):
			var ce [2]string
			if c := comm.FindStringSubmatch(s); c != nil {
				ce[0] = c[1]
			}
			if e := exe.FindStringSubmatch(s); e != nil {
				ce[1] = e[1]
			}
			syscalls[serial] = ce
		case strings.HasPrefix(s, "type=CONFIG_CHANGE "):
			c := change.FindStringSubmatch(s)
			if c == nil {
				continue
			}
			sec, _ := strconv.ParseInt(m[1], 10, 64)
			ms, _ := strconv.ParseInt(m[2], 10, 64)
			ch := &Change{Time: time.Unix(sec, ms*int64(time.Millisecond)).UTC(), Serial: serial}
			ch.New, _ = strconv.ParseUint(c[1], 10, 64)
			ch.Old, _ = strconv.ParseUint(c[2], 10, 64)
			ch.Auid, _ = strconv.ParseUint(c[3], 10, 64)
			ch.Ses, _ = strconv.ParseUint(c[4], 10, 64)
			last = ch
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading auditd's log: %w", err)
	}
	if last != nil {
		if ce, ok := syscalls[last.Serial]; ok {
			last.Comm, last.Exe = ce[0], ce[1]
		}
	}
	return last, nil
}

// BootLimit is the audit_backlog_limit= of a kernel command line (the
// text of /proc/cmdline), ok false without one.
func BootLimit(cmdline string) (limit uint64, ok bool) {
	for _, f := range strings.Fields(cmdline) {
		if v, found := strings.CutPrefix(f, "audit_backlog_limit="); found {
			n, err := strconv.ParseUint(v, 10, 32)
			if err == nil {
				limit, ok = n, true
			}
		}
	}
	return limit, ok
}
