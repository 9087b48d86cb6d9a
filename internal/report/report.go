// Package report renders a recorded profile as one self-contained HTML page
// of charts: queue depth, recorded and as the model replays it (the
// evidence behind the recommendation), against the limits; arrivals
// against drain (and the consumer's stalls); the wait-time histogram; the
// noisiest rules and processes; and auditd's time by cause.
//
// The page needs no network: Chart.js (assets/, see its README) and the
// page's own script are inlined. Profile data reaches the script as one JSON
// block that html/template escapes, so strings from the profile (rule keys,
// comms) cannot break out of it; tables are built by html/template too.
package report

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
	"github.com/auditprof/auditprof/internal/sizing"
)

//go:embed assets/chart.umd.min.js
var chartJS string

//go:embed report.js
var pageJS string

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Parse(pageTemplate))

// Bounds of the page.
const (
	// MaxPoints bounds the points of each timeline series: a chart
	// cannot show more than its width in pixels anyway, and a one-hour
	// recording in 10 ms buckets (360,000) would make a page of megabytes.
	MaxPoints = 2000
	// Top is how many rules and processes the page ranks.
	Top = 10
)

// ErrNoTimeline is returned (wrapped) for profiles without a per-bucket
// queue timeline to chart.
var ErrNoTimeline = errors.New("the profile has no queue timeline to chart")

// Page is a rendered report.
type Page struct {
	HTML []byte
	// Charts is how many charts the page draws: its script sets
	// data-charts-expected on <body> to the same number.
	Charts int
}

// Build renders the report of p.
func Build(p *profile.Profile) (*Page, error) {
	if p.Attach == profile.AttachNetlink {
		return nil, fmt.Errorf("%w: it was recorded over netlink, which sees neither the queue's drain nor its depth between samples", ErrNoTimeline)
	}
	if p.Timeline.Len() == 0 || p.Timeline.BucketNs <= 0 {
		return nil, fmt.Errorf("%w: the timeline has no buckets", ErrNoTimeline)
	}
	// ReadFile validates; a profile built in memory may not have been.
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	recNote := ""
	// The stall is recommend's default (the longest the recording shows),
	// so the page recommends what `recommend --profile` does.
	rec, err := sizing.Recommend(p, sizing.Options{Stall: -1})
	switch {
	case errors.Is(err, sizing.ErrTooLittle):
		// The charts still say what happened; only the advice is missing.
		recNote = "no recommendation: " + err.Error()
	case err != nil:
		return nil, fmt.Errorf("recommending a limit: %w", err)
	}
	v, err := newView(p, rec, recNote)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("rendering report: %w", err)
	}
	return &Page{HTML: buf.Bytes(), Charts: v.charts()}, nil
}

// view is what the template renders.
type view struct {
	Title          string
	Facts          []fact
	Totals         []fact
	Recommendation string
	// Overload is set when no limit is enough: the depth chart then has
	// no recommended line, and the page says why.
	Overload bool
	Notes    []string
	// PointNote says how many buckets one chart point sums, when more
	// than one.
	PointNote string
	// ReplayNote says what the replayed series are, or why one is missing.
	ReplayNote string
	LostNone   bool
	Waits      bool
	Rules      []ruleRow
	Processes  []processRow
	// Programs rank every record by program (profile.ByProgram); Units
	// the same rows summed by cgroup.
	Programs []programRow
	Units    []unitRow
	// RulePrograms is set when a rule row names the programs firing it.
	RulePrograms bool
	// Stalls says the consumer's stalls the timeline shows, as record's
	// summary and recommend say them.
	Stalls string
	// Consumer is auditd's and kauditd's time, when measured.
	Consumer *consumerView
	Data     chartData
	ChartJS  template.JS
	PageJS   template.JS
}

type fact struct{ Name, Value string }

type ruleRow struct {
	Key, Syscall                  string
	Records, Lost, Waits, WaitFor string
	// Programs are the programs firing the rule, with their shares.
	Programs string
}

