package e2e

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/report"
	"github.com/auditprof/auditprof/internal/report/reporttest"
	"github.com/auditprof/auditprof/internal/vmtest"
)

// TestRuleSet: with the STIG rules and a hot rule loaded, the hot rule
// ranks first in `rules` and in `top`, every key's counts equal what auditd
// received (so the ranking of the others agrees with it), and the
// exporter's totals equal its profile's.
func TestRuleSet(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Script: guestScript(ruleSetSh), Timeout: 25 * time.Minute})
			checkRuleSet(t, g)
		})
	}
}

func checkRuleSet(t *testing.T, g guestRun) {
	if g.exitCode("stig") != 0 {
		t.Fatalf("auditctl -R of the STIG rules failed: %s", g.section("stig.load"))
	}
	loaded := strings.Count(g.section("loaded"), "\n")
	t.Logf("loaded %d rules; skipped for missing paths: %q", loaded, g.section("stig.skipped"))
	if loaded < 20 {
		t.Fatalf("only %d rules loaded:\n%s", loaded, g.section("loaded"))
	}
	if lost := g.delta("r", "lost"); lost != 0 {
		t.Errorf("the kernel lost %d records; this scenario must lose none", lost)
	}

	// Every key's counts equal what auditd received.
	p := g.profile("r")
	received := receivedPerKey(t, g.section("r.keys"), p)
	ours := perKey(p)
	t.Logf("ours (events, records) %v; auditd received %v", ours, received)
	keys := []string{"hot", "delete", "perm_mod", "system-locale", "identity"}
	// Over the recording's serial range, nothing lost, the load started
	// after the recording and ended before it, every count would equal
	// auditd's; but here `top` attaches and detaches its own programs on
	// audit_log_start while the load runs, and since 5.12 (e21aa341785c)
	// the kernel makes calls inside the replaced trampoline return past
	// its fexit programs: those records are not counted. The programs see
	// each such call when its task starts the next (returns_missed), so
	// every key's shortfall, events and records, is bounded by that count
	// and all of them together are too.
	missed := p.Overflows.ReturnsMissed
	var shortfall uint64
	for _, key := range keys {
		o, r := ours[key], received[key]
		if r[0] == 0 {
			t.Errorf("auditd received no %q events: the load did not reach the rule", key)
			continue
		}
		all := r[1] + r[0] // auditd's records plus one EOE per event
		if o[0] > r[0] || o[1] > all || o[0]+missed < r[0] || o[1]+missed < all {
			t.Errorf("key %q: %d events and %d records counted, auditd received %d events and %d records plus %d EOE; %d returns missed",
				key, o[0], o[1], r[0], r[1], r[0], missed)
			continue
		}
		shortfall += all - o[1]
	}
	if shortfall > missed {
		t.Errorf("the keys' records are short of auditd's by %d in all, more than the %d returns missed", shortfall, missed)
	}
	t.Logf("returns missed %d; records short of auditd's %d", missed, shortfall)

	// `rules` ranks by records: hot first, the others in auditd's order.
	var rep struct {
		Rules []struct {
			Key     string   `json:"key"`
			Rules   []int    `json:"rules"`
			Text    string   `json:"text"`
			Records uint64   `json:"records"`
			Syscall []string `json:"syscalls"`
		} `json:"rules"`
	}
	if g.exitCode("rules") != 0 {
		t.Fatalf("rules exited %d: %s", g.exitCode("rules"), g.section("rules.out"))
	}
	if err := json.Unmarshal([]byte(g.section("rules.out")), &rep); err != nil {
		t.Fatalf("rules --json: %v", err)
	}
	// Each key's row is joined to the rule that made it. Where rules share
	// a key and can match the same syscall (the watches on /etc/group and
	// /etc/passwd both admit chmod: the counters do not keep the path), the
	// row lists them all, and only rules of its key; watches are not named
	// for syscalls outside their permission classes (sethostname).
	made := map[string]string{"hot": "-S openat -F auid=1000 -F key=hot", "delete": "-S rename,",
		"perm_mod": "-S chmod,fchmod,fchmodat", "system-locale": "-S sethostname,setdomainname", "identity": "-w /etc/passwd -p wa"}
	candidates := map[string]int{"hot": 1, "delete": 1, "perm_mod": 1, "system-locale": 1, "identity": 2}
	var ranked []string
	for _, r := range rep.Rules {
		if !slices.Contains(keys, r.Key) || slices.Contains(ranked, r.Key) {
			continue
		}
		ranked = append(ranked, r.Key)
		texts := strings.Split(r.Text, " | ")
		if len(texts) != len(r.Rules) || len(r.Rules) != candidates[r.Key] || !strings.Contains(r.Text, made[r.Key]) {
			t.Errorf("key %s joined to rules %v %q, want %d, among them the one with %q", r.Key, r.Rules, r.Text, candidates[r.Key], made[r.Key])
		}
		for _, text := range texts {
			if !strings.HasSuffix(text, "key="+r.Key) && !strings.HasSuffix(text, "-k "+r.Key) {
				t.Errorf("key %s joined to a rule of another key: %q", r.Key, text)
			}
		}
	}
	want := slices.Clone(keys)
	sort.SliceStable(want, func(i, j int) bool { return received[want[i]][1] > received[want[j]][1] })
	t.Logf("rules ranks %v; auditd's records rank %v", ranked, want)
	if len(rep.Rules) == 0 || rep.Rules[0].Key != "hot" {
		t.Errorf("rules ranks %+v first, want the hot rule", first(rep.Rules))
	}
	if !slices.Equal(ranked, want) {
		t.Errorf("rules ranks the keys %v, auditd received them in the order %v", ranked, want)
	}

	checkTop(t, g)
	checkExporter(t, g, p)

	// The report of this recording, made on a real kernel, renders in a
	// real browser with every chart drawn.
	t.Run("report", func(t *testing.T) {
		reporttest.NeedBrowser(t)
		pg, err := report.Build(p)
		if err != nil {
			t.Fatal(err)
		}
		reporttest.CheckCharts(t, pg.HTML, pg.Charts)
	})
}

