package report

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

// simulated is a bursty 10 s profile that loses records at limit 64, with
// what the simulator leaves out (waits, more rules and processes) filled in.
func simulated(t testing.TB) *profile.Profile {
	t.Helper()
	p, _ := sizingtest.Simulate(10_000, sizingtest.Bursts, 5, 5, 64)
	decorate(p)
	return p
}

func decorate(p *profile.Profile) {
	p.WaitHistogramNs = []profile.HistogramBucket{{Le: 1<<20 - 1, Count: 3}, {Le: 1<<22 - 1, Count: 40}, {Le: 1<<24 - 1, Count: 7}}
	p.Rules[0].SyscallName = "openat"
	p.Rules = append(p.Rules,
		profile.Rule{Key: "exec", Syscall: 59, SyscallName: "execve", Records: 900, Lost: 12, Waits: 3, WaitNs: 4e6},
		profile.Rule{Key: "", Syscall: -1, Records: 40})
	p.Processes = append(p.Processes,
		profile.Process{Tgid: 4242, Comm: "sshd", Records: 700, Lost: 2},
		profile.Process{Tgid: 0, Comm: "other", Records: 30})
}

// dataBlock returns the page's chart data, decoded.
func dataBlock(t *testing.T, html []byte) chartData {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindSubmatch(html)
	if m == nil {
		t.Fatal("page has no report-data block")
	}
	var d chartData
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatalf("report-data: %v", err)
	}
	return d
}

