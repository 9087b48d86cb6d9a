// Package rulesd edits the backlog settings in an audit rules.d drop-in
// (the files augenrules concatenates, in name order, into audit.rules and
// loads with auditctl: for a setting given twice, the later line wins).
//
// It only touches `-b N` and `--backlog_wait_time T` lines and keeps every
// other line as it was. Writes are atomic (a temporary file renamed over the
// old one) and keep a backup of the previous content.
package rulesd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

// Result says what Persist did or would do.
type Result struct {
	File    string
	Created bool
	Backup  string
	Changes []Change
	// Overrides are settings that will win over the file: later files in
	// the same rules.d directory.
	Overrides []Setting
}

// Persist writes the settings into file (creating it), atomically, keeping
// the previous content in file+".auditprof.bak". With dryRun it only reports.
func Persist(file string, s Settings, dryRun bool) (*Result, error) {
	r := &Result{File: file}
	old, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.Created = true
		old = []byte(header)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	st, statErr := os.Stat(file)
	mode := os.FileMode(0o640) // augenrules writes audit.rules 0640
	if statErr == nil {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", file)
		}
		mode = st.Mode().Perm()
	}
	content, changes, err := Edit(old, s)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	r.Changes = changes
	if r.Overrides, err = laterSettings(file, s); err != nil {
		return nil, err
	}
	if dryRun || (len(changes) == 0 && !r.Created) {
		return r, nil
	}
	if !r.Created {
		r.Backup = file + ".auditprof.bak"
		if err := writeAtomic(r.Backup, old, mode); err != nil {
			return nil, fmt.Errorf("backing up %s: %w", file, err)
		}
	}
	if err := writeAtomic(file, content, mode); err != nil {
		return nil, fmt.Errorf("writing %s: %w", file, err)
	}
	return r, nil
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

// writeAtomic writes to a temporary file in the same directory, syncs it and
// renames it over path: readers see the old or the new content, never half.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Parse returns the backlog settings in content, in order.
func Parse(content []byte) ([]Setting, error) {
	var out []Setting
	for i, l := range strings.Split(string(bytes.TrimRight(content, "\n")), "\n") {
		flag, v, ok, err := flagOf(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if ok {
			out = append(out, Setting{Line: i + 1, Flag: flag, Value: v})
		}
	}
	return out, nil
}
