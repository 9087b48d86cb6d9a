// Package auditrules reads the audit rules loaded in the kernel
// (AUDIT_LIST_RULES) and tells which of them a record's (key, syscall,
// arch) can have come from, so that auditprof's per-(key, syscall) counters
// are shown against the rules an operator wrote.
//
// The kernel does not say which rule matched a record: it leaves the
// matching rule's key in ctx->filterkey and the syscall in ctx->major
// (kernel/auditsc.c, audit_filter_rules). The join is therefore by key,
// then by syscall and arch; where several rules share all three (the same
// key on rules that differ only in -F fields), every candidate is named
// and none is guessed.
package auditrules

import (
	"fmt"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"

	"github.com/auditprof/auditprof/internal/profile"
)

// Rule is one loaded rule.
type Rule struct {
	// Index is the rule's 1-based position in the kernel's list, the
	// order `auditctl -l` prints.
	Index int
	// Text is the rule as `auditctl -l` prints it.
	Text string
	// List is the filter list: exit, user, exclude, filesystem, io_uring.
	List string
	// Key is the rule's key as the kernel keeps it: several -k joined by
	// \x01; empty for a rule with no key.
	Key string

	never    bool
	watch    bool            // -w: the syscalls of its permission classes
	perm     int             // -p or -F perm=: permMatches decides; 0 for none
	arch     string          // "b64", "b32", a machine name, or "" (any)
	syscalls map[string]bool // names; nil means all syscalls
	uringOps map[int32]bool  // an io_uring rule's opcodes; nil means all
}

// Parse turns the kernel's rules (go-libaudit's AuditClient.GetRules, in
// list order) into Rules. A rule go-libaudit cannot print is an error: the
// join would silently lose it otherwise.
func Parse(wire [][]byte) ([]Rule, error) {
	rules := make([]Rule, 0, len(wire))
	for i, wf := range wire {
		if isUringRule(wf) {
			r, err := parseUring(i+1, wf)
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
			continue
		}
		text, err := rule.ToCommandLine(rule.WireFormat(wf), false)
		if err != nil {
			return nil, fmt.Errorf("reading loaded rule %d: %w", i+1, err)
		}
		r, err := parseText(i+1, text)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parseText reads one rule as auditctl -l prints it.
func parseText(index int, text string) (Rule, error) {
	parsed, err := flags.Parse(text)
	if err != nil {
		return Rule{}, fmt.Errorf("parsing loaded rule %d (%s): %w", index, text, err)
	}
	r := Rule{Index: index, Text: text}
	switch p := parsed.(type) {
	case *rule.FileWatchRule:
		r.List, r.watch = "exit", true
		r.Key = strings.Join(p.Keys, "\x01")
		r.perm = watchPerm(p.Permissions)
	case *rule.SyscallRule:
		r.List, r.never = p.List, p.Action == "never"
		keys := p.Keys
		for _, f := range p.Filters {
			switch f.LHS {
			case "key":
				keys = append(keys, f.RHS)
			case "arch":
				if f.Comparator == "=" {
					r.arch = f.RHS
				}
			case "perm":
				r.perm = filterPerm(f.RHS)
			}
		}
		r.Key = strings.Join(keys, "\x01")
		for _, s := range p.Syscalls {
			if s == "all" {
				r.syscalls = nil
				break
			}
			if r.syscalls == nil {
				r.syscalls = map[string]bool{}
			}
			r.syscalls[s] = true
		}
	default:
		return Rule{}, fmt.Errorf("parsing loaded rule %d (%s): unknown rule type %T", index, text, parsed)
	}
	return r, nil
}

// auditArch64 is __AUDIT_ARCH_64BIT (include/uapi/linux/audit.h).
const auditArch64 = 0x80000000

// Matches returns the indices of the rules a record with this key, syscall
// number and AUDIT_ARCH_* value can have come from: exit-list rules (and
// io_uring rules) that are not "never", carry exactly this key, and name
// this syscall for this arch (or all syscalls), and whose permission
// filter (a watch's -p, -F perm=) admits this syscall. An empty
// result means no loaded rule explains the record (rules changed during
// the recording, or the record is not from a rule: AUDIT_CONFIG_CHANGE,
// user messages).
//
// An io_uring rule (`-a always,io_uring -S openat`) filters on the
// operation's opcode, not on a syscall: its rows are matched by
// MatchesUring. It also explains an io_uring_enter row of its key: an
// operation the syscall ran inline leaves the syscall's context recording
// (kernel/auditsc.c, __audit_uring_exit), and the syscall's own event
// follows at its exit with the rule's key.
func Matches(rules []Rule, key string, syscall int32, arch uint32) []int {
	if syscall < 0 {
		return nil
	}
	archName, name := ArchName(arch), SyscallName(syscall, arch)
	var out []int
	for _, r := range rules {
		if r.never || r.Key != key {
			continue
		}
		if r.List == "io_uring" {
			if name == "io_uring_enter" {
				out = append(out, r.Index)
			}
			continue
		}
		if r.List != "exit" {
			continue
		}
		if !archMatches(r.arch, arch, archName) {
			continue
		}
		if r.syscalls != nil && !r.watch && (name == "" || !r.syscalls[name]) {
			continue
		}
		if r.perm != 0 && !permMatches(r.perm, name) {
			continue
		}
		out = append(out, r.Index)
	}
	return out
}

// MatchesUring returns the indices of the io_uring rules a record of an
// io_uring operation with this key and opcode can have come from
// (audit_filter_uring: the opcode in the rule's mask, the first match's
// key in the context).
func MatchesUring(rules []Rule, key string, op int32) []int {
	var out []int
	for _, r := range rules {
		if r.never || r.Key != key || r.List != "io_uring" {
			continue
		}
		if r.uringOps != nil && !r.uringOps[op] {
			continue
		}
		out = append(out, r.Index)
	}
	return out
}

func archMatches(filter string, arch uint32, archName string) bool {
	switch filter {
	case "":
		return true
	case "b64":
		return arch&auditArch64 != 0
	case "b32":
		return arch != 0 && arch&auditArch64 == 0
	default:
		return filter == archName
	}
}

// SyscallName is the syscall's name for an AUDIT_ARCH_* value, or "" when
// unknown.
func SyscallName(syscall int32, arch uint32) string {
	if syscall < 0 {
		return ""
	}
	return auparse.AuditSyscalls[auparse.AuditArch(arch).String()][int(syscall)]
}

// ArchName is the AUDIT_ARCH_* value's name (x86_64, i386, aarch64...), or
// "" for 0.
func ArchName(arch uint32) string {
	if arch == 0 {
		return ""
	}
	return auparse.AuditArch(arch).String()
}

// Join records the loaded rules in the profile and points each of its
// (key, syscall, arch) rows at the rules it can have come from.
func Join(p *profile.Profile, rules []Rule) {
	p.LoadedRules = p.LoadedRules[:0]
	for _, r := range rules {
		p.LoadedRules = append(p.LoadedRules, profile.LoadedRule{Index: r.Index, Text: r.Text, List: r.List, Key: r.Key})
	}
	for i := range p.Rules {
		row := &p.Rules[i]
		if row.UringOp != nil {
			row.Matches = MatchesUring(rules, row.Key, *row.UringOp)
			continue
		}
		row.Matches = Matches(rules, row.Key, row.Syscall, archValue(row.Arch))
	}
}

// archValue is ArchName's inverse (0 when unknown).
func archValue(name string) uint32 {
	for a, n := range auparse.AuditArchNames {
		if n == name {
			return uint32(a)
		}
	}
	return 0
}
