package exporter

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing"
)

func testProfile() *profile.Profile {
	byReason := map[string]uint64{"backlog limit exceeded": 90, "out of memory in audit_log_start": 10}
	return &profile.Profile{
		SchemaVersion: profile.SchemaVersion, Attach: profile.AttachFentry, KernelRelease: "6.12.0-test", HZ: 250,
		AuditAfter: &profile.AuditStatus{BacklogLimit: 8192, Backlog: 17, Lost: 4000, BacklogWaitTime: 15000},
		Totals: profile.Totals{
			Records: 1000, Queued: 900, Drained: 880, Lost: 100,
			LostByReason: byReason, LostByClass: profile.LostByClass(byReason),
			SilentDrops: 3, Waits: 40, WaitNs: 2_500_000_000, BlockedNs: 3_000_000_000, MaxDepth: 8193,
		},
		Rules: []profile.Rule{
			{Key: "file-open", Syscall: 257, SyscallName: "openat", Arch: "x86_64", Records: 600, Lost: 60, WaitNs: 1_500_000_000},
			{Key: "", Syscall: 80, SyscallName: "chdir", Arch: "x86_64", Comm: "bash", Records: 300, Lost: 30, WaitNs: 500_000_000},
			{Key: "", Syscall: profile.SyscallOther, Records: 100, Lost: 10, WaitNs: 500_000_000},
		},
		Processes: []profile.Process{
			{Tgid: 10, Comm: "stress-ng", CgroupID: 5, Cgroup: "/system.slice/load.service", Records: 500, Lost: 50, WaitNs: 1_000_000_000},
			{Tgid: 11, Comm: "stress-ng", CgroupID: 5, Cgroup: "/system.slice/load.service", Records: 300, Lost: 30, WaitNs: 1_000_000_000},
			{Tgid: 0, Comm: "other", Records: 200, Lost: 20, WaitNs: 500_000_000},
		},
		WaitHistogramNs: []profile.HistogramBucket{
			{Le: 1<<10 - 1, Count: 1}, {Le: 1<<14 - 1, Count: 2}, {Le: 1<<20 - 1, Count: 30},
			{Le: 1<<35 - 1, Count: 4}, {Le: 1<<36 - 1, Count: 2}, {Le: math.MaxUint64, Count: 1},
		},
		Overflows: profile.Overflows{Processes: 7, Rules: 3},
	}
}