// consumerView is record's consumer section as the page shows it.
type consumerView struct {
	Facts     []fact
	Threads   []consumer.Row
	Diagnosis string
	Advice    string
}

func newConsumerView(c *profile.Consumer) *consumerView {
	if c == nil {
		return nil
	}
	cv := &consumerView{}
	if c.PID != 0 {
		cv.Facts = append(cv.Facts, fact{"auditd pid", fmt.Sprint(c.PID)},
			fact{"records received", fmt.Sprintf("%s (%.0f/s)", humanize.Comma(int64(c.Received)), c.ReceivedPerSecond)})
	} else {
		cv.Facts = append(cv.Facts, fact{"auditd", "none registered"})
	}
	if s := c.Socket; s != nil {
		cv.Facts = append(cv.Facts, fact{"socket drops", humanize.Comma(int64(s.Drops))})
	}
	if k := c.Kauditd; k != nil {
		cv.Facts = append(cv.Facts, fact{"kauditd blocked sending", human.Duration(k.SendBlockedNs)},
			fact{"kauditd in retry/hold passes", human.Duration(k.SendRetryNs + k.SendHoldNs)})
	}
	if cf := c.Config; cf != nil && cf.Flush != "" {
		cv.Facts = append(cv.Facts, fact{"flush", cf.Flush})
	}
	for _, t := range c.Threads {
		cv.Threads = append(cv.Threads, consumer.ThreadRow(t))
	}
	if d := c.Diagnosis; d != nil {
		cv.Diagnosis, cv.Advice = d.Text, d.Advice
	}
	return cv
}

type programRow struct {
	Program, Parent, Unit, Processes, PerProcess string
	Records, Lost, Waits, WaitFor                string
}

type processRow struct {
	Comm, Tgid                    string
	Records, Lost, Waits, WaitFor string
}

// chartData is the JSON the page's script charts. Names are short because
// the series are the bulk of the page.
type chartData struct {
	Timeline series `json:"timeline"`
	// DepthLabel names the recorded depth series.
	DepthLabel string `json:"depth_label"`
	// Replay is the queue the model replays, on Timeline's points.
	Replay replaySeries `json:"replay"`
	// CurrentLimit is backlog_limit during the recording (0: unknown or
	// unlimited, no line); RecommendedLimit 0 means none.
	CurrentLimit     uint32     `json:"current_limit"`
	RecommendedLimit uint32     `json:"recommended_limit"`
	Waits            histogram  `json:"waits"`
	Rules            []barEntry `json:"rules"`
	Processes        []barEntry `json:"processes"`
	// Consumer is auditd's time by cause, nil without its threads.
	Consumer *consumerChart `json:"consumer,omitempty"`
}

// consumerChart is auditd's threads' time by cause, as stacked bars: the
// consumer table's own shares (consumer.Row.Shares), in percent.
type consumerChart struct {
	Causes  []string `json:"causes"`
	Threads []string `json:"threads"`
	// Percent[c][t] is the share of thread t's time in cause c.
	Percent [][]float64 `json:"percent"`
}

func newConsumerChart(rows []consumer.Row) *consumerChart {
	if len(rows) == 0 {
		return nil
	}
	c := &consumerChart{Causes: consumer.Causes[:], Percent: make([][]float64, len(consumer.Causes))}
	for _, r := range rows {
		c.Threads = append(c.Threads, r.Name+" "+r.TID)
		for i, s := range r.Shares {
			c.Percent[i] = append(c.Percent[i], 100*s)
		}
	}
	return c
}

