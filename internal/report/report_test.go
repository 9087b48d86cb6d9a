package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing"
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
		profile.Rule{Key: "", Syscall: profile.SyscallNone, Records: 40})
	p.Processes = append(p.Processes,
		profile.Process{Tgid: 4242, Comm: "sshd", Records: 700, Lost: 2},
		profile.Process{Tgid: 0, Comm: "other", Records: 30})
}

// stalledProfile is a steady load (1.25 records a millisecond) whose
// consumer (5 a millisecond) stops from 3.0 s to 3.5 s: the queue, never
// near the limit in force (5000), grows by the arrivals over the stop and
// drains after it. Its recommendation rides out a stall of that length.
func stalledProfile() *profile.Profile {
	p, _ := sizingtest.SimulateConsumer(8_000, func(int) float64 { return 0.25 }, 5, sizingtest.StoppedFor(5, 3000, 3500), 5000)
	return p
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
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
	if len(d.Processes) != 3 || d.Processes[0].Label != "load 100" || d.Processes[2].Label != "other (processes that did not fit)" {
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
			tl.Dense().Arrivals = append(tl.Dense().Arrivals, int64(i+1))
			tl.Dense().Drained = append(tl.Dense().Drained, uint64(2*i))
			tl.Dense().Lost = append(tl.Dense().Lost, uint64(i%3))
			tl.Dense().MaxDepth = append(tl.Dense().MaxDepth, v)
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
			s, err := downsample(timeline(tc.depth...), tc.maxPoints)
			if err != nil {
				t.Fatal(err)
			}
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
	// The replayed series are folded the same way, and keep their peak.
	rec, err := sizing.Recommend(p, sizing.Options{Stall: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := dataBlock(t, pg.HTML).Replay
	if len(r.NoLimit) != len(s.MaxDepth) || len(r.AtLimit) != len(s.MaxDepth) {
		t.Errorf("%d recorded points, %d and %d replayed", len(s.MaxDepth), len(r.NoLimit), len(r.AtLimit))
	}
	if got := maxOf(r.NoLimit); got != rec.PeakDepth {
		t.Errorf("downsampled no-limit series peaks at %v, the recommendation's peak depth is %v", got, rec.PeakDepth)
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
	// The replay with no limit is drawn (it keeps growing); none at a
	// limit, and the page says why.
	if r := dataBlock(t, pg.HTML).Replay; len(r.NoLimit) != p.Timeline.Len() || r.AtLimit != nil || r.StallNs != 0 {
		t.Errorf("overload: %d no-limit points, %d at a limit, stall %d ns", len(r.NoLimit), len(r.AtLimit), r.StallNs)
	}
	if !strings.Contains(html, "Nothing is replayed at a recommended limit: under sustained overload") {
		t.Error("the page does not say why nothing is replayed at a limit")
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
	if html := string(pg.HTML); !strings.Contains(html, "no recommendation: the profile holds too little to decide") ||
		!strings.Contains(html, "The model&#39;s replay is not drawn: there is no recommendation") {
		t.Error("the page does not say why there is no recommendation, nor replay")
	}
	if r := dataBlock(t, pg.HTML).Replay; r.NoLimit != nil || r.AtLimit != nil {
		t.Errorf("a replay without a demand: %d and %d points", len(r.NoLimit), len(r.AtLimit))
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
	withConsumer(p)
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
	// The time budget as a chart: the table's shares, in percent, one
	// bar per thread.
	if pg.Charts != 7 || strings.Count(html, `<canvas data-chart="consumer"`) != 1 {
		t.Errorf("%d charts, want 7 (the six and auditd's time)", pg.Charts)
	}
	c := dataBlock(t, pg.HTML).Consumer
	if c == nil {
		t.Fatal("no consumer chart data")
	}
	if !slices.Equal(c.Causes, consumer.Causes[:]) || !slices.Equal(c.Threads, []string{"<b>auditd (main) 321", "auditd 322"}) {
		t.Errorf("causes %q, threads %q", c.Causes, c.Threads)
	}
	want := [][]float64{{10, 50}, {0, 0}, {20, 25}, {0, 0}, {70, 0}, {0, 25}, {0, 0}}
	for i := range want {
		for j := range want[i] {
			if math.Abs(c.Percent[i][j]-want[i][j]) > 1e-9 {
				t.Fatalf("percent %v, want %v", c.Percent, want)
			}
		}
	}
}

// withConsumer gives p a consumer section: auditd's main thread mostly
// in fdatasync, and a second thread.
func withConsumer(p *profile.Profile) *profile.Profile {
	p.Consumer = &profile.Consumer{PID: 321, Received: 1900, ReceivedPerSecond: 190,
		Threads: []profile.ConsumerThread{{TID: 321, Comm: "<b>auditd", Main: true, OnCPUNs: 1e9,
			OffCPUNs: map[string]uint64{profile.ConsumerSync: 7e9, profile.ConsumerWait: 2e9},
			Syscalls: []profile.ConsumerSyscall{{Name: "fdatasync", Class: profile.ConsumerSync, Ns: 7e9}}},
			{TID: 322, Comm: "auditd", OnCPUNs: 2e9, OffCPUNs: map[string]uint64{profile.ConsumerWait: 1e9, profile.ConsumerLock: 1e9}}},
		Diagnosis: &profile.Diagnosis{Bottleneck: "sync", Text: "auditd spent 70% of the recording in fdatasync (flush = data)"}}
	return p
}

// TestReplaySeries: the depth chart carries the queue the recommendation
// was sized on. With no limit it follows the recorded queue where the
// limit in force clipped nothing, and peaks at the recommendation's
// PeakDepth; at the recommended limit, with the stall at StallAt, it
// grows by the arrivals over the stall and peaks at the minimum limit.
func TestReplaySeries(t *testing.T) {
	p := stalledProfile()
	rec, err := sizing.Recommend(p, sizing.Options{Stall: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Stall == 0 || rec.SustainedOverload {
		t.Fatalf("no stall to chart: %+v", rec)
	}
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	d := dataBlock(t, pg.HTML)
	r, n := d.Replay, p.Timeline.Len()
	if len(r.NoLimit) != n || len(r.AtLimit) != n || len(d.Timeline.MaxDepth) != n {
		t.Fatalf("%d buckets: %d no-limit points, %d at-limit points, %d recorded", n, len(r.NoLimit), len(r.AtLimit), len(d.Timeline.MaxDepth))
	}
	if got := maxOf(r.NoLimit); got != rec.PeakDepth {
		t.Errorf("no-limit series peaks at %v, the recommendation's peak depth is %v", got, rec.PeakDepth)
	}
	for i, v := range r.NoLimit {
		if rec := float64(d.Timeline.MaxDepth[i]); math.Abs(v-rec) > 15 {
			t.Errorf("bucket %d: replayed %v, recorded %v", i, v, rec)
		}
	}
	if r.StallAtNs != int64(rec.StallAt) || r.StallNs != int64(rec.Stall) {
		t.Errorf("stall band at %d for %d ns, the recommendation's stall at %s for %s", r.StallAtNs, r.StallNs, rec.StallAt, rec.Stall)
	}
	// In the stall the consumer takes nothing: the queue at its last
	// bucket holds at least every record that arrived in it.
	first := int(r.StallAtNs / p.Timeline.BucketNs)
	last := first + int(r.StallNs/p.Timeline.BucketNs) - 1
	var arrived int64
	for i := first; i <= last; i++ {
		arrived += p.Timeline.Dense().Arrivals[i]
	}
	// The stall sized for stands for the recorded one (the recording's
	// longest, by default): it may sit where that one was, and its queue
	// is at least the recording's there.
	if r.AtLimit[last] < float64(arrived) || r.AtLimit[last] < r.NoLimit[last] {
		t.Errorf("at the stall's last bucket %d: %v queued at the limit, %v replayed from the recording; %d arrived in the stall", last, r.AtLimit[last], r.NoLimit[last], arrived)
	}
	// Nothing is dropped at the recommended limit, so the queue takes the
	// path it takes at the minimum: its peak is the minimum, within 1%
	// (the minimum may clip half a record of the bursts riding on top),
	// or below it where the minimum is the depth the queue really held
	// (Totals.MaxDepth, a floor).
	top := maxOf(r.AtLimit)
	floored := rec.MinimumFloored && top <= float64(rec.MinimumLimit)
	if !floored && math.Abs(top-float64(rec.MinimumLimit)) > 0.01*float64(rec.MinimumLimit) || top > float64(rec.BacklogLimit)+1 {
		t.Errorf("at-limit series peaks at %v; minimum %d, recommended %d", top, rec.MinimumLimit, rec.BacklogLimit)
	}
	stall := human.Duration(uint64(rec.Stall))
	for got, want := range map[string]string{
		d.DepthLabel:   "recorded depth (clipped at the limit in force)",
		r.NoLimitLabel: "replayed, no limit",
		r.AtLimitLabel: fmt.Sprintf("replayed at %d with a %s stall", rec.BacklogLimit, stall),
		r.StallLabel:   fmt.Sprintf("the stall it rides out (%s from %s)", stall, human.Duration(uint64(rec.StallAt))),
	} {
		if got != want {
			t.Errorf("label %q, want %q", got, want)
		}
	}
	if !strings.Contains(string(pg.HTML), "the consumer taking nothing for "+stall) {
		t.Error("the page does not say what the replayed series are")
	}
}

// TestStalls: the page says the consumer's stalls as the summary and
// recommend do; a consumer stopped for 2 s in the simulation is one stall
// of about that long.
func TestStalls(t *testing.T) {
	p, _ := sizingtest.SimulateConsumer(8000, func(int) float64 { return 0.25 }, 5, sizingtest.StoppedFor(5, 3000, 5000), 0)
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `<p class="note" id="stalls">Consumer stalls: 1 interval with records queued and none taken (to the 10ms bucket); the longest 1.98s, 3.01s into the recording; by length: 1 of 1.28s-2.56s.</p>`
	if !strings.Contains(string(pg.HTML), want) {
		t.Errorf("page lacks %s", want)
	}
}

// TestSettingChanges: the page lists the settings' changes, each with its
// time and sender (escaped: a comm is the process's to choose), and says
// the limit and wait time shown are the ones at the start.
func TestSettingChanges(t *testing.T) {
	p := simulated(t)
	p.Settings = []profile.SettingChange{
		{MonoNs: p.Timeline.StartNs + 2500e6, Field: profile.SettingBacklogLimit, Old: 64, New: 20000, Seen: profile.SeenKernel,
			By: &profile.SettingSender{Tgid: 812, PID: 812, Comm: "<b>auditctl", Auid: 1000, Ses: 3}},
		{MonoNs: p.Timeline.StartNs + 7e9, SinceNs: p.Timeline.StartNs + 6e9, Field: profile.SettingPID, Old: 640, New: 0, Seen: profile.SeenPoll},
	}
	pg, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	html := string(pg.HTML)
	for _, want := range []string{"64 at the start", "changed at &#43;2.5s", "backlog_limit 64 -&gt; 20000 by &lt;b&gt;auditctl (pid 812, auid 1000)",
		"changed at &#43;7s", "pid 640 -&gt; 0 (between the AUDIT_GET replies at &#43;6s and &#43;7s)"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
