package kernel

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Preemption models, as the kernel names them (kernel/sched/core.c's
// preempt= parameter; "rt" for PREEMPT_RT).
const (
	PreemptNone      = "none"
	PreemptVoluntary = "voluntary"
	PreemptFull      = "full"
	PreemptLazy      = "lazy"
	PreemptRT        = "rt"
	PreemptUnknown   = "unknown"
)

// Preemption is the running kernel's preemption model: whether kernel code
// can be preempted. Where it can (full, lazy, rt), a BPF trampoline
// program (fentry/fexit) can be preempted while it runs, and another task
// entering the same program on that CPU is skipped (the program's
// recursion_misses); kprobe handlers run with preemption disabled.
type Preemption struct {
	// Model is none, voluntary, full, lazy, rt or unknown.
	Model string
	// Source says where Model was read: a path, "uname -v", or a config
	// file with how the default was taken.
	Source string
}

// Preemptible reports whether the kernel preempts kernel code.
func (p Preemption) Preemptible() bool {
	switch p.Model {
	case PreemptFull, PreemptLazy, PreemptRT:
		return true
	}
	return false
}

// String reads "preempt=full, from /sys/kernel/debug/sched/preempt".
func (p Preemption) String() string {
	if p.Model == PreemptUnknown {
		return "preemption model unknown (" + p.Source + ")"
	}
	return "preempt=" + p.Model + ", from " + p.Source
}

// Paths, variables so tests can point them at fake files.
var (
	realtimePath     = "/sys/kernel/realtime"
	schedPreemptPath = "/sys/kernel/debug/sched/preempt"
	cmdlinePath      = "/proc/cmdline"
	versionPath      = "/proc/sys/kernel/version"
	// unameVersion is uname -v, read when versionPath cannot be.
	unameVersion = func() string {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return ""
		}
		return unix.ByteSliceToString(u.Version[:])
	}
	preemptConfigPaths = func() []string {
		release, _ := Release()
		return configPaths(release)
	}
)

// PreemptionModel finds the running kernel's preemption model from
// sources that do not depend on timing, in this order:
//
//  1. /sys/kernel/realtime containing 1: PREEMPT_RT.
//  2. /sys/kernel/debug/sched/preempt (PREEMPT_DYNAMIC, debugfs mounted):
//     the active model is the one in parentheses.
//  3. uname -v (/proc/sys/kernel/version): PREEMPT_RT, PREEMPT_LAZY or
//     PREEMPT name the model; PREEMPT_DYNAMIC says only that it is chosen
//     at boot, from preempt= on /proc/cmdline or else the config's default
//     (CONFIG_PREEMPT_VOLUNTARY, CONFIG_PREEMPT, ...); no PREEMPT word at
//     all means kernel code is not preempted (none or voluntary).
//  4. CONFIG_PREEMPT* from /proc/config.gz or /boot/config-$(uname -r).
//
// It never fails: what cannot be told is Model "unknown".
func PreemptionModel() Preemption {
	if b, err := os.ReadFile(realtimePath); err == nil && strings.TrimSpace(string(b)) == "1" {
		return Preemption{Model: PreemptRT, Source: realtimePath}
	}
	if b, err := os.ReadFile(schedPreemptPath); err == nil {
		if m := parseSchedPreempt(string(b)); m != "" {
			return Preemption{Model: m, Source: schedPreemptPath}
		}
	}

	version, versionSrc := "", versionPath
	if b, err := os.ReadFile(versionPath); err == nil {
		version = strings.TrimSpace(string(b))
	} else {
		version, versionSrc = strings.TrimSpace(unameVersion()), "uname -v"
	}
	words := map[string]bool{}
	for _, w := range strings.Fields(version) {
		words[w] = true
	}
	cfg, cfgPath := readPreemptConfig(preemptConfigPaths())

	switch {
	case words["PREEMPT_RT"]:
		return Preemption{Model: PreemptRT, Source: versionSrc}
	case words["PREEMPT_DYNAMIC"] || cfg["CONFIG_PREEMPT_DYNAMIC"]:
		src := versionSrc
		if !words["PREEMPT_DYNAMIC"] {
			src = cfgPath
		}
		if b, err := os.ReadFile(cmdlinePath); err == nil {
			if m := cmdlinePreempt(string(b)); m != "" {
				return Preemption{Model: m, Source: cmdlinePath + " (PREEMPT_DYNAMIC kernel)"}
			}
		}
		if m := configModel(cfg); m != "" {
			return Preemption{Model: m, Source: cfgPath + " (the boot default of a PREEMPT_DYNAMIC kernel; no preempt= on " + cmdlinePath + ")"}
		}
		return Preemption{Model: PreemptUnknown, Source: src + " says PREEMPT_DYNAMIC, chosen at boot; " +
			schedPreemptPath + " (debugfs), preempt= on " + cmdlinePath + " and the kernel config do not say which"}
	case words["PREEMPT_LAZY"]:
		return Preemption{Model: PreemptLazy, Source: versionSrc}
	case words["PREEMPT"]:
		return Preemption{Model: PreemptFull, Source: versionSrc}
	}
	if m := configModel(cfg); m != "" {
		return Preemption{Model: m, Source: cfgPath}
	}
	if strings.HasPrefix(version, "#") {
		// The build's version string names every preemptible model
		// (scripts/mkcompile_h); none of them here.
		return Preemption{Model: PreemptVoluntary, Source: versionSrc + ", which names no PREEMPT model (none or voluntary: kernel code is not preempted)"}
	}
	return Preemption{Model: PreemptUnknown, Source: "neither " + realtimePath + ", " + schedPreemptPath + ", the kernel version string nor a kernel config could be read"}
}