// replaySeries is the queue the recommendation was sized on, point by
// point as Timeline (each point the deepest of its buckets): the evidence
// behind the recommended number, next to what the queue recorded.
type replaySeries struct {
	// NoLimit is the replay with no limit of the demand Recommend sized
	// (its largest is Recommendation.PeakDepth); nil without a demand.
	NoLimit      []float64 `json:"no_limit,omitempty"`
	NoLimitLabel string    `json:"no_limit_label,omitempty"`
	// AtLimit is the replay at the recommended limit, wait time 0, with
	// the consumer taking nothing for StallNs from StallAtNs (no stall
	// when StallNs is 0): what the recommendation claims holds. Nil
	// without a recommended limit.
	AtLimit      []float64 `json:"at_limit,omitempty"`
	AtLimitLabel string    `json:"at_limit_label,omitempty"`
	StallAtNs    int64     `json:"stall_at_ns"`
	StallNs      int64     `json:"stall_ns"`
	StallLabel   string    `json:"stall_label,omitempty"`
}

type histogram struct {
	Labels []string `json:"labels"`
	Counts []uint64 `json:"counts"`
}

type barEntry struct {
	Label   string `json:"label"`
	Records uint64 `json:"records"`
	Lost    uint64 `json:"lost"`
	Waits   uint64 `json:"waits"`
}

// charts counts the charts the template draws (see report.html.tmpl).
func (v *view) charts() int {
	n := 3 // depth, lost, arrivals against drain
	if v.Waits {
		n++
	}
	if len(v.Rules) > 0 {
		n++
	}
	if len(v.Processes) > 0 {
		n++
	}
	if v.Data.Consumer != nil {
		n++
	}
	return n
}