// checkTop: top --once --json, taken while the load ran, puts hot first.
func checkTop(t *testing.T, g guestRun) {
	if rc := g.exitCode("top"); rc != 0 {
		t.Errorf("top --once --json exited %d: %s", rc, g.section("top.err"))
		return
	}
	var top struct {
		Depth struct {
			Now   *uint64 `json:"now"`
			Limit uint64  `json:"limit"`
		} `json:"depth"`
		Rules []struct {
			Key           string  `json:"key"`
			RecordsPerSec float64 `json:"records_per_sec"`
		} `json:"rules"`
		Processes []struct {
			Comm string `json:"comm"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(g.section("top.out")), &top); err != nil {
		t.Fatalf("top --once --json: %v\n%s", err, g.section("top.out"))
	}
	defer func() {
		if t.Failed() {
			t.Logf("top --once --json printed:\n%s\nand on stderr: %s", g.section("top.out"), g.section("top.err"))
		}
	}()
	now := "unknown"
	if top.Depth.Now != nil {
		now = strconv.FormatUint(*top.Depth.Now, 10)
	}
	t.Logf("top: %d rules, first %+v; %d processes; depth now %s of %d", len(top.Rules), first(top.Rules), len(top.Processes),
		now, top.Depth.Limit)
	if len(top.Rules) == 0 || top.Rules[0].Key != "hot" || top.Rules[0].RecordsPerSec <= 0 {
		t.Errorf("top ranks %+v first, want the hot rule", first(top.Rules))
	}
	if len(top.Processes) == 0 || top.Depth.Now == nil || top.Depth.Limit != 65536 {
		t.Errorf("top: processes %+v, depth now %s, limit %d (want 65536)", top.Processes, now, top.Depth.Limit)
	}
}

// first is s's first element, or nil, for messages.
func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// checkExporter: the last scrape, taken when all was quiet, equals the
// profile the exporter wrote when it stopped, and the recording made
// alongside it.
func checkExporter(t *testing.T, g guestRun, rec *profile.Profile) {
	if g.exitCode("metrics") != 0 || g.exitCode("x") != 0 {
		t.Fatalf("scrape exit %d, exporter exit %d: %s", g.exitCode("metrics"), g.exitCode("x"), g.section("x.out"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(g.section("metrics")))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	x := g.profile("x")
	sum := func(name string, match func(map[string]string) bool) float64 {
		f := fams[name]
		if f == nil {
			t.Errorf("the scrape has no %s", name)
			return math.NaN()
		}
		var v float64
		for _, m := range f.GetMetric() {
			if match != nil && !match(labels(m)) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				v += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v += m.GetGauge().GetValue()
			}
		}
		return v
	}
	eq := func(what string, got float64, want uint64) {
		if got != float64(want) {
			t.Errorf("%s: scraped %v, the profile says %d", what, got, want)
		}
	}
	eq("auditprof_records_total", sum("auditprof_records_total", nil), x.Totals.Records)
	eq("auditprof_records_queued_total", sum("auditprof_records_queued_total", nil), x.Totals.Queued)
	eq("auditprof_records_drained_total", sum("auditprof_records_drained_total", nil), x.Totals.Drained)
	eq("auditprof_records_lost_total", sum("auditprof_records_lost_total", nil), x.Totals.Lost)
	eq("sum of auditprof_rule_records_total", sum("auditprof_rule_records_total", nil), x.Totals.Records)
	eq("sum of auditprof_process_records_total", sum("auditprof_process_records_total", nil), x.Totals.Records)
	eq("auditprof_backlog_limit", sum("auditprof_backlog_limit", nil), 65536)
	if h := fams["auditprof_backlog_blocked_seconds"]; h == nil || len(h.GetMetric()) != 1 ||
		h.GetMetric()[0].GetHistogram().GetSampleCount() != x.Totals.Waits {
		t.Errorf("auditprof_backlog_blocked_seconds: %v, want a count of %d", h, x.Totals.Waits)
	}
	// The stall series come from the timeline, a minute of it at most.
	if l := sum("auditprof_consumer_stall_longest_seconds", nil); !(l >= 0 && l <= 60) {
		t.Errorf("auditprof_consumer_stall_longest_seconds: %v, not within the minute of timeline", l)
	}
	if h := fams["auditprof_consumer_stall_seconds"]; h == nil || len(h.GetMetric()) != 1 {
		t.Errorf("auditprof_consumer_stall_seconds: %v, want one histogram", h)
	}
	// The consumer, measured the default way (from /proc samples) and
	// served from the sampler's snapshots: auditd's main thread, watched
	// since the start, waiting for records some of it,
	// and kauditd; the profile written at the stop, a moment later, has
	// a little more of both.
	if c := x.Consumer; c == nil || c.Source != profile.ConsumerSourceSample || len(c.Threads) == 0 || !c.Threads[0].Main || len(c.Notes) > 0 {
		t.Errorf("the exporter's profile: consumer %+v, want auditd's threads sampled", c)
	} else {
		eq("auditprof_consumer_records_received_total", sum("auditprof_consumer_records_received_total", nil), c.Received)
		main := sum("auditprof_consumer_seconds_total", func(l map[string]string) bool { return l["thread"] == "main" })
		wait := sum("auditprof_consumer_seconds_total", func(l map[string]string) bool {
			return l["thread"] == "main" && l["state"] == profile.ConsumerWait
		})
		kauditd := sum("auditprof_kauditd_seconds_total", nil)
		watched := float64(c.WatchedNs) / 1e9
		t.Logf("exporter: main thread %.3f s scraped (waiting %.3f s), %.3f s in the final profile; kauditd %.3f s scraped", main, wait, watched, kauditd)
		if !(main > watched/2 && main <= watched) || !(wait > 0) || !(kauditd > 0) {
			t.Errorf("auditprof_consumer_seconds_total: main thread %v s (waiting %v s), the profile watched it %v s; auditprof_kauditd_seconds_total %v s",
				main, wait, watched, kauditd)
		}
	}
	// Per key: the exporter and the recording made alongside it saw every
	// keyed event, both attached before the load began and after it ended;
	// except the records whose return went past one of them: `top`
	// replaces the trampolines on audit_log_start while the load runs,
	// and a call inside a replaced one returns past its fexit programs
	// (checkRuleSet), counted in that instance's returns_missed.
	missed := float64(rec.Overflows.ReturnsMissed + x.Overflows.ReturnsMissed)
	for _, key := range []string{"hot", "delete", "perm_mod", "system-locale", "identity"} {
		var inRec uint64
		for _, r := range rec.Rules {
			if r.Key == key {
				inRec += r.Records
			}
		}
		got := sum("auditprof_rule_records_total", func(l map[string]string) bool { return l["key"] == key })
		if math.Abs(got-float64(inRec)) > missed {
			t.Errorf("auditprof_rule_records_total{key=%q}: scraped %v, the recording alongside counted %d; %v returns missed between them",
				key, got, inRec, missed)
		}
	}
	t.Logf("exporter: %.0f records scraped, %d in its profile, %d in the recording alongside", sum("auditprof_records_total", nil),
		x.Totals.Records, rec.Totals.Records)
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
