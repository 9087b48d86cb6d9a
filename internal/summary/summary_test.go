package summary

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing"
	"github.com/auditprof/auditprof/internal/sizing/sizingtest"
)

func TestWrite(t *testing.T) {
	p := &profile.Profile{
		SchemaVersion: 1, Attach: "fentry", KernelRelease: "6.12.0", HZ: 250, DurationNs: 2e9,
		AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: 64},
		Totals: profile.Totals{Records: 1000, Queued: 900, Lost: 100, BytesQueued: 900 * 2304,
			LostByReason: map[string]uint64{"backlog limit exceeded": 100}, Waits: 3, WaitNs: 12e6},
		Processes: []profile.Process{{Tgid: 42, Comm: "stress-ng-open", Records: 990, Lost: 100},
			{Tgid: 7, Comm: "bash", Records: 10}},
		Rules: []profile.Rule{{Key: "load", Syscall: 257, Records: 1000, Events: 200, Lost: 100}},
	}
	var buf bytes.Buffer
	Write(&buf, p, 1)
	out := buf.String()
	for _, want := range []string{
		"attach=fentry", "records", "500/s", "10.00% of records", "backlog limit exceeded", "stress-ng-open",
		"2304 B", "of backlog_limit 64", "load",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "bash") {
		t.Errorf("top=1 printed a second process:\n%s", out)
	}
	p.AuditBefore.Enabled = 0
	buf.Reset()
	Write(&buf, p, 5)
	if !strings.Contains(buf.String(), "audit is disabled") {
		t.Errorf("no warning for disabled audit:\n%s", buf.String())
	}
}

