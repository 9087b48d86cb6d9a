// Package auditdconf reads what auditd's configuration says about how fast
// it can consume: auditd.conf's flush, freq, q_depth, disp_qos,
// priority_boost and log_file, and the active plugins of plugins.d.
package auditdconf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/auditprof/auditprof/internal/profile"
)

// Default paths (auditd 3.x; 2.x kept plugins in /etc/audisp/plugins.d).
const (
	DefaultPath    = "/etc/audit/auditd.conf"
	DefaultPlugins = "/etc/audit/plugins.d"
)

// Parse reads auditd.conf's "keyword = value" lines as auditd does:
// comments start with #, keywords are case-sensitive and lower case, the
// value is the rest of the line trimmed. Unknown keywords are ignored; a
// value that should be a number and is not is an error naming the line.
func Parse(r io.Reader) (profile.AuditdConfig, error) {
	var c profile.AuditdConfig
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		k, v, ok := keyValue(sc.Text())
		if !ok {
			continue
		}
		switch k {
		case "flush":
			c.Flush = strings.ToLower(v)
		case "disp_qos":
			c.DispQoS = strings.ToLower(v)
		case "log_file":
			c.LogFile = v
		case "freq", "q_depth", "priority_boost":
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 {
				return c, fmt.Errorf("line %d: %s = %q is not a number", n, k, v)
			}
			switch k {
			case "freq":
				c.Freq = &i
			case "q_depth":
				c.QDepth = &i
			default:
				c.Priority = &i
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("reading auditd.conf: %w", err)
	}
	return c, nil
}

// keyValue splits "keyword = value", ignoring comments and blank lines.
func keyValue(line string) (string, string, bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	k, v, ok := strings.Cut(line, "=")
	if !ok {
		return "", "", false
	}
	k = strings.TrimSpace(k)
	if k == "" || strings.ContainsAny(k, " \t") {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

// PluginActive reads a plugins.d file: whether it says active = yes, and
// its path (the program it runs).
func PluginActive(r io.Reader) (active bool, path string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := keyValue(sc.Text())
		if !ok {
			continue
		}
		switch k {
		case "active":
			active = strings.EqualFold(v, "yes")
		case "path":
			path = v
		}
	}
	if err := sc.Err(); err != nil {
		return false, "", fmt.Errorf("reading a plugin file: %w", err)
	}
	return active, path, nil
}

// Read reads auditd.conf at path and the plugins in dir. Problems are put
// in the result's Error (the recording keeps its measurements without it).
func Read(path, dir string) *profile.AuditdConfig {
	f, err := os.Open(path)
	if err != nil {
		return &profile.AuditdConfig{Path: path, Error: fmt.Sprintf("reading auditd's configuration: %v", err)}
	}
	defer f.Close()
	c, err := Parse(f)
	c.Path = path
	if err != nil {
		c.Error = fmt.Sprintf("reading %s: %v", path, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	for _, p := range files {
		pf, err := os.Open(p)
		if err != nil {
			continue
		}
		active, prog, err := PluginActive(pf)
		pf.Close()
		if err != nil || !active {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ".conf")
		if prog != "" && prog != "builtin_af_unix" {
			name += " (" + prog + ")"
		}
		c.Plugins = append(c.Plugins, name)
	}
	sort.Strings(c.Plugins)
	return &c
}