const wantText = `
# HELP auditprof_backlog_blocked_seconds Wall time of the audit_log_start calls that slept in the backlog wait.
# TYPE auditprof_backlog_blocked_seconds histogram
auditprof_backlog_blocked_seconds_bucket{le="8.192e-06"} 1
auditprof_backlog_blocked_seconds_bucket{le="1.6384e-05"} 3
auditprof_backlog_blocked_seconds_bucket{le="3.2768e-05"} 3
auditprof_backlog_blocked_seconds_bucket{le="6.5536e-05"} 3
auditprof_backlog_blocked_seconds_bucket{le="0.000131072"} 3
auditprof_backlog_blocked_seconds_bucket{le="0.000262144"} 3
auditprof_backlog_blocked_seconds_bucket{le="0.000524288"} 3
auditprof_backlog_blocked_seconds_bucket{le="0.001048576"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.002097152"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.004194304"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.008388608"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.016777216"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.033554432"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.067108864"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.134217728"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.268435456"} 33
auditprof_backlog_blocked_seconds_bucket{le="0.536870912"} 33
auditprof_backlog_blocked_seconds_bucket{le="1.073741824"} 33
auditprof_backlog_blocked_seconds_bucket{le="2.147483648"} 33
auditprof_backlog_blocked_seconds_bucket{le="4.294967296"} 33
auditprof_backlog_blocked_seconds_bucket{le="8.589934592"} 33
auditprof_backlog_blocked_seconds_bucket{le="17.179869184"} 33
auditprof_backlog_blocked_seconds_bucket{le="34.359738368"} 37
auditprof_backlog_blocked_seconds_bucket{le="+Inf"} 40
auditprof_backlog_blocked_seconds_sum 3
auditprof_backlog_blocked_seconds_count 40
# HELP auditprof_backlog_depth Records on the kernel's audit queue now (AUDIT_GET backlog).
# TYPE auditprof_backlog_depth gauge
auditprof_backlog_depth 17
# HELP auditprof_backlog_depth_max The longest audit queue seen since attaching.
# TYPE auditprof_backlog_depth_max gauge
auditprof_backlog_depth_max 8193
# HELP auditprof_backlog_limit The kernel's backlog_limit in force.
# TYPE auditprof_backlog_limit gauge
auditprof_backlog_limit 8192
# HELP auditprof_backlog_wait_seconds_total Time producers slept in the backlog wait, as the kernel's backlog_wait_time_actual counts it.
# TYPE auditprof_backlog_wait_seconds_total counter
auditprof_backlog_wait_seconds_total 2.5
# HELP auditprof_backlog_wait_time_seconds The kernel's backlog_wait_time in force.
# TYPE auditprof_backlog_wait_time_seconds gauge
auditprof_backlog_wait_time_seconds 60
# HELP auditprof_backlog_waits_total Records whose producer slept in the backlog wait.
# TYPE auditprof_backlog_waits_total counter
auditprof_backlog_waits_total 40
# HELP auditprof_info What auditprof is attached with, and to which kernel.
# TYPE auditprof_info gauge
auditprof_info{attach="fentry",kernel="6.12.0-test"} 1
# HELP auditprof_kernel_lost_total The kernel's own lost counter (AUDIT_GET lost, since boot).
# TYPE auditprof_kernel_lost_total counter
auditprof_kernel_lost_total 4000
# HELP auditprof_overflows_total Events auditprof's bounded kernel maps could not hold (per-rule and per-process rows then go to "other"), and events its programs did not see (recursion_misses, returns_missed, probe_misses: the totals are short by that many).
# TYPE auditprof_overflows_total counter
auditprof_overflows_total{map="inflight"} 0
auditprof_overflows_total{map="inflight_missing"} 0
auditprof_overflows_total{map="probe_misses"} 0
auditprof_overflows_total{map="processes"} 7
auditprof_overflows_total{map="programs"} 0
auditprof_overflows_total{map="reasons"} 0
auditprof_overflows_total{map="recursion_misses"} 0
auditprof_overflows_total{map="returns_missed"} 0
auditprof_overflows_total{map="rule_programs"} 0
auditprof_overflows_total{map="rules"} 3
auditprof_overflows_total{map="timeline_late"} 0
# HELP auditprof_process_lost_total Records lost per program and cgroup.
# TYPE auditprof_process_lost_total counter
auditprof_process_lost_total{cgroup="/system.slice/load.service",comm="stress-ng"} 80
auditprof_process_lost_total{cgroup="other",comm="other"} 20
# HELP auditprof_process_records_total Records per program and cgroup; "other" holds the rest.
# TYPE auditprof_process_records_total counter
auditprof_process_records_total{cgroup="/system.slice/load.service",comm="stress-ng"} 800
auditprof_process_records_total{cgroup="other",comm="other"} 200
# HELP auditprof_process_wait_seconds_total Backlog wait per program and cgroup.
# TYPE auditprof_process_wait_seconds_total counter
auditprof_process_wait_seconds_total{cgroup="/system.slice/load.service",comm="stress-ng"} 2
auditprof_process_wait_seconds_total{cgroup="other",comm="other"} 0.5
# HELP auditprof_records_drained_total Records kauditd took off the audit queue.
# TYPE auditprof_records_drained_total counter
auditprof_records_drained_total 880
# HELP auditprof_records_lost_total Records the kernel counted lost (audit_log_lost), by loss class.
# TYPE auditprof_records_lost_total counter
auditprof_records_lost_total{reason="backlog limit exceeded"} 90
auditprof_records_lost_total{reason="kauditd hold queue overflow"} 0
auditprof_records_lost_total{reason="kauditd retry queue overflow"} 0
auditprof_records_lost_total{reason="other"} 0
auditprof_records_lost_total{reason="out of memory"} 10
auditprof_records_lost_total{reason="rate limit exceeded"} 0
# HELP auditprof_records_queued_total Records put on the kernel's audit queue.
# TYPE auditprof_records_queued_total counter
auditprof_records_queued_total 900
# HELP auditprof_records_total Records the kernel's audit_log_start made (calls past the exclude filter), since attaching.
# TYPE auditprof_records_total counter
auditprof_records_total 1000
# HELP auditprof_rule_lost_total Records lost per audit key, syscall and arch (and program, for records with no key).
# TYPE auditprof_rule_lost_total counter
auditprof_rule_lost_total{arch="x86_64",comm="",key="file-open",syscall="openat"} 60
auditprof_rule_lost_total{arch="x86_64",comm="bash",key="",syscall="chdir"} 30
auditprof_rule_lost_total{arch="other",comm="other",key="other",syscall="other"} 10
# HELP auditprof_rule_records_total Records per audit key, syscall and arch (and program, for records with no key); "other" holds the rest.
# TYPE auditprof_rule_records_total counter
auditprof_rule_records_total{arch="x86_64",comm="",key="file-open",syscall="openat"} 600
auditprof_rule_records_total{arch="x86_64",comm="bash",key="",syscall="chdir"} 300
auditprof_rule_records_total{arch="other",comm="other",key="other",syscall="other"} 100
# HELP auditprof_rule_wait_seconds_total Backlog wait per audit key, syscall and arch (and program, for records with no key).
# TYPE auditprof_rule_wait_seconds_total counter
auditprof_rule_wait_seconds_total{arch="x86_64",comm="",key="file-open",syscall="openat"} 1.5
auditprof_rule_wait_seconds_total{arch="x86_64",comm="bash",key="",syscall="chdir"} 0.5
auditprof_rule_wait_seconds_total{arch="other",comm="other",key="other",syscall="other"} 0.5
# HELP auditprof_setting_changes_total Changes of an audit setting since attaching (backlog_limit, backlog_wait_time, enabled, failure, rate_limit, pid: auditd registering, lost_reset), as the kernel logged them or AUDIT_GET showed them.
# TYPE auditprof_setting_changes_total counter
auditprof_setting_changes_total{setting="backlog_limit"} 0
auditprof_setting_changes_total{setting="backlog_wait_time"} 0
auditprof_setting_changes_total{setting="enabled"} 0
auditprof_setting_changes_total{setting="failure"} 0
auditprof_setting_changes_total{setting="lost_reset"} 0
auditprof_setting_changes_total{setting="pid"} 0
auditprof_setting_changes_total{setting="rate_limit"} 0
# HELP auditprof_silent_drops_total Records kauditd freed without counting them lost (no auditd, or audit=1 not on the command line).
# TYPE auditprof_silent_drops_total counter
auditprof_silent_drops_total 3
`