// TestRecursionMisses: a program's recursion misses make the totals it
// counts short, and the summary says which and by up to how much; "totals
// exact" appears only without them.
func TestRecursionMisses(t *testing.T) {
	progs := func(lost, start uint64) []profile.ProgramStats {
		return []profile.ProgramStats{
			{Name: "fentry_audit_log_lost", RunCount: 1917, RecursionMisses: lost},
			{Name: "fentry_audit_log_start", RunCount: 5000},
			{Name: "fexit_audit_log_start", RunCount: 5000, RecursionMisses: start},
			{Name: "fentry_skb_queue_tail", RunCount: 4000},
		}
	}
	cases := []struct {
		name      string
		attach    string
		note      string
		programs  []profile.ProgramStats
		points    []profile.AttachPoint
		overflows profile.Overflows
		want      []string
		not       []string
	}{
		{name: "misses", attach: "fentry", programs: progs(91, 7), overflows: profile.Overflows{RecursionMisses: 98},
			want: []string{"totals short", "fentry_audit_log_lost skipped 91 runs (lost may be short by up to 91)",
				"fexit_audit_log_start skipped 7 runs (records, events and backlog waits may be short by up to 7)", "--attach kprobe is exact"},
			not: []string{"totals exact", "fentry_skb_queue_tail skipped", "fentry_audit_log_start skipped", "bounded maps"}},
		{name: "misses and map overflows", attach: "fentry", programs: progs(0, 3), overflows: profile.Overflows{Processes: 5, RecursionMisses: 3},
			want: []string{"totals short", "fexit_audit_log_start skipped 3 runs", "bounded maps overflowed (tables incomplete): ", "processes 5"},
			not:  []string{"totals exact", "recursion_misses", "rules 0"}},
		{name: "map overflows only", attach: "kprobe", programs: progs(0, 0), overflows: profile.Overflows{Rules: 2},
			want: []string{"bounded maps overflowed (tables incomplete, totals exact)", "rules 2"},
			not:  []string{"totals short"}},
		{name: "nothing", attach: "fentry", programs: progs(0, 0),
			not: []string{"totals short", "totals exact", "bounded maps"}},
		{name: "sum without per-program rows", attach: "kprobe", overflows: profile.Overflows{RecursionMisses: 4},
			want: []string{"totals short", "skipped 4 runs of auditprof's programs"},
			not:  []string{"totals exact", "--attach kprobe"}},
		{name: "returns missed", attach: "fentry", programs: progs(0, 0), overflows: profile.Overflows{ReturnsMissed: 2, Rules: 1},
			want: []string{"totals short: 2 audit_log_start returns were not seen", "records may be short by up to 2 more", "bounded maps overflowed (tables incomplete): rules 1"},
			not:  []string{"totals exact", "returns_missed", "further"}},
		// A skipped fexit leaves its call open: the returns missed
		// that its recursion misses explain are not told twice.
		{name: "returns missed by recursion", attach: "fentry", programs: progs(0, 7), overflows: profile.Overflows{ReturnsMissed: 7, RecursionMisses: 7},
			want: []string{"fexit_audit_log_start skipped 7 runs"},
			not:  []string{"returns were not seen", "totals exact"}},
		{name: "returns missed beyond recursion", attach: "fentry", programs: progs(0, 7), overflows: profile.Overflows{ReturnsMissed: 10, RecursionMisses: 7},
			want: []string{"fexit_audit_log_start skipped 7 runs", "a further 3 audit_log_start returns were not seen", "short by up to 3 more"}},
		{name: "kprobe misses", attach: "kprobe", points: []profile.AttachPoint{
			{Symbol: "audit_log_start", Program: "kprobe_audit_log_start", Attached: true, Missed: 1},
			{Symbol: "audit_log_start", Program: "kretprobe_audit_log_start", Attached: true, Missed: 1},
			{Symbol: "skb_queue_tail", Program: "kprobe_skb_queue_tail", Attached: true}},
			overflows: profile.Overflows{ProbeMisses: 2, Rules: 1},
			want: []string{"totals short (kprobe misses", "audit_log_start 1 (kprobe_audit_log_start), audit_log_start 1 (kretprobe_audit_log_start)",
				"bounded maps overflowed (tables incomplete): rules 1"},
			not: []string{"totals exact", "skb_queue_tail 0"}},
		{name: "attach note", attach: "kprobe", note: "kprobe: this kernel preempts kernel code (preempt=full, from /sys/kernel/debug/sched/preempt)",
			want: []string{"attach: kprobe: this kernel preempts kernel code"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &profile.Profile{SchemaVersion: 1, Attach: c.attach, AttachNote: c.note, KernelRelease: "6.12.0", HZ: 250, DurationNs: 2e9,
				Totals: profile.Totals{Records: 5000, Queued: 4000, Lost: 1828}, Programs: c.programs, AttachPoints: c.points, Overflows: c.overflows}
			var buf bytes.Buffer
			Write(&buf, p, 5)
			out := buf.String()
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q:\n%s", w, out)
				}
			}
			for _, n := range c.not {
				if strings.Contains(out, n) {
					t.Errorf("summary has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestConsumer(t *testing.T) {
	freq := 50
	p := &profile.Profile{SchemaVersion: 1, Attach: "kprobe", KernelRelease: "6.1.0", HZ: 250, DurationNs: 10e9,
		Totals: profile.Totals{LostByReason: map[string]uint64{}},
		Consumer: &profile.Consumer{PID: 321, Received: 1900, ReceivedPerSecond: 190,
			Threads: []profile.ConsumerThread{{TID: 321, Comm: "auditd", Main: true, OnCPUNs: 1e9, RunnableNs: 0,
				OffCPUNs: map[string]uint64{profile.ConsumerSync: 7e9, profile.ConsumerWait: 2e9},
				Syscalls: []profile.ConsumerSyscall{{Name: "fdatasync", Class: profile.ConsumerSync, Ns: 7e9}}}},
			Socket:    &profile.ConsumerSocket{Portid: 321, Drops: 3},
			Kauditd:   &profile.Kauditd{PID: 20, SendBlockedNs: 3e8},
			Config:    &profile.AuditdConfig{Flush: "data", Freq: &freq, Plugins: []string{"syslog"}},
			Diagnosis: &profile.Diagnosis{Bottleneck: "sync", Share: 0.7, Text: "auditd spent 70% of the recording in fdatasync (flush = data)", Advice: "flush = incremental_async"}},
	}
	var buf bytes.Buffer
	Write(&buf, p, 5)
	out := buf.String()
	for _, want := range []string{"auditd pid 321", "1900 records (190/s)", "70.00%", "fdatasync 7s", "3 drops",
		"blocked sending 300ms", "flush = data, freq = 50", "active plugins: syslog",
		"diagnosis: auditd spent 70% of the recording in fdatasync (flush = data)", "what would change it: flush = incremental_async"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "measured from /proc") {
		t.Errorf("a consumer not sampled says it was:\n%s", out)
	}
	p.Consumer.Source, p.Consumer.SampleHz, p.Consumer.Samples = profile.ConsumerSourceSample, 20, 199
	buf.Reset()
	Write(&buf, p, 5)
	if want := "measured from /proc: schedstat, and 199 samples at 20 Hz"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, buf.String())
	}
}

// stalledTimeline has two stalls: bucket 1 (the pass that ends in bucket
// 2 began there: bucket 1's depth says nothing had left by its end), and
// buckets 4 to 6 (the depth rises with every record until bucket 7's pass).
func stalledTimeline() profile.Timeline {
	return profile.NewTimeline(10e6, 0, profile.Series{
		Arrivals: make([]int64, 9),
		Queued:   []uint64{0, 3, 2, 0, 2, 2, 2, 2, 0},
		MaxDepth: []uint64{0, 3, 5, 0, 2, 4, 6, 8, 0},
		Drained:  []uint64{0, 0, 5, 0, 0, 0, 0, 8, 0},
	})
}

// TestStalls: the consumer section says the stalls the timeline shows,
// with or without the consumer's own measurements, before the diagnosis;
// not in netlink mode.
func TestStalls(t *testing.T) {
	const two = "  stalls: 2 intervals with records queued and none taken (to the 10ms bucket); the longest 30ms, 40ms into the recording; by length: 1 of 10ms-20ms, 1 of 20ms-40ms\n"
	consumer := &profile.Consumer{PID: 321, Received: 12, Diagnosis: &profile.Diagnosis{Bottleneck: "sync", Text: "auditd synced"}}
	idle := profile.NewTimeline(10e6, 0, profile.Series{
		Arrivals: make([]int64, 3),
		Queued:   []uint64{1, 0, 1},
		MaxDepth: []uint64{1, 0, 1},
		Drained:  []uint64{1, 0, 1},
	})
	for _, tc := range []struct {
		name     string
		attach   string
		timeline profile.Timeline
		consumer *profile.Consumer
		want     string // "" for no stalls line
		before   string // a line the stalls line must come before
	}{
		{"with the consumer", "fentry", stalledTimeline(), consumer, two, "  diagnosis: auditd synced"},
		{"without the consumer", "kprobe", stalledTimeline(), nil, "\nconsumer\n" + two, ""},
		{"none", "fentry", idle, nil, "\nconsumer\n  stalls: none measured (no bucket with records queued and none taken)\n", ""},
		{"netlink", "netlink", stalledTimeline(), nil, "", ""},
		{"no timeline", "fentry", profile.Timeline{}, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{SchemaVersion: 1, Attach: tc.attach, KernelRelease: "6.12.0", HZ: 250, DurationNs: 90e6,
				Totals: profile.Totals{Records: 11, Queued: 11, Drained: 13}, Timeline: tc.timeline, Consumer: tc.consumer}
			var buf bytes.Buffer
			Write(&buf, measured(t, p), 5)
			out := buf.String()
			if tc.want == "" {
				if strings.Contains(out, "stalls:") || strings.Contains(out, "\nconsumer\n") {
					t.Errorf("summary says stalls:\n%s", out)
				}
				return
			}
			i := strings.Index(out, tc.want)
			if i < 0 {
				t.Fatalf("summary lacks %q:\n%s", tc.want, out)
			}
			if tc.before != "" && !strings.Contains(out[i:], tc.before) {
				t.Errorf("the stalls line is not before %q:\n%s", tc.before, out)
			}
		})
	}
}

// TestStallsSimulated: a consumer stopped for 2 s in the record-by-record
// simulation reads as one stall of about that long, where it began.
func TestStallsSimulated(t *testing.T) {
	p, _ := sizingtest.SimulateConsumer(8000, func(int) float64 { return 0.25 }, 5, sizingtest.StoppedFor(5, 3000, 5000), 0)
	var buf bytes.Buffer
	Write(&buf, measured(t, p), 5)
	// Measured to the bucket, the stopped run's first and last buckets
	// read as drained (a record the consumer still took in the first; in
	// the last, drain the reconstruction cannot place inside bucket 500,
	// whose deepest point came after it): 1.98 s of the 2 s.
	want := "  stalls: 1 interval with records queued and none taken (to the 10ms bucket); the longest 1.98s, 3.01s into the recording; by length: 1 of 1.28s-2.56s\n"
	if !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, buf.String())
	}
}

