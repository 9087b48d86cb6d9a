package netlink

import (
	"bytes"
	"encoding/hex"
	"errors"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// Audit record types this package looks at (include/uapi/linux/audit.h).
const (
	typeSyscall      = uint16(auparse.AUDIT_SYSCALL)       // 1300: first record of a syscall event
	typeConfigChange = uint16(auparse.AUDIT_CONFIG_CHANGE) // 1305: a setting or a rule changed
	typeEOE          = uint16(auparse.AUDIT_EOE)           // 1320: last record of a multi-record event
)

// message is one multicast message as parsed: what attribution needs
// from the audit record it carries.
type message struct {
	typ    uint16
	serial uint32
	// stamp is the event's audit timestamp (its start, to the
	// millisecond).
	stamp time.Time
	// sc is set for AUDIT_SYSCALL records only.
	sc *syscallInfo
	// cfg is set for the AUDIT_CONFIG_CHANGE records of a setting's
	// change only.
	cfg *configInfo
}

// configInfo is a setting's change as its AUDIT_CONFIG_CHANGE record
// gives it (kernel/audit.c, audit_log_config_change, 4.18 to 6.18: "op=set
// NAME=NEW old=OLD auid=... ses=... [subj=...] res=ALLOWED"): the sender's
// login uid and session, not its pid, which the SYSCALL record of the same
// event gives (the record makes auditsc_get_stamp mark the syscall to be
// logged, where any syscall rule is loaded).
type configInfo struct {
	name      string // audit_backlog_limit, audit_pid, ...
	new, old  uint32
	auid, ses uint32
	allowed   bool
}

// syscallInfo is the part of a SYSCALL record that names who and why.
type syscallInfo struct {
	tgid uint32 // pid= in the record is task_tgid_nr()
	// ppid is the parent's tgid (ppid=), for the program row's parent.
	ppid uint32
	comm string
	// exe is the file name of exe= (its last path element), "" for
	// exe=(null).
	exe string
	// key is the rule key as the kernel holds it (ctx->filterkey): ""
	// for key=(null), several keys joined by \x01 as auditctl stores them.
	key  string
	nr   int32  // syscall number
	arch uint32 // AUDIT_ARCH_*, 0 if absent
}

var errNoPID = errors.New("SYSCALL record without pid")

// parseMessage parses the payload of one netlink audit message of type typ:
// "audit(1700000000.123:4567): arch=c000003e syscall=257 ...". The header
// (serial) is parsed by go-libaudit's auparse.Parse. For SYSCALL records
// the four fields attribution needs are read by a small scanner instead of
// auparse's Data(): Data() runs a regular expression over the whole record
// and replaces the syscall number by its name, and this loop must keep up
// with kauditd or the socket overruns.
func parseMessage(typ uint16, payload []byte) (message, error) {
	// Kernel payloads are not NUL-terminated, but tolerate padding.
	payload = bytes.TrimRight(payload, "\x00")
	am, err := auparse.Parse(auparse.AuditMessageType(typ), string(payload))
	if err != nil {
		return message{typ: typ}, err
	}
	m := message{typ: typ, serial: am.Sequence, stamp: am.Timestamp}
	if typ != typeSyscall && typ != typeConfigChange {
		return m, nil
	}
	body := am.RawData
	if i := strings.Index(body, "): "); i >= 0 {
		body = body[i+3:]
	}
	if typ == typeConfigChange {
		m.cfg = parseConfigChange(body)
		return m, nil
	}
	sc := &syscallInfo{nr: -1}
	havePID := false
	scanFields(body, func(k, v string) {
		switch k {
		case "pid":
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				sc.tgid, havePID = uint32(n), true
			}
		case "ppid":
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				sc.ppid = uint32(n)
			}
		case "comm":
			sc.comm = decodeValue(v)
		case "exe":
			if e := decodeValue(v); e != "" {
				sc.exe = path.Base(e)
			}
		case "key":
			sc.key = decodeValue(v)
		case "syscall":
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				sc.nr = int32(n)
			}
		case "arch":
			if n, err := strconv.ParseUint(v, 16, 32); err == nil {
				sc.arch = uint32(n)
			}
		}
	})
	if !havePID {
		return m, errNoPID
	}
	m.sc = sc
	return m, nil
}

// scanFields calls fn for each key=value pair of an audit record body, in
// order, with the value as written (quotes kept). Values in double or
// single quotes may contain spaces; the kernel hex-encodes any untrusted
// string that would contain a quote or a space (audit_log_untrustedstring).
func scanFields(s string, fn func(k, v string)) {
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexByte(s, ' ')
		if eq < 0 || (sp >= 0 && sp < eq) { // a word without '='
			if sp < 0 {
				return
			}
			s = s[sp:]
			continue
		}
		k, rest := s[:eq], s[eq+1:]
		var v string
		if len(rest) > 0 && (rest[0] == '"' || rest[0] == '\'') {
			end := strings.IndexByte(rest[1:], rest[0])
			if end < 0 {
				v, s = rest, ""
			} else {
				v, s = rest[:end+2], rest[end+2:]
			}
		} else if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			v, s = rest[:sp], rest[sp:]
		} else {
			v, s = rest, ""
		}
		fn(k, v)
	}
}

// decodeValue turns a value as audit_log_untrustedstring() or
// audit_log_key() wrote it back into the string: "quoted" as is, upper-case
// hex decoded, (null) as "".
func decodeValue(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	if v == "(null)" {
		return ""
	}
	if len(v)%2 == 0 && isUpperHex(v) {
		if b, err := hex.DecodeString(v); err == nil {
			return string(b)
		}
	}
	return v
}

func isUpperHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// parseConfigChange reads a setting's change from a CONFIG_CHANGE
// record's body, nil for the other kinds (rules added or removed, a
// feature changed: "op=add_rule ...", "op=set_feature ...").
func parseConfigChange(body string) *configInfo {
	if !strings.HasPrefix(body, "op=set ") {
		return nil
	}
	c := &configInfo{auid: ^uint32(0), ses: ^uint32(0)}
	var haveNew, haveOld bool
	num := func(v string) (uint32, bool) {
		n, err := strconv.ParseUint(v, 10, 32)
		return uint32(n), err == nil
	}
	scanFields(body, func(k, v string) {
		switch {
		case k == "op":
		case c.name == "":
			c.name = k
			c.new, haveNew = num(v)
		case k == "old":
			c.old, haveOld = num(v)
		case k == "auid":
			c.auid, _ = num(v)
		case k == "ses":
			c.ses, _ = num(v)
		case k == "res":
			c.allowed = v == "1"
		}
	})
	if !haveNew || !haveOld {
		return nil
	}
	return c
}
