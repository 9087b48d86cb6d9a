package live

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/ranking"
)

const bucket = int64(10_000_000) // 10 ms

// timeline is a timeline of len(depths) buckets from startNs.
func timeline(startNs int64, depths ...uint64) profile.Timeline {
	n := len(depths)
	return profile.NewTimeline(bucket, startNs, profile.Series{
		Arrivals: make([]int64, n),
		Queued:   make([]uint64, n),
		Lost:     make([]uint64, n),
		Drained:  make([]uint64, n),
		MaxDepth: depths,
		Waits:    make([]uint64, n),
		WaitNs:   make([]uint64, n),
	})
}

func TestFrameRates(t *testing.T) {
	prev := &profile.Profile{DurationNs: 3e9, Totals: profile.Totals{Records: 100, Queued: 90, Drained: 80, Lost: 10,
		Waits: 4, WaitNs: 2e9, LostByReason: map[string]uint64{"backlog limit exceeded": 10}}}
	prev.Totals.LostByClass = profile.LostByClass(prev.Totals.LostByReason)
	cur := &profile.Profile{DurationNs: 5e9, Attach: "fentry", Totals: profile.Totals{Records: 300, Queued: 250, Drained: 240, Lost: 50,
		Waits: 8, WaitNs: 5e9, MaxDepth: 77,
		LostByReason: map[string]uint64{"backlog limit exceeded": 40, "rate limit exceeded": 10, "out of memory in audit_log_start": 0}},
		AuditAfter: &profile.AuditStatus{Backlog: 12, BacklogLimit: 256}}
	cur.Totals.LostByClass = profile.LostByClass(cur.Totals.LostByReason)

	for _, tc := range []struct {
		name   string
		prev   *profile.Profile
		cur    *profile.Profile
		want   Rates
		reason map[string]float64
		totals Totals
		iv     int64
	}{
		{"between two snapshots", prev, cur,
			Rates{ArrivalsPerSec: 100, QueuedPerSec: 80, DrainedPerSec: 80, LostPerSec: 20, WaitsPerSec: 2, WaitSecondsPerSec: 1.5},
			map[string]float64{"backlog limit exceeded": 15, "rate limit exceeded": 5},
			Totals{Records: 300, Lost: 50, Waits: 8, WaitNs: 5e9}, 2e9},
		{"first interval: prev is the zero profile", &profile.Profile{}, cur,
			Rates{ArrivalsPerSec: 60, QueuedPerSec: 50, DrainedPerSec: 48, LostPerSec: 10, WaitsPerSec: 1.6, WaitSecondsPerSec: 1},
			map[string]float64{"backlog limit exceeded": 8, "rate limit exceeded": 2},
			Totals{Records: 300, Lost: 50, Waits: 8, WaitNs: 5e9}, 5e9},
		{"nil prev is the zero profile", nil, cur,
			Rates{ArrivalsPerSec: 60, QueuedPerSec: 50, DrainedPerSec: 48, LostPerSec: 10, WaitsPerSec: 1.6, WaitSecondsPerSec: 1},
			map[string]float64{"backlog limit exceeded": 8, "rate limit exceeded": 2},
			Totals{Records: 300, Lost: 50, Waits: 8, WaitNs: 5e9}, 5e9},
		{"no time passed: no rates, no division by zero", cur, cur, Rates{},
			map[string]float64{"backlog limit exceeded": 0, "rate limit exceeded": 0},
			Totals{Records: 300, Lost: 50, Waits: 8, WaitNs: 5e9}, 0},
		{"counters never go back", cur, prev, Rates{}, map[string]float64{"backlog limit exceeded": 0},
			Totals{Records: 100, Lost: 10, Waits: 4, WaitNs: 2e9}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Frame(tc.prev, tc.cur, Options{})
			if v.Rates != tc.want {
				t.Errorf("rates %+v, want %+v", v.Rates, tc.want)
			}
			if !reflect.DeepEqual(v.LostPerSecByReason, tc.reason) {
				t.Errorf("lost by reason %v, want %v", v.LostPerSecByReason, tc.reason)
			}
			if v.Totals != tc.totals || v.IntervalNs != tc.iv || v.ElapsedNs != tc.cur.DurationNs || v.SortedBy != ranking.Records {
				t.Errorf("totals %+v interval %d elapsed %d sorted %q", v.Totals, v.IntervalNs, v.ElapsedNs, v.SortedBy)
			}
		})
	}
	v := Frame(prev, cur, Options{})
	if v.Depth.Now == nil || *v.Depth.Now != 12 || *v.Depth.Limit != 256 || v.Depth.PeakSinceStart != 77 || v.Attach != "fentry" {
		t.Errorf("depth %+v (now %v limit %v)", v.Depth, v.Depth.Now, v.Depth.Limit)
	}
	if v := Frame(cur, prev, Options{}); v.Depth.Now != nil || v.Depth.Limit != nil {
		t.Errorf("no AUDIT_GET: now %v limit %v, want null", v.Depth.Now, v.Depth.Limit)
	}
}