// parseSchedPreempt reads sched_dynamic_show's line ("none (voluntary)
// full lazy "): the active model is in parentheses.
func parseSchedPreempt(s string) string {
	for _, w := range strings.Fields(s) {
		if strings.HasPrefix(w, "(") && strings.HasSuffix(w, ")") {
			if m := validModel(strings.Trim(w, "()")); m != "" {
				return m
			}
		}
	}
	return ""
}

// cmdlinePreempt returns the last valid preempt= value on a kernel
// command line.
func cmdlinePreempt(s string) string {
	m := ""
	for _, w := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(w, "preempt="); ok {
			if v := validModel(v); v != "" {
				m = v
			}
		}
	}
	return m
}

func validModel(s string) string {
	switch s {
	case PreemptNone, PreemptVoluntary, PreemptFull, PreemptLazy:
		return s
	}
	return ""
}

// configModel is the model a kernel config builds (or boots by default,
// for PREEMPT_DYNAMIC), or "" when it names none.
func configModel(cfg map[string]bool) string {
	switch {
	case cfg["CONFIG_PREEMPT_RT"]:
		return PreemptRT
	case cfg["CONFIG_PREEMPT_LAZY"]:
		return PreemptLazy
	case cfg["CONFIG_PREEMPT"]:
		return PreemptFull
	case cfg["CONFIG_PREEMPT_VOLUNTARY"]:
		return PreemptVoluntary
	case cfg["CONFIG_PREEMPT_NONE"]:
		return PreemptNone
	}
	return ""
}

// readPreemptConfig returns the CONFIG_PREEMPT* options set to y in the
// first readable config file, and its path.
func readPreemptConfig(paths []string) (map[string]bool, string) {
	for _, p := range paths {
		cfg, err := readPreemptConfigFile(p)
		if err == nil {
			return cfg, p
		}
	}
	return map[string]bool{}, ""
}

func readPreemptConfigFile(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	cfg := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && v == "y" && strings.HasPrefix(k, "CONFIG_PREEMPT") {
			cfg[k] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