// TestMetrics: every name, type, label and value of one snapshot.
func TestMetrics(t *testing.T) {
	c := New(DefaultTop)
	mustUpdate(t, c, testProfile())
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantText)); err != nil {
		t.Error(err)
	}
	// The pedantic registry checks the collector's descriptions too.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 52 {
		t.Errorf("GatherAndCount = %d, %v; want 52 series", n, err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestNoSnapshot: before the first snapshot nothing is exported, and the
// registry still gathers without error.
func TestNoSnapshot(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(DefaultTop))
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("GatherAndCount = %d, %v; want 0", n, err)
	}
}

// TestNoAuditGet: a snapshot whose AUDIT_GET did not answer exports no
// AUDIT_GET metric rather than stale ones, and no wait time without HZ.
func TestNoAuditGet(t *testing.T) {
	p := testProfile()
	p.AuditAfter = nil
	c := New(DefaultTop)
	mustUpdate(t, c, p)
	for _, name := range []string{"auditprof_kernel_lost_total", "auditprof_backlog_depth", "auditprof_backlog_limit", "auditprof_backlog_wait_time_seconds"} {
		if n := testutil.CollectAndCount(c, name); n != 0 {
			t.Errorf("%s: %d series without AUDIT_GET", name, n)
		}
	}
	if n := testutil.CollectAndCount(c, "auditprof_backlog_depth_max"); n != 1 {
		t.Errorf("auditprof_backlog_depth_max: %d series, want 1", n)
	}
	p = testProfile()
	p.HZ = 0
	mustUpdate(t, c, p)
	if n := testutil.CollectAndCount(c, "auditprof_backlog_wait_time_seconds"); n != 0 {
		t.Errorf("backlog_wait_time_seconds exported without HZ")
	}
}

// TestOverflowsEveryField: no Overflows field goes unexported.
func TestOverflowsEveryField(t *testing.T) {
	c := New(DefaultTop)
	p := testProfile()
	// Each field a different value, to see each one arrive.
	rv := reflect.ValueOf(&p.Overflows).Elem()
	for i := range rv.NumField() {
		rv.Field(i).SetUint(uint64(100 + i))
	}
	mustUpdate(t, c, p)
	fams := gather(t, c)
	got := map[float64]bool{}
	for _, m := range fams["auditprof_overflows_total"].GetMetric() {
		got[m.GetCounter().GetValue()] = true
	}
	for i := range rv.NumField() {
		if !got[float64(100+i)] {
			t.Errorf("overflow field %s is not exported", rv.Type().Field(i).Name)
		}
	}
	if len(got) != rv.NumField() {
		t.Errorf("%d overflow series, profile.Overflows has %d fields", len(got), rv.NumField())
	}
}

// TestHistogramBounds: the profile's bucket i (values <= 2^(i+1)-1 ns)
// lands exactly under the bound 2^(i+1) ns, below-range buckets under the
// first bound, beyond-range ones only under +Inf.
func TestHistogramBounds(t *testing.T) {
	bounds := Bounds()
	if len(bounds) != 23 || bounds[0] != 8192e-9 || bounds[22] != float64(uint64(1)<<35)/1e9 {
		t.Fatalf("bounds %v", bounds)
	}
	for i := 0; i < 64; i++ {
		le := uint64(1)<<(i+1) - 1
		if i == 63 {
			le = math.MaxUint64
		}
		counts, total := histogram([]profile.HistogramBucket{{Le: le, Count: 1}})
		if total != 1 {
			t.Fatalf("bucket %d: total %d", i, total)
		}
		first := -1 // the first bound counting it
		for j, n := range counts {
			if n == 1 && first < 0 {
				first = j
			}
			if first >= 0 && n != 1 {
				t.Fatalf("bucket %d: counts not cumulative: %v", i, counts)
			}
		}
		var want int
		switch {
		case i+1 <= minBoundExp:
			want = 0
		case i+1 <= maxBoundExp:
			want = i + 1 - minBoundExp
		default:
			want = -1
		}
		if first != want {
			t.Errorf("bucket %d (le %d ns): first bound %d, want %d", i, le, first, want)
		}
		if first >= 0 && (float64(le)/1e9 > bounds[first] || first > 0 && float64(le)/1e9 <= bounds[first-1]) {
			t.Errorf("bucket %d (le %d ns) counted under %g s", i, le, bounds[first])
		}
	}
}