func TestFrameDepth(t *testing.T) {
	// cur's timeline starts 0.3 s before second 11 and holds 200 buckets
	// (seconds 10, 11 and 12); prev's window started 50 buckets earlier
	// and ended 100 buckets into cur's: the interval is cur's last 100.
	start := int64(11e9) - 30*bucket
	depths := make([]uint64, 200)
	depths[5] = 40    // second 10
	depths[99] = 900  // second 11, before the interval
	depths[100] = 300 // second 11, the interval's first bucket
	depths[150] = 500 // second 12
	depths[199] = 7   // second 12, the newest bucket
	prevDepths := make([]uint64, 150)
	prevDepths[149] = 900
	prev := &profile.Profile{DurationNs: 1e9, Timeline: timeline(start-50*bucket, prevDepths...)}
	cur := &profile.Profile{DurationNs: 2e9, Totals: profile.Totals{MaxDepth: 900}, Timeline: timeline(start, depths...)}

	for _, tc := range []struct {
		name    string
		prev    *profile.Profile
		history int
		peak    uint64
		hist    []uint64
	}{
		{"interval after prev's last bucket", prev, 0, 500, []uint64{40, 900, 500}},
		{"history bounded to the newest seconds", prev, 2, 500, []uint64{900, 500}},
		{"first interval: every bucket", &profile.Profile{}, 0, 900, []uint64{40, 900, 500}},
		{"prev's window ended before cur's began: every bucket", &profile.Profile{Timeline: timeline(0, 1, 2)}, 0, 900, []uint64{40, 900, 500}},
		{"prev had no buckets yet", &profile.Profile{Timeline: timeline(start)}, 0, 900, []uint64{40, 900, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Frame(tc.prev, cur, Options{History: tc.history}).Depth
			if d.PeakInterval != tc.peak || !reflect.DeepEqual(d.History, tc.hist) || d.PeakSinceStart != 900 {
				t.Errorf("peak %d history %v since start %d, want %d %v 900", d.PeakInterval, d.History, d.PeakSinceStart, tc.peak, tc.hist)
			}
		})
	}
	// An interval with no new bucket has no peak.
	if d := Frame(cur, cur, Options{}).Depth; d.PeakInterval != 0 || len(d.History) != 3 {
		t.Errorf("same snapshot twice: %+v", d)
	}
	if d := Frame(nil, &profile.Profile{}, Options{}).Depth; d.History == nil || len(d.History) != 0 {
		t.Errorf("no timeline: history %#v, want []", d.History)
	}
}