var externalRef = regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?(https?:|//)|@import`)

func TestBuildSimulated(t *testing.T) {
	p := simulated(t)
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	html := string(pg.HTML)
	if pg.Charts != 6 {
		t.Errorf("%d charts, want 6 (depth, lost, rates, waits, rules, processes)", pg.Charts)
	}
	if n := strings.Count(html, "<canvas data-chart="); n != pg.Charts {
		t.Errorf("%d canvases, Page.Charts says %d", n, pg.Charts)
	}
	if loc := externalRef.FindStringIndex(html); loc != nil {
		t.Errorf("page refers to the network: %q", html[max(0, loc[0]-40):min(len(html), loc[1]+40)])
	}
	if !strings.Contains(html, "Chart.js v4.") {
		t.Error("page does not inline Chart.js")
	}
	for _, want := range []string{"recommended backlog_limit: ", "sim", "fentry", "execve", "sshd", "≤ 4.194ms", "silent drops", "peak depth"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	d := dataBlock(t, pg.HTML)
	if d.CurrentLimit != 64 || d.RecommendedLimit <= 64 {
		t.Errorf("limits: current %d, recommended %d", d.CurrentLimit, d.RecommendedLimit)
	}
	if d.Timeline.Step != 1 || len(d.Timeline.MaxDepth) != p.Timeline.Len() {
		t.Errorf("a 1000-bucket timeline was downsampled: step %d, %d points", d.Timeline.Step, len(d.Timeline.MaxDepth))
	}
	// Ranked as sizing ranks them: most records first.
	if len(d.Rules) != 3 || d.Rules[0].Label != "load openat" || d.Rules[2].Label != "(no key) (not a syscall)" {
		t.Errorf("rules %+v", d.Rules)
	}
	if len(d.Processes) != 3 || d.Processes[0].Label != "load 100" || d.Processes[2].Label != "other -" {
		t.Errorf("processes %+v", d.Processes)
	}
}

// TestEscapesProfileStrings: rule keys and comms come from whoever wrote
// the audit rules and named the processes; they must stay text.
func TestEscapesProfileStrings(t *testing.T) {
	p := simulated(t)
	const key = `</script><script>alert(1)</script>`
	const comm = `<img src=x onerror=alert(2)>`
	p.Rules[0].Key = key
	p.Processes[0].Comm = comm
	p.KernelRelease = `6.1"><script>alert(3)</script>`
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	html := string(pg.HTML)
	for _, raw := range []string{key, comm, "<script>alert", "<img"} {
		if strings.Contains(html, raw) {
			t.Errorf("page holds %q unescaped", raw)
		}
	}
	// The page's own three scripts (data, Chart.js, report.js) and no more.
	if n := strings.Count(strings.ToLower(html), "<script"); n != 3 {
		t.Errorf("%d <script> tags, want 3", n)
	}
	if !strings.Contains(html, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the rule table does not show the key as text")
	}
	// Escaped, and still the same string to the charts.
	d := dataBlock(t, pg.HTML)
	if d.Rules[0].Label != key+" openat" || d.Processes[0].Label != comm+" 100" {
		t.Errorf("labels changed on the way: %q, %q", d.Rules[0].Label, d.Processes[0].Label)
	}
}

func TestDownsample(t *testing.T) {
	timeline := func(depth ...uint64) *profile.Timeline {
		tl := &profile.Timeline{BucketNs: 10e6}
		for i, v := range depth {
			tl.Arrivals = append(tl.Arrivals, int64(i+1))
			tl.Drained = append(tl.Drained, uint64(2*i))
			tl.Lost = append(tl.Lost, uint64(i%3))
			tl.MaxDepth = append(tl.MaxDepth, v)
		}
		return tl
	}
	for _, tc := range []struct {
		name      string
		depth     []uint64
		maxPoints int
		step      int
		arrivals  []int64
		drained   []uint64
		lost      []uint64
		maxDepth  []uint64
	}{
		{"empty", nil, 4, 1, []int64{}, []uint64{}, []uint64{}, []uint64{}},
		{"fits", []uint64{5, 1, 7}, 3, 1, []int64{1, 2, 3}, []uint64{0, 2, 4}, []uint64{0, 1, 2}, []uint64{5, 1, 7}},
		{"no bound", []uint64{5, 1, 7}, 0, 1, []int64{1, 2, 3}, []uint64{0, 2, 4}, []uint64{0, 1, 2}, []uint64{5, 1, 7}},
		{"halves", []uint64{5, 1, 7, 2}, 2, 2, []int64{3, 7}, []uint64{2, 10}, []uint64{1, 2}, []uint64{5, 7}},
		// 10 buckets into at most 3 points: 4 per point, the last holds 2.
		{"ragged end", []uint64{1, 9, 2, 3, 4, 4, 8, 4, 0, 6}, 3, 4,
			[]int64{10, 26, 19}, []uint64{12, 44, 34}, []uint64{3, 4, 2}, []uint64{9, 8, 6}},
		{"one point", []uint64{3, 1, 4, 1, 5}, 1, 5, []int64{15}, []uint64{20}, []uint64{4}, []uint64{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := downsample(timeline(tc.depth...), tc.maxPoints)
			if s.Step != tc.step || s.Buckets != len(tc.depth) || s.BucketNs != 10e6 {
				t.Errorf("step %d, buckets %d, bucket_ns %d; want step %d", s.Step, s.Buckets, s.BucketNs, tc.step)
			}
			check := func(name string, got, want any) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				if string(g) != string(w) {
					t.Errorf("%s %s, want %s", name, g, w)
				}
			}
			check("arrivals", s.Arrivals, tc.arrivals)
			check("drained", s.Drained, tc.drained)
			check("lost", s.Lost, tc.lost)
			check("max_depth", s.MaxDepth, tc.maxDepth)
		})
	}
}

// oneHour is a one-hour recording in 10 ms buckets: 360,000 of them.
func oneHour(t testing.TB) *profile.Profile {
	t.Helper()
	p, _ := sizingtest.Simulate(3_600_000, sizingtest.Bursts, 5, 5, 64)
	decorate(p)
	if n := p.Timeline.Len(); n != 360_000 {
		t.Fatalf("%d buckets", n)
	}
	return p
}

func TestOneHourPageSize(t *testing.T) {
	p := oneHour(t)
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one-hour profile (360,000 buckets): %d bytes, %d charts", len(pg.HTML), pg.Charts)
	if len(pg.HTML) > 1<<20 {
		t.Errorf("page is %d bytes, want under 1 MiB", len(pg.HTML))
	}
	s := dataBlock(t, pg.HTML).Timeline
	if len(s.MaxDepth) > MaxPoints || s.Step != 180 {
		t.Errorf("%d points of %d buckets, want at most %d", len(s.MaxDepth), s.Step, MaxPoints)
	}
	// Downsampling keeps the totals and the peak.
	var arrivals int64
	var lost, peak uint64
	for i := range s.MaxDepth {
		arrivals += s.Arrivals[i]
		lost += s.Lost[i]
		peak = max(peak, s.MaxDepth[i])
	}
	if uint64(arrivals) != p.Totals.Records || lost != p.Totals.Lost || peak != p.Totals.MaxDepth {
		t.Errorf("charted %d arrivals, %d lost, peak %d; profile %d, %d, %d",
			arrivals, lost, peak, p.Totals.Records, p.Totals.Lost, p.Totals.MaxDepth)
	}
}

func TestSustainedOverload(t *testing.T) {
	p, _ := sizingtest.Simulate(10_000, func(int) float64 { return 1.5 }, 5, 5, 64)
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := dataBlock(t, pg.HTML); d.RecommendedLimit != 0 || d.CurrentLimit != 64 {
		t.Errorf("overload: recommended line at %d, current at %d", d.RecommendedLimit, d.CurrentLimit)
	}
	html := string(pg.HTML)
	if !strings.Contains(html, "no backlog_limit is enough: sustained overload") || !strings.Contains(html, "No recommended line") {
		t.Error("the page does not say that no limit is enough")
	}
	// No waits in this profile: no histogram chart, a sentence instead.
	if pg.Charts != 5 || !strings.Contains(html, "No producer slept in the backlog wait") {
		t.Errorf("%d charts", pg.Charts)
	}
}

// TestTooLittleStillCharts: a profile too short to size still charts.
func TestTooLittleStillCharts(t *testing.T) {
	p, _ := sizingtest.Simulate(500, sizingtest.Bursts, 5, 5, 64)
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if html := string(pg.HTML); !strings.Contains(html, "no recommendation: the profile holds too little to decide") {
		t.Error("the page does not say why there is no recommendation")
	}
}

func TestRefusesProfilesWithoutTimeline(t *testing.T) {
	p := simulated(t)
	p.Attach = profile.AttachNetlink
	if _, err := Build(p); !errors.Is(err, ErrNoTimeline) || !strings.Contains(err.Error(), "netlink") {
		t.Errorf("netlink profile: %v", err)
	}
	p = simulated(t)
	p.Timeline = profile.Timeline{}
	if _, err := Build(p); !errors.Is(err, ErrNoTimeline) {
		t.Errorf("empty timeline: %v", err)
	}
}

// TestConsumerSection: the consumer's table and diagnosis, escaped, and
// no section without a consumer.
func TestConsumerSection(t *testing.T) {
	p := simulated(t)
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pg.HTML), "<h2>Consumer</h2>") {
		t.Error("a consumer section without a consumer")
	}
	p.Consumer = &profile.Consumer{PID: 321, Received: 1900, ReceivedPerSecond: 190,
		Threads: []profile.ConsumerThread{{TID: 321, Comm: "<b>auditd", Main: true, OnCPUNs: 1e9,
			OffCPUNs: map[string]uint64{profile.ConsumerSync: 7e9, profile.ConsumerWait: 2e9},
			Syscalls: []profile.ConsumerSyscall{{Name: "fdatasync", Class: profile.ConsumerSync, Ns: 7e9}}}},
		Diagnosis: &profile.Diagnosis{Bottleneck: "sync", Text: "auditd spent 70% of the recording in fdatasync (flush = data)"}}
	pg, err = Build(p)
	if err != nil {
		t.Fatal(err)
	}
	html := string(pg.HTML)
	for _, want := range []string{"<h2>Consumer</h2>", "auditd spent 70% of the recording in fdatasync (flush = data)", "&lt;b&gt;auditd (main)", "70.00%", "1,900 (190/s)"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