func newView(p *profile.Profile, rec *sizing.Recommendation, recNote string) (*view, error) {
	t := &p.Totals
	v := &view{
		Title:  fmt.Sprintf("auditprof: %s on %s", time.Duration(p.DurationNs).Round(time.Millisecond), p.KernelRelease),
		Notes:  append([]string(nil), p.Notes...),
		PageJS: template.JS(pageJS),
		// The library is a vendored file, not data: trusted as is.
		ChartJS: template.JS(chartJS),
	}
	if u := p.Unfinished(); u != "" && p.Checkpoint != nil {
		// A journal's own note says it; a checkpoint's says it here.
		v.Notes = append([]string{"this profile is " + u}, v.Notes...)
	}
	hz := "unknown"
	if p.HZ > 0 {
		hz = fmt.Sprint(p.HZ)
		if p.HZSource != "" {
			hz += " (" + p.HZSource + ")"
		}
	}
	attach := p.Attach
	if p.AttachNote != "" {
		attach += ": " + p.AttachNote
	}
	v.Facts = []fact{
		{"kernel", p.KernelRelease},
		{"attach", attach},
		{"duration", time.Duration(p.DurationNs).Round(time.Millisecond).String()},
		{"HZ", hz},
		{"timeline", fmt.Sprintf("%s buckets of %s", humanize.Comma(int64(p.Timeline.Len())), time.Duration(p.Timeline.BucketNs))},
	}
	if p.StartUnixNs > 0 {
		v.Facts = append(v.Facts, fact{"started", time.Unix(0, p.StartUnixNs).UTC().Format(time.RFC3339)})
	}
	if a := p.AuditBefore; a != nil {
		limit := fmt.Sprint(a.BacklogLimit)
		if a.BacklogLimit == 0 {
			limit = "0 (unlimited)"
		}
		wait := fmt.Sprintf("%d jiffies (%s)", a.BacklogWaitTime, human.Jiffies(a.BacklogWaitTime, p.HZ))
		if len(p.Settings) > 0 {
			limit += " at the start"
			wait += " at the start"
		}
		v.Facts = append(v.Facts, fact{"backlog_limit", limit}, fact{"backlog_wait_time", wait})
	}
	// The settings' changes, one fact each (issue 20).
	for _, c := range p.Settings {
		v.Facts = append(v.Facts, fact{"changed at +" + time.Duration(c.MonoNs-p.Timeline.StartNs).Round(time.Millisecond).String(), c.Describe(p.Timeline.StartNs)})
	}
	gaps, err := p.ConsumerGaps()
	if err != nil {
		return nil, err
	}
	for _, g := range gaps {
		v.Facts = append(v.Facts, fact{g.Cause, p.DescribeGap(g)})
	}
	v.Totals = []fact{
		{"records", humanize.Comma(int64(t.Records))},
		{"queued", humanize.Comma(int64(t.Queued))},
		{"lost", humanize.Comma(int64(t.Lost)) + lostShare(t.Lost, t.Records)},
		{"silent drops", humanize.Comma(int64(t.SilentDrops))},
		{"waits", fmt.Sprintf("%s (%s asleep)", humanize.Comma(int64(t.Waits)), time.Duration(t.WaitNs).Round(time.Millisecond))},
		{"peak depth", humanize.Comma(int64(t.MaxDepth))},
	}
	if b := sizing.RecordBytes(p); b > 0 {
		v.Totals = append(v.Totals, fact{"record size", fmt.Sprintf("%.0f B average", b)})
	}

	tl, err := downsample(&p.Timeline, MaxPoints)
	if err != nil {
		return nil, err
	}
	v.Data.Timeline = tl
	if s := v.Data.Timeline.Step; s > 1 {
		v.PointNote = fmt.Sprintf("%s buckets of %s make one point of %s: counts are summed (rates are their averages over the point), depth is the maximum",
			humanize.Comma(int64(s)), time.Duration(p.Timeline.BucketNs), time.Duration(int64(s)*p.Timeline.BucketNs))
	}
	v.LostNone = t.Lost == 0
	if p.AuditBefore != nil {
		v.Data.CurrentLimit = p.AuditBefore.BacklogLimit
	}
	v.Data.DepthLabel = "recorded depth"
	if v.Data.CurrentLimit > 0 {
		v.Data.DepthLabel = "recorded depth (clipped at the limit in force)"
	}
	v.Data.Replay, v.ReplayNote = newReplay(rec, v.Data.Timeline.Step)
	switch {
	case rec == nil:
		v.Recommendation = recNote
	case rec.SustainedOverload:
		v.Overload = true
		drain := "the consumer"
		if rec.Demand != nil {
			drain = fmt.Sprintf("the consumer (%s records/s)", human.Count(rec.Demand.DrainRate))
		}
		v.Recommendation = fmt.Sprintf("no backlog_limit is enough: sustained overload. Arrivals (%s records/s) outran %s and the queue never caught up; a limit of %d would have ridden out this recording only, and each further minute needs about %s more slots. Fix the source: the noisiest rules and processes below, or the consumer.",
			human.Count(rec.ArrivalRate), drain, rec.RideOut, human.Count(rec.GrowthPerMinute))
	default:
		v.Data.RecommendedLimit = rec.BacklogLimit
		v.Recommendation = fmt.Sprintf("recommended backlog_limit: %d (smallest lossless in the replay %d, x%.2f headroom); a full queue holds %s, the usual x8970 B advice says %s, an upper bound",
			rec.BacklogLimit, rec.MinimumLimit, rec.Headroom, human.FullQueue(rec.MemoryBytes, rec.RecordBytes), humanize.IBytes(rec.MemoryBytesUpperBound))
		if rec.Stall > 0 {
			v.Recommendation = fmt.Sprintf("recommended backlog_limit: %d (smallest lossless in the replay with the consumer taking nothing for %s at %s, the recording's longest stall, %d: x%.2f headroom on the %d it needs without the stall, plus what the stall adds); a full queue holds %s, the usual x8970 B advice says %s, an upper bound",
				rec.BacklogLimit, human.Duration(uint64(rec.Stall)), human.Duration(uint64(rec.StallAt)), rec.MinimumLimit, rec.Headroom, rec.NoStallMinimum,
				human.FullQueue(rec.MemoryBytes, rec.RecordBytes), humanize.IBytes(rec.MemoryBytesUpperBound))
		}
		if rec.OverBudget {
			v.Recommendation += fmt.Sprintf("; over the memory budget: the largest limit within it, %d, loses %s records in the replay", rec.BudgetLimit, human.Count(rec.BudgetLost))
		}
	}

	v.Data.Waits = waitHistogram(p.WaitHistogramNs)
	v.Waits = len(v.Data.Waits.Counts) > 0
	for _, r := range ranking.NoisiestRules(p, Top) {
		key, sc := human.Key(r.Key), r.SyscallLabel()
		progs := rulePrograms(r)
		v.RulePrograms = v.RulePrograms || progs != ""
		v.Rules = append(v.Rules, ruleRow{Key: key, Syscall: sc, Records: humanize.Comma(int64(r.Records)),
			Lost: humanize.Comma(int64(r.Lost)), Waits: humanize.Comma(int64(r.Waits)), WaitFor: human.Duration(r.WaitNs),
			Programs: progs})
		v.Data.Rules = append(v.Data.Rules, barEntry{Label: key + " " + sc, Records: r.Records, Lost: r.Lost, Waits: r.Waits})
	}
	v.Programs = programRows(p, Top)
	v.Units = unitRows(p, Top)
	for _, pr := range ranking.NoisiestProcesses(p, Top) {
		comm, tgid := processLabel(pr)
		v.Processes = append(v.Processes, processRow{Comm: comm, Tgid: tgid, Records: humanize.Comma(int64(pr.Records)),
			Lost: humanize.Comma(int64(pr.Lost)), Waits: humanize.Comma(int64(pr.Waits)), WaitFor: human.Duration(pr.WaitNs)})
		label := comm + " " + tgid
		if pr.Tgid == 0 {
			label = comm
		}
		v.Data.Processes = append(v.Data.Processes, barEntry{Label: label, Records: pr.Records, Lost: pr.Lost, Waits: pr.Waits})
	}

	stalls, err := sizing.MeasureStalls(p)
	if err != nil {
		return nil, err
	}
	v.Stalls = sizing.StallsLine(stalls)
	v.Consumer = newConsumerView(p.Consumer)
	if v.Consumer != nil {
		v.Data.Consumer = newConsumerChart(v.Consumer.Threads)
	}
	o := p.Overflows
	if o.Processes > 0 || o.Rules > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("kernel maps overflowed (%d process, %d rule events): the tables are incomplete, their excess is in the \"other\" rows", o.Processes, o.Rules))
	}
	if p.Timeline.MissedBuckets > 0 || o.TimelineLate > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d timeline buckets were read too late to keep", p.Timeline.MissedBuckets+o.TimelineLate))
	}
	if n := p.Netlink; n != nil && n.Missed > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("the netlink socket missed %d records (its receive buffer overflowed): every count is short by that many", n.Missed))
	}
	if o.RecursionMisses > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d events were skipped by the kernel (BPF recursion misses)", o.RecursionMisses))
	}
	if n := p.ReturnsMissedByUpdates(); n > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d audit_log_start returns were not seen (another BPF program attached to or detached from it during the recording): records may be short by that many", n))
	}
	return v, nil
}

