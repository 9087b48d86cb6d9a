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
	"errors"
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
	// event is in the log: the kernel logs one where any syscall rule is
	// loaded (the CONFIG_CHANGE record marks the sender's syscall to be
	// logged, auditsc_get_stamp), unless a never rule matches it.
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

// RotatedFiles is how many of auditd's rotated logs (path.1, path.2, ...)
// Last reads after the current one: a busy host fills the 8 MB auditd
// rotates at (max_log_file) in minutes, and `make demo`'s load pushed the
// change of the limit out of the current log's end.
const RotatedFiles = 4

// Last reads the log at path (its last TailBytes), then its rotated
// files newest first, and returns the last allowed change of the limit in
// the first that has one, nil if none has.
func Last(path string) (*Change, error) {
	for k := 0; k <= RotatedFiles; k++ {
		p := path
		if k > 0 {
			p = fmt.Sprintf("%s.%d", path, k)
		}
		ch, err := lastIn(p)
		if k > 0 && errors.Is(err, os.ErrNotExist) {
			return nil, nil // no more rotated files
		}
		if err != nil || ch != nil {
			return ch, err
		}
	}
	return nil, nil
}

// lastIn is Last for one file.
func lastIn(path string) (*Change, error) {
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
// allowed change of the limit, with the sender's comm and exe where the
// SYSCALL record of the same event follows it, nil if it has none. Only
// those two kinds of line are parsed: a busy log is mostly other records.
func Find(r io.Reader) (*Change, error) {
	var last *Change
	var serialTag string // ":SERIAL)" of last, until its SYSCALL record is seen
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("type=CONFIG_CHANGE ")) && bytes.Contains(line, []byte("op=set audit_backlog_limit=")):
			if ch := parseChange(string(cut(line))); ch != nil {
				last, serialTag = ch, fmt.Sprintf(":%d)", ch.Serial)
			}
		case serialTag != "" && bytes.HasPrefix(line, []byte("type=SYSCALL ")) && bytes.Contains(line, []byte(serialTag)):
			s := string(cut(line))
			if c := comm.FindStringSubmatch(s); c != nil {
				last.Comm = c[1]
			}
			if e := exe.FindStringSubmatch(s); e != nil {
				last.Exe = e[1]
			}
			serialTag = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading auditd's log: %w", err)
	}
	return last, nil
}

// cut is a line less the enriched format's translated fields (after 0x1d).
func cut(line []byte) []byte {
	if i := bytes.IndexByte(line, 0x1d); i >= 0 {
		return line[:i]
	}
	return line
}

// parseChange reads an allowed change of the limit from a CONFIG_CHANGE
// line, nil for a refused one or another form.
func parseChange(s string) *Change {
	m := stamp.FindStringSubmatch(s)
	c := change.FindStringSubmatch(s)
	if m == nil || c == nil {
		return nil
	}
	serial, _ := strconv.ParseUint(m[3], 10, 64)
	sec, _ := strconv.ParseInt(m[1], 10, 64)
	ms, _ := strconv.ParseInt(m[2], 10, 64)
	ch := &Change{Time: time.Unix(sec, ms*int64(time.Millisecond)).UTC(), Serial: serial}
	ch.New, _ = strconv.ParseUint(c[1], 10, 64)
	ch.Old, _ = strconv.ParseUint(c[2], 10, 64)
	ch.Auid, _ = strconv.ParseUint(c[3], 10, 64)
	ch.Ses, _ = strconv.ParseUint(c[4], 10, 64)
	return ch
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
