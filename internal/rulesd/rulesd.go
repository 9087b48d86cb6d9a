// Package rulesd edits the backlog settings in an audit rules.d drop-in
// (the files augenrules concatenates, in name order, into audit.rules and
// loads with auditctl: for a setting given twice, the later line wins).
//
// It only touches `-b N` and `--backlog_wait_time T` lines and keeps every
// other line as it was. Writes are atomic (a temporary file renamed over the
// old one) and keep a backup of the previous content.
package rulesd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/auditprof/auditprof/internal/durable"
)

// Settings are the values to persist; nil leaves a setting alone.
type Settings struct {
	BacklogLimit    *uint32
	BacklogWaitTime *uint32
}

// Setting is one backlog line found in a rules file.
type Setting struct {
	File  string
	Line  int // 1-based
	Flag  string
	Value uint32
}

// Change is one line of an edit: Old "" is an added line.
type Change struct {
	Line     int
	Old, New string
}

// flagOf returns the setting a rules line sets ("-b" or
// "--backlog_wait_time") and its value.
func flagOf(line string) (flag string, value uint32, ok bool, err error) {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return "", 0, false, nil
	}
	switch {
	case f[0] == "-b" || f[0] == "--backlog_wait_time":
		if len(f) < 2 {
			return "", 0, false, fmt.Errorf("%q has no value", line)
		}
		flag = f[0]
		v, perr := strconv.ParseUint(f[1], 10, 32)
		if perr != nil {
			return "", 0, false, fmt.Errorf("%q: %q is not a number", line, f[1])
		}
		return flag, uint32(v), true, nil
	case strings.HasPrefix(f[0], "-b") && len(f) == 1 && !strings.HasPrefix(f[0], "--"):
		// "-b8192": auditctl's getopt accepts the value glued on.
		v, perr := strconv.ParseUint(f[0][2:], 10, 32)
		if perr != nil {
			return "", 0, false, fmt.Errorf("%q: %q is not a number", line, f[0][2:])
		}
		return "-b", uint32(v), true, nil
	}
	return "", 0, false, nil
}

// Edit returns content with the settings applied: the last line setting each
// flag is rewritten (earlier ones would be overridden by it anyway, and are
// removed so the file says one thing), and missing settings are appended.
func Edit(content []byte, s Settings) ([]byte, []Change, error) {
	text := strings.TrimSuffix(string(content), "\n")
	var lines []string
	if text != "" || len(content) > 0 {
		lines = strings.Split(text, "\n")
	}
	want := map[string]*uint32{"-b": s.BacklogLimit, "--backlog_wait_time": s.BacklogWaitTime}
	last := map[string]int{}
	for i, l := range lines {
		flag, _, ok, err := flagOf(l)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if ok && want[flag] != nil {
			last[flag] = i
		}
	}
	var out []string
	var changes []Change
	for i, l := range lines {
		flag, _, ok, _ := flagOf(l)
		if !ok || want[flag] == nil {
			out = append(out, l)
			continue
		}
		if last[flag] != i {
			changes = append(changes, Change{Line: i + 1, Old: l})
			continue
		}
		n := fmt.Sprintf("%s %d", flag, *want[flag])
		if n != l {
			changes = append(changes, Change{Line: i + 1, Old: l, New: n})
		}
		out = append(out, n)
	}
	for _, flag := range []string{"-b", "--backlog_wait_time"} {
		if _, ok := last[flag]; !ok && want[flag] != nil {
			n := fmt.Sprintf("%s %d", flag, *want[flag])
			out = append(out, n)
			changes = append(changes, Change{Line: len(out), New: n})
		}
	}
	if len(out) == 0 {
		return nil, changes, nil
	}
	return []byte(strings.Join(out, "\n") + "\n"), changes, nil
}

// header starts a file this package creates.
const header = "## Written by auditprof apply --persist: the audit backlog settings.\n"

// Plan is an edit of one rules file, computed before anything is written.
type Plan struct {
	File    string
	Created bool
	Changes []Change
	// Overrides are settings that will win over the file: later files in
	// the same rules.d directory.
	Overrides []Setting
	// Backup is where Write keeps the previous content (set by Write).
	Backup string

	old, content []byte
}

// PlanEdit reads file (a missing file is created by Write) and works out
// the edit and what overrides it. Nothing is written.
func PlanEdit(file string, s Settings) (*Plan, error) {
	p := &Plan{File: file}
	if st, err := os.Stat(file); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	old, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.Created = true
		old = []byte(header)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	p.old = old
	if p.content, p.Changes, err = Edit(old, s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if p.Overrides, err = laterSettings(file, s); err != nil {
		return nil, err
	}
	return p, nil
}

// Write carries out the plan: the previous content goes to
// file+".auditprof.bak", then the new content replaces the file. Both writes
// are atomic (renameio), durable (the directory synced after) and keep
// the existing file's permissions.
func (p *Plan) Write() error {
	if len(p.Changes) == 0 && !p.Created {
		return nil
	}
	if !p.Created {
		p.Backup = p.File + ".auditprof.bak"
		if err := renameio.WriteFile(p.Backup, p.old, 0o640); err != nil {
			return fmt.Errorf("backing up %s: %w", p.File, err)
		}
	}
	// 0640 as augenrules writes audit.rules, for a file made here.
	if err := renameio.WriteFile(p.File, p.content, 0o640); err != nil {
		return fmt.Errorf("writing %s: %w", p.File, err)
	}
	// A limit persisted must be there after a power cut too.
	return durable.SyncDir(p.File)
}

// laterSettings finds the backlog settings in the *.rules files of file's
// directory that sort after it: augenrules loads them later, so they win.
func laterSettings(file string, s Settings) ([]Setting, error) {
	dir, base := filepath.Dir(file), filepath.Base(file)
	matches, err := filepath.Glob(filepath.Join(dir, "*.rules"))
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	var out []Setting
	for _, m := range matches {
		if filepath.Base(m) <= base {
			continue
		}
		b, err := os.ReadFile(m)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m, err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			flag, v, ok, _ := flagOf(l)
			if ok && ((flag == "-b" && s.BacklogLimit != nil) || (flag == "--backlog_wait_time" && s.BacklogWaitTime != nil)) {
				out = append(out, Setting{File: m, Line: i + 1, Flag: flag, Value: v})
			}
		}
	}
	return out, nil
}