// newReplay replays the demand rec was sized on, and says what the
// series are or why one is missing.
func newReplay(rec *sizing.Recommendation, step int) (replaySeries, string) {
	var r replaySeries
	if rec == nil || rec.Demand == nil {
		return r, "The model's replay is not drawn: there is no recommendation (above)."
	}
	d := rec.Demand
	r.NoLimit = sizing.ReplayPeaks(d, sizing.Setting{}, step)
	r.NoLimitLabel = "replayed, no limit"
	note := "Replayed, no limit: the queue the model replays from this recording's demand (records made, plus those of events lost whole, plus what producers would have made while asleep in the wait) against the consumer's reconstructed drain; its peak is what the limit is sized on."
	if rec.SustainedOverload {
		return r, note + " Nothing is replayed at a recommended limit: under sustained overload the replayed queue keeps growing and no limit is enough."
	}
	place := sizing.StallPlace{Stall: rec.Stall, At: rec.StallAt}
	r.AtLimit = sizing.ReplayPeaks(sizing.PlaceStall(rec.Sized, place), sizing.Setting{Limit: rec.BacklogLimit}, step)
	r.AtLimitLabel = fmt.Sprintf("replayed at %d, no stall", rec.BacklogLimit)
	note += fmt.Sprintf(" Replayed at %d: the same demand at the recommended limit with backlog_wait_time 0", rec.BacklogLimit)
	if rec.Stall > 0 {
		r.StallAtNs, r.StallNs = int64(rec.StallAt), int64(rec.Stall)
		r.AtLimitLabel = fmt.Sprintf("replayed at %d with a %s stall", rec.BacklogLimit, human.Duration(uint64(rec.Stall)))
		r.StallLabel = fmt.Sprintf("the stall it rides out (%s from %s)", human.Duration(uint64(rec.Stall)), human.Duration(uint64(rec.StallAt)))
		note += fmt.Sprintf(" and the consumer taking nothing for %s from %s (the shaded band: the recording's longest stall, put where it needs the most room)", human.Duration(uint64(rec.Stall)), human.Duration(uint64(rec.StallAt)))
	}
	return r, note + ": what the recommendation claims holds, losing nothing."
}