func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	list, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]*dto.MetricFamily{}
	for _, f := range list {
		fams[f.GetName()] = f
	}
	return fams
}

// flat maps "name{labels}" to value for every counter series of the
// per-rule and per-process families.
func flat(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "auditprof_rule_") && !strings.HasPrefix(name, "auditprof_process_") {
			continue
		}
		for _, m := range f.Metric {
			var ls []string
			for _, lp := range m.Label {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			out[name+"{"+strings.Join(ls, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// checkSeq feeds snapshots in order and checks after each: no series
// disappears or goes down, at most top+1 series per metric, and each
// family's series sum to the profile's rows.
func checkSeq(t *testing.T, top int, snaps []*profile.Profile) map[string]float64 {
	t.Helper()
	c := New(top)
	prev := map[string]float64{}
	for k, p := range snaps {
		mustUpdate(t, c, p)
		fams := gather(t, c)
		cur := flat(fams)
		for s, v := range prev {
			w, ok := cur[s]
			if !ok {
				t.Errorf("snapshot %d: %s disappeared", k, s)
			} else if w < v {
				t.Errorf("snapshot %d: %s went down from %g to %g", k, s, v, w)
			}
		}
		var rr, rl, rw, pr, pl, pw float64
		for _, r := range p.Rules {
			rr, rl, rw = rr+float64(r.Records), rl+float64(r.Lost), rw+float64(r.WaitNs)/1e9
		}
		for _, r := range p.Processes {
			pr, pl, pw = pr+float64(r.Records), pl+float64(r.Lost), pw+float64(r.WaitNs)/1e9
		}
		for name, want := range map[string]float64{
			"auditprof_rule_records_total": rr, "auditprof_rule_lost_total": rl, "auditprof_rule_wait_seconds_total": rw,
			"auditprof_process_records_total": pr, "auditprof_process_lost_total": pl, "auditprof_process_wait_seconds_total": pw,
		} {
			if got := Sum(fams, name); math.Abs(got-want) > 1e-9*math.Max(1, want) {
				t.Errorf("snapshot %d: %s sums to %g, the profile's rows to %g", k, name, got, want)
			}
			if n := len(fams[name].GetMetric()); n > top+1 {
				t.Errorf("snapshot %d: %s has %d series, more than --top %d + other", k, name, n, top)
			}
		}
		prev = cur
	}
	return prev
}

func rule(key, name string, records uint64) profile.Rule {
	return profile.Rule{Key: key, Syscall: 257, SyscallName: name, Arch: "x86_64", Records: records, Lost: records / 10, WaitNs: records * 1000}
}

func proc(tgid uint32, comm, cgroup string, records uint64) profile.Process {
	return profile.Process{Tgid: tgid, Comm: comm, CgroupID: uint64(tgid), Cgroup: cgroup, Records: records, Lost: records / 2, WaitNs: records * 7}
}

// TestFrozenMembership: places go to the label sets that first carry
// counts, most records first; once full, newcomers (however busy) and a
// row whose labels change go to "other", which only grows.
func TestFrozenMembership(t *testing.T) {
	snaps := []*profile.Profile{
		{Rules: []profile.Rule{rule("a", "openat", 10)},
			Processes: []profile.Process{proc(1, "a", "/a", 10)}},
		// One free place, two newcomers: the busier takes it.
		{Rules: []profile.Rule{rule("a", "openat", 20), rule("b", "openat", 5), rule("c", "openat", 50)},
			Processes: []profile.Process{proc(1, "a", "/a", 20), proc(2, "b", "", 5), proc(3, "c", "/c", 50)}},
		// Full: d is the busiest of all and still goes to other; b grows
		// in other; process 2's cgroup is named now (its old series keeps
		// its count, the growth goes to other).
		{Rules: []profile.Rule{rule("a", "openat", 30), rule("b", "openat", 15), rule("c", "openat", 60), rule("d", "openat", 1000)},
			Processes: []profile.Process{proc(1, "a", "/a", 30), proc(2, "b", "/b", 15), proc(3, "c", "/c", 60), proc(4, "d", "/d", 1000)}},
		// A new process in a member's comm and cgroup adds to its series.
		{Rules: []profile.Rule{rule("a", "openat", 30), rule("b", "openat", 15), rule("c", "openat", 60), rule("d", "openat", 2000)},
			Processes: []profile.Process{proc(1, "a", "/a", 30), proc(2, "b", "/b", 15), proc(3, "c", "/c", 60), proc(4, "d", "/d", 2000), proc(5, "a", "/a", 3)}},
	}
	got := checkSeq(t, 2, snaps)
	want := map[string]float64{
		"auditprof_rule_records_total{arch=x86_64,comm=,key=a,syscall=openat}":             30,
		"auditprof_rule_records_total{arch=x86_64,comm=,key=c,syscall=openat}":             60,
		"auditprof_rule_records_total{arch=other,comm=other,key=other,syscall=other}":      2015,
		"auditprof_process_records_total{cgroup=/a,comm=a}":                                33,
		"auditprof_process_records_total{cgroup=/c,comm=c}":                                60,
		"auditprof_process_records_total{cgroup=other,comm=other}":                         2015,
		"auditprof_process_lost_total{cgroup=/a,comm=a}":                                   16, // 15 + 1
		"auditprof_process_lost_total{cgroup=other,comm=other}":                            1007,
		"auditprof_rule_lost_total{arch=other,comm=other,key=other,syscall=other}":         201,
		"auditprof_rule_wait_seconds_total{arch=other,comm=other,key=other,syscall=other}": 2015e-6,
		"auditprof_process_wait_seconds_total{cgroup=other,comm=other}":                    2015 * 7e-9,
		"auditprof_rule_wait_seconds_total{arch=x86_64,comm=,key=a,syscall=openat}":        30e-6,
		"auditprof_process_wait_seconds_total{cgroup=/a,comm=a}":                           33 * 7e-9,
		"auditprof_rule_lost_total{arch=x86_64,comm=,key=c,syscall=openat}":                6,
		"auditprof_process_lost_total{cgroup=/c,comm=c}":                                   30,
		"auditprof_rule_wait_seconds_total{arch=x86_64,comm=,key=c,syscall=openat}":        60e-6,
		"auditprof_process_wait_seconds_total{cgroup=/c,comm=c}":                           60 * 7e-9,
		"auditprof_rule_lost_total{arch=x86_64,comm=,key=a,syscall=openat}":                3,
	}
	for s, w := range want {
		if g, ok := got[s]; !ok || math.Abs(g-w) > 1e-12 {
			t.Errorf("%s = %g (present %v), want %g", s, g, ok, w)
		}
	}
	if len(got) != 18 {
		t.Errorf("%d series, want 18 (2 places + other, 3 metrics, 2 families):\n%v", len(got), got)
	}
}

// TestKernelOverflowRows: the kernel maps' own overflow rows go to "other"
// even while places are free.
func TestKernelOverflowRows(t *testing.T) {
	p := &profile.Profile{
		Rules:     []profile.Rule{{Syscall: profile.SyscallOther, Records: 99}},
		Processes: []profile.Process{{Tgid: 0, Comm: "other", Records: 99}},
	}
	got := checkSeq(t, 5, []*profile.Profile{p})
	if len(got) != 6 || got["auditprof_rule_records_total{arch=other,comm=other,key=other,syscall=other}"] != 99 ||
		got["auditprof_process_records_total{cgroup=other,comm=other}"] != 99 {
		t.Errorf("%v", got)
	}
}

// TestSeveralKeys: keys joined by \x01 in the kernel are shown with commas.
func TestSeveralKeys(t *testing.T) {
	c := New(1)
	mustUpdate(t, c, &profile.Profile{Rules: []profile.Rule{{Key: "a\x01b", Syscall: 2, Arch: "x86_64", Records: 1}}})
	if v, ok := Value(gather(t, c), "auditprof_rule_records_total", "key", "a,b", "syscall", "syscall 2", "comm", ""); !ok || v != 1 {
		t.Errorf("Value = %g, %v", v, ok)
	}
}

// TestInvalidUTF8: program names are bytes, not UTF-8; they must not fail
// the scrape.
func TestInvalidUTF8(t *testing.T) {
	c := New(DefaultTop)
	mustUpdate(t, c, &profile.Profile{
		Rules:     []profile.Rule{{Syscall: 2, Arch: "x86_64", Comm: "a\xffb", Records: 1}},
		Processes: []profile.Process{{Tgid: 1, Comm: "a\xffb", Records: 1}},
	})
	fams := gather(t, c)
	if v, ok := Value(fams, "auditprof_process_records_total", "comm", "a\uFFFDb"); !ok || v != 1 {
		t.Errorf("process series: %g %v", v, ok)
	}
	if v, ok := Value(fams, "auditprof_rule_records_total", "comm", "a\uFFFDb"); !ok || v != 1 {
		t.Errorf("rule series: %g %v", v, ok)
	}
}

// FuzzFamily: random sequences of growing rows whose labels may change
// keep every series monotonic, bounded and summing to the rows.
func FuzzFamily(f *testing.F) {
	f.Add(uint8(2), []byte{1, 5, 2, 7, 3, 1, 0, 9, 4, 4, 1, 200, 7, 3})
	f.Add(uint8(1), []byte{0, 0, 0, 0})
	f.Add(uint8(5), []byte{9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 250, 251, 252, 253})
	f.Fuzz(func(t *testing.T, top uint8, ops []byte) {
		if top == 0 || len(ops) > 512 {
			return
		}
		// Eight processes; each op pair (who, what) grows one process by
		// what, and some ops rename its cgroup or comm's "" cgroup.
		procs := make([]profile.Process, 8)
		for i := range procs {
			procs[i] = profile.Process{Tgid: uint32(i), Comm: fmt.Sprintf("p%d", i%3)}
		}
		procs[0].Comm = "other" // the kernel map's overflow row
		var snaps []*profile.Profile
		for i := 0; i+1 < len(ops); i += 2 {
			who, what := int(ops[i]%8), uint64(ops[i+1])
			p := &procs[who]
			p.Records += what
			p.Lost += what / 3
			p.WaitNs += what * 1000
			if what%5 == 0 && p.Cgroup == "" {
				p.Cgroup = fmt.Sprintf("/g%d", what%3)
			}
			if what%2 == 1 {
				snaps = append(snaps, &profile.Profile{Processes: append([]profile.Process(nil), procs...)})
			}
		}
		checkSeq(t, int(top%8)+1, snaps)
	})
}

// TestConsumerMetrics: the consumer's series, summed by thread role, and
// absent without a consumer.
func TestConsumerMetrics(t *testing.T) {
	p := testProfile()
	p.Consumer = &profile.Consumer{PID: 10, Received: 1234,
		Threads: []profile.ConsumerThread{
			{TID: 10, Main: true, OnCPUNs: 2e9, RunnableNs: 1e9, OffCPUNs: map[string]uint64{profile.ConsumerSync: 3e9}},
			{TID: 11, OnCPUNs: 1e9, OffCPUNs: map[string]uint64{profile.ConsumerSync: 4e9}},
			{TID: 12, OffCPUNs: map[string]uint64{profile.ConsumerWait: 5e9}},
		},
		Kauditd: &profile.Kauditd{PID: 2, SendBlockedNs: 7e9, SendRetryNs: 1e9}}
	c := New(0)
	mustUpdate(t, c, p)
	fams := gather(t, c)
	got := map[string]float64{}
	for _, name := range []string{"auditprof_consumer_seconds_total", "auditprof_kauditd_seconds_total", "auditprof_kauditd_send_seconds_total", "auditprof_consumer_records_received_total"} {
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
		for _, m := range f.Metric {
			var ls []string
			for _, lp := range m.Label {
				ls = append(ls, lp.GetValue())
			}
			got[name+"{"+strings.Join(ls, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	for k, want := range map[string]float64{
		"auditprof_consumer_records_received_total{}":     1234,
		"auditprof_consumer_seconds_total{sync,main}":     3,
		"auditprof_consumer_seconds_total{runnable,main}": 1,
		"auditprof_consumer_seconds_total{sync,others}":   4,
		"auditprof_consumer_seconds_total{wait,others}":   5,
		"auditprof_consumer_seconds_total{on_cpu,others}": 1,
		"auditprof_kauditd_seconds_total{send_blocked}":   7,
		"auditprof_kauditd_send_seconds_total{retry}":     1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if n := len(got); n != 1+2*len(consumerStates)+4+3 {
		t.Errorf("%d consumer series", n)
	}
	p.Consumer = nil
	c = New(0)
	mustUpdate(t, c, p)
	if n := testutil.CollectAndCount(c, "auditprof_consumer_seconds_total"); n != 0 {
		t.Errorf("%d consumer series without a consumer", n)
	}
}

// stallRecording builds a recording's timeline bucket by bucket: steady
// buckets (2 records queued and drained), stalls (2 queued, nothing
// drained, the depth rising) each ended by a bucket whose pass takes all,
// and the totals and AUDIT_GET that go with any prefix of it.
type stallRecording struct {
	queued, depth, drained []uint64
	level                  uint64
}

func (r *stallRecording) steady(n int) {
	for range n {
		r.queued, r.depth, r.drained = append(r.queued, 2), append(r.depth, 2), append(r.drained, 2)
	}
}

func (r *stallRecording) stall(n int) {
	for range n + 1 {
		r.level += 2
		r.queued, r.depth, r.drained = append(r.queued, 2), append(r.depth, r.level), append(r.drained, 0)
	}
	r.drained[len(r.drained)-1], r.level = r.level, 0
}

// slowStall is a stall of n buckets whose consumer then catches up over
// three buckets, the depth falling in them, its pass counted in the last.
// A window that starts in them needs the queue's length at its start:
// from nothing, the drain would read as coming late, and the first of
// them as a stall.
func (r *stallRecording) slowStall(n int) {
	for range n {
		r.level += 2
		r.queued, r.depth, r.drained = append(r.queued, 2), append(r.depth, r.level), append(r.drained, 0)
	}
	l := r.level
	r.queued, r.depth, r.drained = append(r.queued, 1, 1, 1), append(r.depth, l+1, (l+2)/2, 1), append(r.drained, 0, 0, l+3)
	r.level = 0
}

// stallBase is the recording's first bucket, as the monotonic clock numbers it.
const stallBase = 1000

// snapshot is what the exporter would get with buckets [from, to) in its
// window: as probe.Snapshot reads them, the totals run two buckets past
// the window's end (the buckets still being written to).
func (r *stallRecording) snapshot(from, to int) *profile.Profile {
	const b = int64(10 * time.Millisecond)
	p := &profile.Profile{SchemaVersion: profile.SchemaVersion, Attach: profile.AttachFentry, HZ: 250,
		DurationNs: int64(to+2) * b, AuditBefore: &profile.AuditStatus{BacklogLimit: 8192}}
	for i := range min(to+2, len(r.queued)) {
		p.Totals.Queued += r.queued[i]
		p.Totals.Drained += r.drained[i]
		p.Totals.Records += r.queued[i]
	}
	n := to - from
	p.Timeline = profile.NewTimeline(b, int64(stallBase+from)*b, profile.Series{
		Arrivals: make([]int64, n),
		Queued:   r.queued[from:to],
		MaxDepth: r.depth[from:to],
		Drained:  r.drained[from:to],
		Lost:     make([]uint64, n),
		Waits:    make([]uint64, n),
		WaitNs:   make([]uint64, n),
	})
	return p
}

// levelAt is the queue's length at the start of bucket i.
func (r *stallRecording) levelAt(i int) uint64 {
	var l uint64
	for k := range i {
		l = l + r.queued[k] - r.drained[k]
	}
	return l
}

func stallLayout() *stallRecording {
	var r stallRecording
	r.steady(10)
	r.stall(3) // A: buckets 10-12
	r.steady(10)
	r.stall(5) // B: 24-28
	r.steady(10)
	r.stall(2) // C: 40-41
	r.steady(7)
	r.slowStall(10) // E: 50-59, caught up over 60-62
	r.steady(7)
	r.slowStall(10) // F: 70-79, caught up over 80-82
	r.steady(5)
	return &r
}

// TestStallMetrics: the stall gauge is the longest stall MeasureStalls
// finds in the snapshot's window, one still going included; the histogram
// counts the stalls that ended, as MeasureStalls finds them in the
// recording so far, each once: a stall still going when one snapshot is
// taken is counted when a later one sees it end, one cut short by the
// window's start sliding past it is not counted again, nor is a snapshot
// read twice.
func TestStallMetrics(t *testing.T) {
	r := stallLayout()
	c := New(DefaultTop)
	for _, tc := range []struct {
		name     string
		from, to int
		longest  float64 // the gauge, seconds
		ended    []int   // the stalls counted so far, buckets each
		gap      bool    // the window starts past the last one's end
	}{
		// A ended; B is 4 buckets long so far, the longest, not counted.
		{"B going on", 0, 28, 0.04, []int{3}, false},
		// The window starts inside A (counted, not again); B and C ended.
		{"B ended", 11, 45, 0.05, []int{3, 5, 2}, false},
		{"read again", 11, 45, 0.05, []int{3, 5, 2}, false},
		{"E ended", 45, 65, 0.10, []int{3, 5, 2, 10}, false},
		// The window starts as E's consumer catches up, and ends in F:
		// the queue's length at its start, carried over from the last
		// window (the totals would count F's first records too), keeps
		// the catching up from reading as a stall, and F from reading
		// shorter than it is.
		{"starts catching up", 60, 72, 0.02, []int{3, 5, 2, 10}, false},
		// Past the last window's end: the start depth from the totals,
		// and F counted with the part of it the window holds.
		{"after a gap", 74, 88, 0.06, []int{3, 5, 2, 10, 6}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustUpdate(t, c, r.snapshot(tc.from, tc.to))
			fams := gather(t, c)
			checkStallGauge(t, fams, r, tc.from, tc.to, tc.longest)

			// The recording so far, less a stall still going at its end.
			whole := r.snapshot(0, tc.to)
			var ended []int
			stalls, err := sizing.FindStalls(&whole.Timeline, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range stalls {
				if st.First+st.Buckets < tc.to {
					ended = append(ended, st.Buckets)
				}
			}
			ms, err := sizing.MeasureStalls(whole)
			if err != nil {
				t.Fatal(err)
			}
			if ms.Count != len(ended) && ms.Count != len(ended)+1 {
				t.Fatalf("MeasureStalls counts %d stalls, FindStalls %d ended", ms.Count, len(ended))
			}
			if tc.gap {
				// F began before the window.
				ended[len(ended)-1] = 80 - tc.from
			}
			if !slices.Equal(ended, tc.ended) {
				t.Fatalf("the recording so far has ended stalls %v, want %v", ended, tc.ended)
			}
			var sum float64
			for _, n := range ended {
				sum += float64(n) * 0.01
			}
			if got, ok := Value(fams, "auditprof_consumer_stall_seconds_count"); !ok || got != float64(len(ended)) {
				t.Errorf("stalls counted %g, want %d", got, len(ended))
			}
			if got, _ := Value(fams, "auditprof_consumer_stall_seconds_sum"); math.Abs(got-sum) > 1e-9 {
				t.Errorf("stalls' sum %g s, want %g", got, sum)
			}
			h := fams["auditprof_consumer_stall_seconds"].GetMetric()[0].GetHistogram()
			for _, b := range h.GetBucket() {
				var want uint64
				for _, n := range ended {
					if float64(n)*0.01 <= b.GetUpperBound()+1e-12 {
						want++
					}
				}
				if b.GetCumulativeCount() != want {
					t.Errorf("le %g: %d stalls, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
			if len(h.GetBucket()) != len(StallBounds()) {
				t.Errorf("%d buckets, want %d", len(h.GetBucket()), len(StallBounds()))
			}
		})
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// checkStallGauge: the gauge is what MeasureStalls finds in the window,
// measured as a recording that starts where it does, with the queue it
// had then.
func checkStallGauge(t *testing.T, fams map[string]*dto.MetricFamily, r *stallRecording, from, to int, want float64) {
	t.Helper()
	w := r.snapshot(from, to)
	w.AuditBefore.Backlog = uint32(r.levelAt(from))
	ms, err := sizing.MeasureStalls(w)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := Value(fams, "auditprof_consumer_stall_longest_seconds"); !ok || got != ms.Longest.Seconds() || got != want {
		t.Errorf("longest stall %g (present %v); MeasureStalls of the window %s, want %g", got, ok, ms.Longest, want)
	}
}

// TestStallFirstWindow: a first snapshot whose window starts after the
// recording did (an --interval longer than the window) takes the queue's
// length at its start from the totals: the consumer catching up there is
// no stall, and nothing is counted.
func TestStallFirstWindow(t *testing.T) {
	r := stallLayout()
	c := New(DefaultTop)
	mustUpdate(t, c, r.snapshot(60, 70))
	fams := gather(t, c)
	checkStallGauge(t, fams, r, 60, 70, 0)
	if got, ok := Value(fams, "auditprof_consumer_stall_seconds_count"); !ok || got != 0 {
		t.Errorf("stalls counted %g (present %v), want 0", got, ok)
	}
}

// TestNoStallSeries: no timeline, no stall series (the snapshot has no
// per-bucket queue to measure).
func TestNoStallSeries(t *testing.T) {
	c := New(DefaultTop)
	mustUpdate(t, c, testProfile())
	for _, name := range []string{"auditprof_consumer_stall_longest_seconds", "auditprof_consumer_stall_seconds"} {
		if n := testutil.CollectAndCount(c, name); n != 0 {
			t.Errorf("%s: %d series without a timeline", name, n)
		}
	}
}

// TestStallBounds: 10 ms to 81.92 s by powers of two; a stall exactly on
// a bound is counted under it.
func TestStallBounds(t *testing.T) {
	b := StallBounds()
	if len(b) != 14 || b[0] != 0.01 || b[13] != 81.92 {
		t.Fatalf("bounds %v", b)
	}
	s := newStallTracker()
	var r stallRecording
	r.steady(1)
	r.stall(4)
	r.steady(1)
	v, err := s.update(r.snapshot(0, len(r.queued)))
	if err != nil {
		t.Fatal(err)
	}
	if v == nil || v.count != 1 || v.counts[1] != 0 || v.counts[2] != 1 {
		t.Errorf("a 40 ms stall: %+v", v)
	}
}

// mustUpdate publishes p, failing the test if the collector refuses it.
func mustUpdate(t *testing.T, c *Collector, p *profile.Profile) {
	t.Helper()
	if err := c.Update(p); err != nil {
		t.Fatal(err)
	}
}

// TestSettingChanges: the changes of each setting are counted, every
// setting exported, and the last change's time given once it changed.
func TestSettingChanges(t *testing.T) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	now := ts.Nano()
	c := New(DefaultTop)
	p := testProfile()
	p.Settings = []profile.SettingChange{
		{MonoNs: now - 20e9, Field: profile.SettingBacklogLimit, Old: 300, New: 20000, Seen: profile.SeenKernel},
		{MonoNs: now - 10e9, Field: profile.SettingBacklogLimit, Old: 20000, New: 500, Seen: profile.SeenKernel},
		{MonoNs: now - 5e9, SinceNs: now - 6e9, Field: profile.SettingPID, Old: 640, New: 0, Seen: profile.SeenPoll},
	}
	mustUpdate(t, c, p)
	fams := gather(t, c)
	for field, want := range map[string]float64{"backlog_limit": 2, "pid": 1, "enabled": 0, "lost_reset": 0} {
		if v, ok := Value(fams, "auditprof_setting_changes_total", "setting", field); !ok || v != want {
			t.Errorf("setting_changes_total{%s} = %g, %v; want %g", field, v, ok, want)
		}
	}
	last, ok := Value(fams, "auditprof_setting_last_change_timestamp_seconds", "setting", "backlog_limit")
	if wall := float64(time.Now().Unix()); !ok || last < wall-12 || last > wall-9 {
		t.Errorf("the limit's last change at %g (%v), want about 10 s ago (%g)", last, ok, wall-10)
	}
	if _, ok := Value(fams, "auditprof_setting_last_change_timestamp_seconds", "setting", "enabled"); ok {
		t.Errorf("a last change's time for a setting that never changed")
	}
}
