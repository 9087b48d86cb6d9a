package auditdconf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func ip(i int) *int { return &i }

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text          string
		flush, qos, logFile string
		freq, qdepth, prio  *int
		err                 bool
	}{
		{name: "debian default", text: "#\n# This file controls the configuration of the audit daemon\n#\n\nlocal_events = yes\nwrite_logs = yes\nlog_file = /var/log/audit/audit.log\nlog_group = adm\nlog_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 8\nq_depth = 2000\npriority_boost = 4\n",
			flush: "incremental_async", logFile: "/var/log/audit/audit.log", freq: ip(50), qdepth: ip(2000), prio: ip(4)},
		{name: "spaces and tabs", text: "  flush\t=\tdata  \n", flush: "data"},
		{name: "no spaces", text: "flush=sync\nfreq=0\n", flush: "sync", freq: ip(0)},
		{name: "auditd 2.x disp_qos", text: "disp_qos = lossy\n", qos: "lossy"},
		{name: "comment", text: "# flush = sync\n", flush: ""},
		{name: "no equals", text: "flush data\n"},
		{name: "bad freq", text: "freq = fast\n", err: true},
		{name: "negative q_depth", text: "q_depth = -1\n", err: true},
		{name: "last one wins", text: "flush = data\nflush = none\n", flush: "none"},
		{name: "keyword with space", text: "fl ush = data\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.text))
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if c.Flush != tc.flush || c.DispQoS != tc.qos || c.LogFile != tc.logFile ||
				!reflect.DeepEqual(c.Freq, tc.freq) || !reflect.DeepEqual(c.QDepth, tc.qdepth) || !reflect.DeepEqual(c.Priority, tc.prio) {
				t.Fatalf("got %+v", c)
			}
		})
	}
}

func TestPluginActive(t *testing.T) {
	for _, tc := range []struct {
		text   string
		active bool
		path   string
	}{
		{"active = yes\ndirection = out\npath = /sbin/audisp-syslog\n", true, "/sbin/audisp-syslog"},
		{"active = no\npath = builtin_af_unix\n", false, "builtin_af_unix"},
		{"active = YES\n", true, ""},
		{"# active = yes\n", false, ""},
	} {
		a, p, err := PluginActive(strings.NewReader(tc.text))
		if err != nil || a != tc.active || p != tc.path {
			t.Errorf("%q: %v %q %v", tc.text, a, p, err)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "auditd.conf")
	plug := filepath.Join(dir, "plugins.d")
	if err := os.Mkdir(plug, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		conf:                                "flush = data\nq_depth = 400\n",
		filepath.Join(plug, "syslog.conf"):  "active = yes\npath = /sbin/audisp-syslog\n",
		filepath.Join(plug, "af_unix.conf"): "active = no\npath = builtin_af_unix\n",
		filepath.Join(plug, "README"):       "active = yes\n",
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := Read(conf, plug)
	if c.Error != "" || c.Flush != "data" || *c.QDepth != 400 || !reflect.DeepEqual(c.Plugins, []string{"syslog (/sbin/audisp-syslog)"}) {
		t.Fatalf("%+v", c)
	}
	if c := Read(filepath.Join(dir, "missing"), plug); c.Error == "" {
		t.Fatal("no error for a missing file")
	}
}

// FuzzParse: any input parses or fails with an error, never panics, and
// a parsed number is never negative.
func FuzzParse(f *testing.F) {
	f.Add("flush = data\nfreq = 20\n")
	f.Add("q_depth=2000\n# x\n\n = \n=\n")
	f.Add("priority_boost = 99999999999999999999\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, p := range []*int{c.Freq, c.QDepth, c.Priority} {
			if p != nil && *p < 0 {
				t.Fatalf("negative number from %q", s)
			}
		}
		if c.Flush != strings.ToLower(c.Flush) {
			t.Fatalf("flush not lower case: %q", c.Flush)
		}
	})
}