// series is the timeline as charted: point i sums buckets [i*Step,
// (i+1)*Step) (the last point may hold fewer; Buckets says how many there
// are in all) and takes the maximum of their max_depth.
type series struct {
	BucketNs int64    `json:"bucket_ns"`
	Step     int      `json:"step"`
	Buckets  int      `json:"buckets"`
	Arrivals []int64  `json:"arrivals"`
	Drained  []uint64 `json:"drained"`
	Lost     []uint64 `json:"lost"`
	MaxDepth []uint64 `json:"max_depth"`
}

// downsample folds t into at most maxPoints points of whole buckets.
func downsample(t *profile.Timeline, maxPoints int) (series, error) {
	n := t.Len()
	step := 1
	if maxPoints > 0 && n > maxPoints {
		step = (n + maxPoints - 1) / maxPoints
	}
	points := (n + step - 1) / step
	s := series{BucketNs: t.BucketNs, Step: step, Buckets: n,
		Arrivals: make([]int64, points), Drained: make([]uint64, points),
		Lost: make([]uint64, points), MaxDepth: make([]uint64, points)}
	// Only the non-empty buckets: an empty one adds nothing to a point's
	// sums and deepens no point.
	for b, err := range t.All() {
		if err != nil {
			return series{}, fmt.Errorf("reading timeline rows: %w", err)
		}
		j := int(b.Index) / step
		s.Arrivals[j] += b.Arrivals
		s.Drained[j] += b.Drained
		s.Lost[j] += b.Lost
		s.MaxDepth[j] = max(s.MaxDepth[j], b.MaxDepth)
	}
	return s, nil
}

// peaks folds depths into points of step buckets as downsample does
// MaxDepth: each point the deepest of its buckets, so no peak is lost.
func peaks[T uint64 | float64](v []T, step int) []T {
	out := make([]T, (len(v)+step-1)/step)
	for i, x := range v {
		out[i/step] = max(out[i/step], x)
	}
	return out
}

// waitHistogram labels the log2 buckets in human units ("≤ 1.05 ms").
func waitHistogram(hb []profile.HistogramBucket) histogram {
	var h histogram
	for _, b := range hb {
		label := "≤ " + human.Duration(b.Le)
		if b.Le == math.MaxUint64 {
			label = "longer"
		}
		h.Labels = append(h.Labels, label)
		h.Counts = append(h.Counts, b.Count)
	}
	return h
}

// lostShare is " (54.76%)" after a lost count, nothing when no records.
func lostShare(n, of uint64) string {
	if of == 0 {
		return ""
	}
	return " (" + human.Percent(n, of) + ")"
}
