package live

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		values []uint64
		scale  uint64
		want   string
	}{
		{[]uint64{0, 128, 256, 300}, 256, "▁▅██"},
		{[]uint64{0, 1, 2, 3, 4, 5, 6, 7}, 7, "▁▂▃▄▅▆▇█"},
		{[]uint64{0, 5}, 0, "▁▁"},
		{nil, 10, ""},
	} {
		if got := Sparkline(tc.values, tc.scale); got != tc.want {
			t.Errorf("Sparkline(%v, %d) = %q, want %q", tc.values, tc.scale, got, tc.want)
		}
	}
}

// renderPair is an overloaded interval: 256 limit, peak 259, losses.
func renderPair() (prev, cur *profile.Profile) {
	depths := make([]uint64, 300)
	for i := range depths {
		depths[i] = uint64(i % 100)
	}
	depths[250] = 259
	prev = &profile.Profile{DurationNs: 2e9, Timeline: timeline(10e9, depths[:200]...),
		Processes: []profile.Process{{Tgid: 4242, Comm: "stress-ng-open", Records: 1000, Lost: 100}},
		Rules:     []profile.Rule{{Key: "file-open", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Records: 1000, Lost: 100}},
		Totals:    profile.Totals{Records: 1000, Queued: 900, Drained: 900, Lost: 100, LostByReason: map[string]uint64{"backlog limit exceeded": 100}}}
	cur = &profile.Profile{DurationNs: 3e9, Attach: "kprobe", Timeline: timeline(10e9, depths...),
		AuditAfter:  &profile.AuditStatus{Backlog: 12, BacklogLimit: 256},
		LoadedRules: []profile.LoadedRule{{Index: 1, Text: "-a always,exit -F arch=b64 -S openat -F key=file-open", List: "exit", Key: "file-open"}},
		Processes: []profile.Process{
			{Tgid: 4242, Comm: "stress-ng-open", Cgroup: "/user.slice/session-3.scope", Records: 3500, Lost: 600, WaitNs: 250e6},
			{Tgid: 7, Comm: "evil\x1b[2J", Records: 10},
			{Tgid: 0, Comm: "other", Records: 40},
		},
		Rules: []profile.Rule{{Key: "file-open", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Matches: []int{1},
			Records: 3550, Lost: 600, WaitNs: 250e6}},
		Totals: profile.Totals{Records: 3550, Queued: 2950, Drained: 2800, Lost: 600, MaxDepth: 259, Waits: 5, WaitNs: 250e6,
			LostByReason: map[string]uint64{"backlog limit exceeded": 590, "rate limit exceeded": 10}},
		Notes: []string{"audit_after is missing"},
	}
	return prev, cur
}

func TestRender(t *testing.T) {
	prev, cur := renderPair()
	var b bytes.Buffer
	if err := Render(&b, Frame(prev, cur, Options{SortBy: ranking.Lost, Top: 2}), 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("escape codes in plain output:\n%q", out)
	}
	for _, want := range []string{
		"auditprof top: 3s since start (kprobe), interval 1s, sorted by lost\n",
		"queue depth    now 12 of backlog_limit 256\n",
		"peak depth     259 in the last 1s, 259 since start\n",
		"depth history  peak of each second, last 3s; █ is 259 (the largest shown)\n",
		"  ▄▄█\n",
		"records/s      2,550 arriving, 2,050 queued, 1,900 drained\n",
		"lost/s         500 (backlog limit exceeded 490, rate limit exceeded 10)\n",
		"waits/s        5, asleep in the backlog wait 250ms per second\n",
		"since start    3,550 records, 600 lost, 5 waits, 250ms asleep\n",
		"PROCESSES (top 2 of 3), by lost records in the last 1s",
		"4242     stress-ng-open  2,500     500   250ms    3,500   600  /user.slice/session-3.scope",
		"RULES (1), by lost records in the last 1s",
		"2,550     500   250ms    3,550   600    openat  #1 -a always,exit -F arch=b64 -S openat -F key=file-open",
		"note: audit_after is missing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}

	// All rows: the overflow row is named, a comm's control characters
	// are not printed.
	b.Reset()
	Render(&b, Frame(prev, cur, Options{}), 0)
	out = b.String()
	for _, want := range []string{"(other processes)", "evil?[2J"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("a comm's escape code reached the output:\n%q", out)
	}

	// Cut to a width; the sparkline keeps the newest seconds, scaled to
	// the limit when nothing shown is above it.
	b.Reset()
	cur.Totals.MaxDepth = 99
	cur.Timeline.Dense().MaxDepth[250] = 0
	Render(&b, Frame(prev, cur, Options{}), 30)
	for line := range strings.Lines(b.String()) {
		if n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n")); n > 30 {
			t.Errorf("line of %d characters at width 30: %q", n, line)
		}
	}
	if !strings.Contains(b.String(), "  ▄▄▄\n") {
		t.Errorf("sparkline scaled to the limit 256 (peaks of 99): %s", b.String())
	}
}

func TestRenderEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, Frame(nil, &profile.Profile{}, Options{}), 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"now ? (AUDIT_GET did not answer)", "PROCESSES (none yet)", "RULES (none yet)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}

func TestTrimRows(t *testing.T) {
	v := View{Processes: make([]ProcessRow, 5), Rules: make([]RuleRow, 2), ProcessRows: 9, RuleRows: 2}
	for _, tc := range []struct{ n, procs, rules int }{
		{0, 5, 2}, {3, 2, 2}, {4, 2, 1}, {5, 1, 1}, {7, 0, 0}, {100, 0, 0},
	} {
		got := TrimRows(v, tc.n)
		if len(got.Processes) != tc.procs || len(got.Rules) != tc.rules || got.ProcessRows != 9 {
			t.Errorf("TrimRows(%d): %d processes, %d rules; want %d, %d", tc.n, len(got.Processes), len(got.Rules), tc.procs, tc.rules)
		}
	}
	if len(v.Processes) != 5 || len(v.Rules) != 2 {
		t.Errorf("TrimRows changed its argument")
	}
}

func TestFit(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width int
		want  string
	}{
		{"abcdef", 3, "abc"},
		{"▁▂▃▄", 2, "▁▂"},
		{"ab", 5, "ab"},
		{"abc", 0, "abc"},
	} {
		if got := Fit(tc.s, tc.width); got != tc.want {
			t.Errorf("Fit(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		in     string
		sortBy string
		want   string
		quit   bool
	}{
		{"l", ranking.Records, ranking.Lost, false},
		{"w", ranking.Records, ranking.Wait, false},
		{"r", ranking.Wait, ranking.Records, false},
		{"W", ranking.Records, ranking.Wait, false},
		{"lw", ranking.Records, ranking.Wait, false}, // the last one read wins
		{"x", ranking.Lost, ranking.Lost, false},
		{"q", ranking.Lost, ranking.Lost, true},
		{"Q", ranking.Lost, ranking.Lost, true},
		{"\x03", ranking.Records, ranking.Records, true}, // Ctrl-C in raw mode
		{"\x04", ranking.Records, ranking.Records, true}, // Ctrl-D
		{"lq", ranking.Records, ranking.Lost, true},
		{"\x1b[A", ranking.Lost, ranking.Lost, false},       // up arrow
		{"\x1b[1;5D", ranking.Lost, ranking.Lost, false},    // Ctrl-left
		{"\x1b[21~", ranking.Wait, ranking.Wait, false},     // F10
		{"\x1bOR", ranking.Wait, ranking.Wait, false},       // F3: its R is not r
		{"\x1bq", ranking.Wait, ranking.Wait, false},        // Alt-q
		{"\x1b[Bw", ranking.Records, ranking.Wait, false},   // a key after a sequence
		{"\x1b", ranking.Records, ranking.Records, false},   // Esc alone
		{"\x1b[", ranking.Records, ranking.Records, false},  // a sequence cut short
		{"\x1b[Aq", ranking.Records, ranking.Records, true}, // arrow then q
		{"", ranking.Records, ranking.Records, false},
	} {
		got, quit := Keys([]byte(tc.in), tc.sortBy)
		if got != tc.want || quit != tc.quit {
			t.Errorf("Keys(%q, %s) = %s, %v; want %s, %v", tc.in, tc.sortBy, got, quit, tc.want, tc.quit)
		}
	}
}
