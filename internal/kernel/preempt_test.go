package kernel

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreemptionModel runs PreemptionModel over fake files for each kind
// of kernel.
func TestPreemptionModel(t *testing.T) {
	const debian612 = "#1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)\n"
	dynVoluntary := "CONFIG_PREEMPT_BUILD=y\nCONFIG_PREEMPT_VOLUNTARY=y\n# CONFIG_PREEMPT is not set\nCONFIG_PREEMPT_COUNT=y\nCONFIG_PREEMPTION=y\nCONFIG_PREEMPT_DYNAMIC=y\nCONFIG_HZ=250\n"
	cases := []struct {
		name  string
		files map[string]string // realtime, sched, cmdline, version, config, config.gz
		uname string
		model string
		src   string // a substring of Source
		pre   bool
	}{
		{name: "debian 6.12 cloud default, debugfs", files: map[string]string{
			"sched": "none (voluntary) full \n", "version": debian612, "cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro console=ttyS0", "config": dynVoluntary},
			model: "voluntary", src: "/sched"},
		{name: "debian 6.12 cloud default, no debugfs", files: map[string]string{
			"version": debian612, "cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro console=ttyS0", "config": dynVoluntary},
			model: "voluntary", src: "boot default of a PREEMPT_DYNAMIC kernel"},
		{name: "debian 6.12 preempt=full, debugfs", files: map[string]string{
			"sched": "none voluntary (full) \n", "version": debian612, "cmdline": "root=/dev/sda1 preempt=full", "config": dynVoluntary},
			model: "full", src: "/sched", pre: true},
		{name: "debian 6.12 preempt=full, no debugfs", files: map[string]string{
			"version": debian612, "cmdline": "root=/dev/sda1 preempt=full", "config": dynVoluntary},
			model: "full", src: "cmdline", pre: true},
		{name: "6.12 preempt=full, config.gz only", files: map[string]string{
			"cmdline": "root=/dev/sda1 preempt=full quiet", "config.gz": dynVoluntary},
			model: "full", src: "cmdline", pre: true},
		{name: "6.13 lazy, debugfs", files: map[string]string{
			"sched": "none voluntary full (lazy) \n", "version": "#1 SMP PREEMPT_DYNAMIC Fri Jan 24 10:00:00 UTC 2025"},
			model: "lazy", src: "/sched", pre: true},
		{name: "6.13 preempt=lazy on cmdline", files: map[string]string{
			"version": "#1 SMP PREEMPT_DYNAMIC Fri Jan 24 10:00:00 UTC 2025", "cmdline": "preempt=lazy"},
			model: "lazy", src: "cmdline", pre: true},
		{name: "rt, /sys/kernel/realtime", files: map[string]string{
			"realtime": "1\n", "sched": "(full) lazy \n", "version": "#1 SMP PREEMPT_RT Debian 6.12.38-1 (2025-07-16)"},
			model: "rt", src: "realtime", pre: true},
		{name: "rt, uname -v only", files: map[string]string{"version": "#1 SMP PREEMPT_RT Debian 6.12.38-1 (2025-07-16)"},
			model: "rt", src: "version", pre: true},
		{name: "rt, uname syscall", uname: "#1 SMP PREEMPT_RT Thu Jan 1 00:00:00 UTC 2025",
			model: "rt", src: "uname -v", pre: true},
		{name: "CONFIG_PREEMPT build", files: map[string]string{"version": "#1 SMP PREEMPT Thu Jan 1 00:00:00 UTC 2025"},
			model: "full", src: "version", pre: true},
		{name: "PREEMPT_LAZY build", files: map[string]string{"version": "#1 SMP PREEMPT_LAZY Thu Jan 1 00:00:00 UTC 2025"},
			model: "lazy", src: "version", pre: true},
		{name: "debian 6.1 voluntary build", files: map[string]string{
			"version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)", "config": dynVoluntary, "cmdline": "ro quiet"},
			model: "voluntary", src: "boot default"},
		{name: "rhel voluntary, no config", files: map[string]string{"version": "#1 SMP Thu Jan 1 00:00:00 UTC 2025"},
			model: "voluntary", src: "names no PREEMPT"},
		{name: "none from config", files: map[string]string{"config": "CONFIG_PREEMPT_NONE=y\n"},
			model: "none", src: "config"},
		{name: "full from config", files: map[string]string{"config": "CONFIG_PREEMPT_BUILD=y\nCONFIG_PREEMPT=y\n"},
			model: "full", src: "config", pre: true},
		{name: "realtime 0 ignored", files: map[string]string{"realtime": "0\n", "version": "#1 SMP Debian"},
			model: "voluntary", src: "version"},
		{name: "dynamic, nothing says which", files: map[string]string{"version": debian612, "cmdline": "ro"},
			model: "unknown", src: "PREEMPT_DYNAMIC"},
		{name: "preempt= on a non-dynamic kernel is ignored", files: map[string]string{
			"version": "#1 SMP Thu Jan 1", "cmdline": "preempt=full"},
			model: "voluntary", src: "version"},
		{name: "unknown", model: "unknown", src: "could be read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := func(name string) string { return filepath.Join(dir, name) }
			for name, body := range c.files {
				if name == "config.gz" {
					f, err := os.Create(path(name))
					if err != nil {
						t.Fatal(err)
					}
					zw := gzip.NewWriter(f)
					zw.Write([]byte(body))
					zw.Close()
					f.Close()
					continue
				}
				if err := os.WriteFile(path(name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			setPreemptPaths(t, path("realtime"), path("sched"), path("cmdline"), path("version"),
				[]string{path("config.gz"), path("config")}, c.uname)
			got := PreemptionModel()
			if got.Model != c.model || !strings.Contains(got.Source, c.src) || got.Preemptible() != c.pre {
				t.Errorf("PreemptionModel() = %+v (preemptible %v), want model %s, source with %q, preemptible %v",
					got, got.Preemptible(), c.model, c.src, c.pre)
			}
			t.Logf("%s", got)
		})
	}
}

func setPreemptPaths(t *testing.T, realtime, sched, cmdline, version string, configs []string, uname string) {
	t.Helper()
	oR, oS, oC, oV, oU, oP := realtimePath, schedPreemptPath, cmdlinePath, versionPath, unameVersion, preemptConfigPaths
	realtimePath, schedPreemptPath, cmdlinePath, versionPath = realtime, sched, cmdline, version
	unameVersion = func() string { return uname }
	preemptConfigPaths = func() []string { return configs }
	t.Cleanup(func() {
		realtimePath, schedPreemptPath, cmdlinePath, versionPath, unameVersion, preemptConfigPaths = oR, oS, oC, oV, oU, oP
	})
}

func TestParseSchedPreempt(t *testing.T) {
	for in, want := range map[string]string{
		"none (voluntary) full \n":      "voluntary",
		"(none) voluntary full lazy \n": "none",
		"none voluntary (full) lazy \n": "full",
		"(full) lazy \n":                "full",
		"none voluntary full (lazy) \n": "lazy",
		"none voluntary full \n":        "",
		"":                              "",
	} {
		if got := parseSchedPreempt(in); got != want {
			t.Errorf("parseSchedPreempt(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPreemptionModelHere reads this machine's model; it only logs.
func TestPreemptionModelHere(t *testing.T) {
	p := PreemptionModel()
	t.Logf("%s (preemptible %v)", p, p.Preemptible())
}