func TestFrameProcesses(t *testing.T) {
	p := func(tgid uint32, comm string, records, lost, waitNs uint64) profile.Process {
		return profile.Process{Tgid: tgid, Comm: comm, Cgroup: "/system.slice/" + comm + ".service", Records: records, Lost: lost, WaitNs: waitNs}
	}
	prev := &profile.Profile{DurationNs: 1e9, Processes: []profile.Process{
		p(10, "steady", 100, 10, 1e6),
		p(11, "idle", 5000, 400, 9e9),
		p(12, "twin", 20, 0, 0),
		p(0, "other", 1000, 100, 0),
	}}
	cur := &profile.Profile{DurationNs: 3e9, Processes: []profile.Process{
		p(10, "steady", 300, 10, 3e6), // +200 records, +0 lost, +2ms
		p(11, "idle", 5000, 400, 9e9), // nothing in the interval, large totals
		p(12, "twin", 220, 0, 0),      // +200 records, fewer in total than steady
		p(13, "new", 200, 60, 0),      // absent from prev: all of it is the interval's
		p(14, "blocked", 40, 2, 5e6),  // +40 records, waited most
		p(15, "bravo", 300, 10, 3e6),  // +300: new, ties with alpha on everything but the name
		p(16, "alpha", 300, 10, 3e6),  // +300
		p(0, "other", 1600, 160, 1e6), // the overflow row: +600 records, +60 lost
		p(17, "nothing", 0, 0, 0),     // no totals: not shown
		p(18, "quiet", 1, 0, 0),       // +1
	}}
	tgids := func(rows []ProcessRow) []uint32 {
		var out []uint32
		for _, r := range rows {
			out = append(out, r.Tgid)
		}
		return out
	}
	for _, tc := range []struct {
		sortBy string
		top    int
		want   []uint32
	}{
		// records in the interval; steady and twin tie at +200 and steady
		// has more in total; alpha and bravo tie on all counts: by name.
		// idle did nothing in the interval and comes last despite its totals.
		{ranking.Records, 0, []uint32{0, 16, 15, 10, 12, 13, 14, 18, 11}},
		// lost in the interval: other and new +60; other has more in total.
		// Then alpha, bravo (+10) and blocked (+2). Then nothing lost in the
		// interval: rows active in it first, by lost since start, then by
		// records in the interval.
		{ranking.Lost, 0, []uint32{0, 13, 16, 15, 14, 10, 12, 18, 11}},
		// wait in the interval: blocked (new: 5ms), alpha and bravo (3ms),
		// steady (+2ms), other (+1ms); then the rest as for lost.
		{ranking.Wait, 0, []uint32{14, 16, 15, 10, 0, 12, 13, 18, 11}},
		{ranking.Records, 3, []uint32{0, 16, 15}},
		{"", 2, []uint32{0, 16}},
	} {
		v := Frame(prev, cur, Options{SortBy: tc.sortBy, Top: tc.top})
		if got := tgids(v.Processes); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("sort %q top %d: %v, want %v", tc.sortBy, tc.top, got, tc.want)
		}
		if v.ProcessRows != 9 {
			t.Errorf("sort %q: %d rows, want 9", tc.sortBy, v.ProcessRows)
		}
	}
	v := Frame(prev, cur, Options{SortBy: ranking.Records})
	rows := map[uint32]ProcessRow{}
	for _, r := range v.Processes {
		rows[r.Tgid] = r
	}
	for tgid, want := range map[uint32]ProcessRow{
		0:  {Tgid: 0, Comm: "other", Cgroup: "/system.slice/other.service", RecordsPerSec: 300, LostPerSec: 30, WaitNs: 1e6, WaitNsTotal: 1e6, Records: 1600, Lost: 160},
		10: {Tgid: 10, Comm: "steady", Cgroup: "/system.slice/steady.service", RecordsPerSec: 100, LostPerSec: 0, WaitNs: 2e6, WaitNsTotal: 3e6, Records: 300, Lost: 10},
		11: {Tgid: 11, Comm: "idle", Cgroup: "/system.slice/idle.service", WaitNsTotal: 9e9, Records: 5000, Lost: 400},
		13: {Tgid: 13, Comm: "new", Cgroup: "/system.slice/new.service", RecordsPerSec: 100, LostPerSec: 30, Records: 200, Lost: 60},
	} {
		if !reflect.DeepEqual(rows[tgid], want) {
			t.Errorf("tgid %d:\n got %+v\nwant %+v", tgid, rows[tgid], want)
		}
	}
}