// measured is p with the stalls recording.Run measures where it makes the
// profile, which Write reads.
func measured(t *testing.T, p *profile.Profile) *profile.Profile {
	t.Helper()
	s, err := sizing.MeasureStalls(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Stalls = &s
	return p
}

// TestStallsFromRecorder: the stalls line says the stalls the recorder
// measured (p.Stalls) and does not measure the timeline again; a profile
// without them has no stalls line.
func TestStallsFromRecorder(t *testing.T) {
	// Not what the timeline shows (two stalls, the longest 30ms): what
	// the line says can only come from p.Stalls.
	rec := &profile.Stalls{BucketNs: 10e6, Count: 1, Longest: 70 * time.Millisecond, LongestAt: 20 * time.Millisecond,
		Histogram: []profile.StallBin{{Min: 40 * time.Millisecond, Max: 80 * time.Millisecond, Count: 1}}}
	p := &profile.Profile{SchemaVersion: 1, Attach: "fentry", KernelRelease: "6.12.0", HZ: 250, DurationNs: 90e6,
		Totals: profile.Totals{Records: 11, Queued: 11, Drained: 13}, Timeline: stalledTimeline(), Stalls: rec}
	var buf bytes.Buffer
	Write(&buf, p, 5)
	if want := "  stalls: " + sizing.StallsLine(*rec) + "\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks the recorder's %q:\n%s", want, buf.String())
	}
	p.Stalls = nil
	buf.Reset()
	Write(&buf, p, 5)
	if strings.Contains(buf.String(), "stalls:") {
		t.Errorf("summary of a profile without stalls says some:\n%s", buf.String())
	}
}