func TestFrameRules(t *testing.T) {
	loaded := []profile.LoadedRule{
		{Index: 1, Text: "-a always,exit -F arch=b64 -S open,openat -F key=file-open", List: "exit", Key: "file-open"},
		{Index: 2, Text: "-a always,exit -F arch=b64 -S chdir -F key=dir-change", List: "exit", Key: "dir-change"},
	}
	openat := profile.Rule{Key: "file-open", Syscall: 257, Arch: "x86_64", SyscallName: "openat", Matches: []int{1}}
	open := profile.Rule{Key: "file-open", Syscall: 2, Arch: "x86_64", SyscallName: "open", Matches: []int{1}}
	chdir := profile.Rule{Key: "dir-change", Syscall: 80, Arch: "x86_64", SyscallName: "chdir", Matches: []int{2}}
	gone := profile.Rule{Key: "gone", Syscall: 90, Arch: "x86_64", SyscallName: "chmod"}
	with := func(r profile.Rule, records, lost, waitNs uint64) profile.Rule {
		r.Records, r.Lost, r.WaitNs = records, lost, waitNs
		r.Matches = append([]int(nil), r.Matches...)
		return r
	}
	// prev knew openat and chdir only, and had not joined the rules yet
	// (no Matches): differences are per kernel row all the same.
	prevOpenat, prevChdir := with(openat, 100, 10, 0), with(chdir, 1000, 0, 0)
	prevOpenat.Matches, prevChdir.Matches = nil, nil
	prev := &profile.Profile{DurationNs: 1e9, Rules: []profile.Rule{prevOpenat, prevChdir}}
	cur := &profile.Profile{DurationNs: 2e9, LoadedRules: loaded, Rules: []profile.Rule{
		with(openat, 300, 30, 4e6), // +200, +20, +4ms
		with(open, 50, 0, 0),       // absent from prev: +50, grouped with openat
		with(chdir, 1000, 0, 0),    // nothing in the interval
		with(gone, 80, 80, 0),      // absent from prev, no loaded rule: +80 lost
	}}
	v := Frame(prev, cur, Options{SortBy: ranking.Records})
	want := []RuleRow{
		{Rules: []int{1}, Text: loaded[0].Text, Key: "file-open", Syscalls: []string{"openat", "open"},
			RecordsPerSec: 250, LostPerSec: 20, WaitNs: 4e6, WaitNsTotal: 4e6, Records: 350, Lost: 30},
		{Rules: []int{}, Key: "gone", Syscalls: []string{"chmod"}, RecordsPerSec: 80, LostPerSec: 80, Records: 80, Lost: 80},
		{Rules: []int{2}, Text: loaded[1].Text, Key: "dir-change", Syscalls: []string{"chdir"}, Records: 1000},
	}
	if !reflect.DeepEqual(v.Rules, want) || v.RuleRows != 3 {
		t.Errorf("rules by records (%d rows):\n got %+v\nwant %+v", v.RuleRows, v.Rules, want)
	}
	keys := func(v View) []string {
		var out []string
		for _, r := range v.Rules {
			out = append(out, r.Key)
		}
		return out
	}
	for sortBy, want := range map[string][]string{
		ranking.Lost: {"gone", "file-open", "dir-change"},
		ranking.Wait: {"file-open", "gone", "dir-change"},
	} {
		if got := keys(Frame(prev, cur, Options{SortBy: sortBy})); !reflect.DeepEqual(got, want) {
			t.Errorf("sort %s: %v, want %v", sortBy, got, want)
		}
	}
	if got := keys(Frame(prev, cur, Options{Top: 1})); !reflect.DeepEqual(got, []string{"file-open"}) {
		t.Errorf("top 1: %v", got)
	}
	// Two rules tying on every counter are ranked by name.
	tie := &profile.Profile{DurationNs: 1e9, LoadedRules: loaded, Rules: []profile.Rule{with(chdir, 5, 0, 0), with(openat, 5, 0, 0)}}
	if got := keys(Frame(nil, tie, Options{})); !reflect.DeepEqual(got, []string{"file-open", "dir-change"}) {
		t.Errorf("tie: %v, want by name (#1 before #2)", got)
	}
}

// TestViewJSON pins the field names scripts and the VM tests read.
func TestViewJSON(t *testing.T) {
	now := uint32(3)
	v := View{Depth: Depth{Now: &now, History: []uint64{1}}, LostPerSecByReason: map[string]float64{},
		Processes: []ProcessRow{{Tgid: 1}}, Rules: []RuleRow{{Key: "k", Records: 9, Rules: []int{}}}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"interval_ns", "elapsed_ns", "sorted_by", "depth", "rates", "lost_per_sec_by_reason", "totals", "processes", "rules"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	fields := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		return out
	}
	for name, want := range map[string][]string{
		"depth":   {"now", "limit", "peak_interval", "peak_since_start", "history"},
		"rates":   {"arrivals_per_sec", "queued_per_sec", "drained_per_sec", "lost_per_sec", "waits_per_sec", "wait_seconds_per_sec"},
		"totals":  {"records", "lost", "waits", "wait_ns"},
		"process": {"tgid", "comm", "records_per_sec", "lost_per_sec", "wait_ns", "records", "lost"},
		"rule":    {"rules", "text", "key", "syscalls", "records_per_sec", "lost_per_sec", "wait_ns", "records", "lost"},
	} {
		var obj any
		switch name {
		case "process":
			obj = m["processes"].([]any)[0]
		case "rule":
			obj = m["rules"].([]any)[0]
		default:
			obj = m[name]
		}
		got := fields(obj)
		for _, f := range want {
			found := false
			for _, g := range got {
				found = found || g == f
			}
			if !found {
				t.Errorf("%s has no %q: %v", name, f, got)
			}
		}
	}
	if m["depth"].(map[string]any)["now"] != 3.0 || m["rules"].([]any)[0].(map[string]any)["key"] != "k" {
		t.Errorf("values: %s", b)
	}
}
