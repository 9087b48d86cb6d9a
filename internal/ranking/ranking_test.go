package ranking

import (
	"reflect"
	"slices"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Counts
		keys []string
		want int
	}{
		{"more records first", Counts{Records: 2}, Counts{Records: 1}, []string{Records}, -1},
		{"fewer records after", Counts{Records: 1}, Counts{Records: 2}, []string{Records}, 1},
		{"lost first", Counts{Records: 1, Lost: 5}, Counts{Records: 9, Lost: 4}, By(Lost), -1},
		{"lost tie: records", Counts{Records: 1, Lost: 5}, Counts{Records: 9, Lost: 5}, By(Lost), 1},
		{"wait first", Counts{WaitNs: 10}, Counts{Records: 9, WaitNs: 9}, By(Wait), -1},
		{"equal on the keys", Counts{Records: 3, Lost: 1}, Counts{Records: 3, Lost: 2}, By(Records), 0},
		{"later keys break ties", Counts{Records: 3, Lost: 1}, Counts{Records: 3, Lost: 2}, []string{Records, Lost, Wait}, 1},
		{"no keys", Counts{Records: 3}, Counts{Records: 4}, nil, 0},
	} {
		if got := Compare(tc.a, tc.b, tc.keys...); got != tc.want {
			t.Errorf("%s: Compare(%+v, %+v, %v) = %d, want %d", tc.name, tc.a, tc.b, tc.keys, got, tc.want)
		}
	}
}

// An unknown key is a bug (a typo), not a ranking by records.
func TestGetUnknownKeyPanics(t *testing.T) {
	defer func() {
		if r := recover(); r != `ranking: unknown sort key "size" (want one of records, lost, wait)` {
			t.Errorf("recovered %v", r)
		}
	}()
	Compare(Counts{Records: 4}, Counts{Records: 3}, "size")
	t.Error("no panic")
}

func TestSince(t *testing.T) {
	for _, tc := range []struct {
		cur, prev, want Counts
	}{
		{Counts{5, 3, 100}, Counts{2, 3, 40}, Counts{3, 0, 60}},
		{Counts{5, 3, 100}, Counts{}, Counts{5, 3, 100}},
		// A counter that went back gains nothing, never wraps.
		{Counts{1, 3, 100}, Counts{2, 4, 100}, Counts{0, 0, 0}},
	} {
		if got := tc.cur.Since(tc.prev); got != tc.want {
			t.Errorf("%+v.Since(%+v) = %+v, want %+v", tc.cur, tc.prev, got, tc.want)
		}
	}
}

func TestShare(t *testing.T) {
	for _, tc := range []struct {
		part, whole uint64
		want        float64
	}{
		{1, 4, 0.25},
		{0, 4, 0},
		{4, 4, 1},
		{3, 0, 0},
	} {
		if got := Share(tc.part, tc.whole); got != tc.want {
			t.Errorf("Share(%d, %d) = %v, want %v", tc.part, tc.whole, got, tc.want)
		}
	}
}

func TestKeys(t *testing.T) {
	if got := Keys(); !slices.Equal(got, []string{"records", "lost", "wait"}) {
		t.Errorf("Keys() = %v", got)
	}
	for s, want := range map[string]bool{"records": true, "lost": true, "wait": true, "size": false, "": false} {
		if Valid(s) != want {
			t.Errorf("Valid(%q) = %v", s, !want)
		}
	}
}

func TestNoisiest(t *testing.T) {
	p := &profile.Profile{
		Rules: []profile.Rule{{Key: "a", Records: 1}, {Key: "b", Records: 5}, {Key: "c", Records: 5}, {Key: "d", Records: 3}},
		Processes: []profile.Process{
			{Tgid: 1, Records: 2, Lost: 9}, {Tgid: 2, Records: 7}, {Tgid: 3, Records: 2},
		},
	}
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{2, []string{"b", "c"}}, // ties keep the profile's order
		{0, []string{"b", "c", "d", "a"}},
		{9, []string{"b", "c", "d", "a"}},
	} {
		var got []string
		for _, r := range NoisiestRules(p, tc.n) {
			got = append(got, r.Key)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("NoisiestRules(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	if p.Rules[0].Key != "a" {
		t.Error("NoisiestRules sorted the profile's rows in place")
	}
	var tgids []uint32
	for _, pr := range NoisiestProcesses(p, 3) {
		tgids = append(tgids, pr.Tgid)
	}
	if !slices.Equal(tgids, []uint32{2, 1, 3}) {
		t.Errorf("NoisiestProcesses = %v", tgids)
	}
}

func TestGroups(t *testing.T) {
	p := &profile.Profile{
		DurationNs: 2e9,
		Totals:     profile.Totals{Records: 100, Lost: 10},
		LoadedRules: []profile.LoadedRule{
			{Index: 0, Text: "-a always,exit -S openat -k files"},
			{Index: 1, Text: "-a always,exit -S execve -k exec"},
		},
		Rules: []profile.Rule{
			{Key: "files", Syscall: 257, Arch: "x86_64", Matches: []int{0}, Records: 30, Events: 10, Lost: 8},
			{Key: "exec", Syscall: 59, Arch: "x86_64", Matches: []int{1}, Records: 60, Events: 20, Lost: 2, WaitNs: 5},
			{Key: "files", Syscall: 257, Arch: "i386", Matches: []int{0}, Records: 10, Events: 5},
		},
	}
	for _, tc := range []struct {
		key  string
		want []string
	}{
		{Records, []string{"exec", "files"}},
		{Lost, []string{"files", "exec"}},
		{Wait, []string{"exec", "files"}},
	} {
		gs := Groups(p, tc.key)
		var keys []string
		for _, g := range gs {
			keys = append(keys, g.Key)
		}
		if !slices.Equal(keys, tc.want) {
			t.Errorf("Groups by %s: %v, want %v", tc.key, keys, tc.want)
		}
	}
	gs := Groups(p, Lost)
	want := Group{RecordsPerSec: 20, RecordShare: 0.4, LostShare: 0.8, RecordsPerEvent: 40.0 / 15}
	got := gs[0]
	got.Group = want.Group
	if !reflect.DeepEqual(got, want) || gs[0].Records != 40 || !slices.Equal(gs[0].Rows, []int{0, 2}) {
		t.Errorf("files: %+v", gs[0])
	}
	if g := Groups(&profile.Profile{}, Records); len(g) != 0 {
		t.Errorf("no rows: %v", g)
	}
}

func TestRankIntervals(t *testing.T) {
	rows := []Interval{
		{Name: "idle", Total: Counts{Records: 100}},
		{Name: "b", Delta: Counts{Records: 5}, Total: Counts{Records: 5}},
		{Name: "a", Delta: Counts{Records: 5}, Total: Counts{Records: 5}},
		{Name: "lossy", Delta: Counts{Records: 1, Lost: 3}, Total: Counts{Records: 9, Lost: 3}},
		{Name: "a", Tgid: 7, Delta: Counts{Records: 5}, Total: Counts{Records: 5}},
		{Name: "old", Delta: Counts{Records: 5}, Total: Counts{Records: 50}},
	}
	for _, tc := range []struct {
		key  string
		n    int
		want []int
	}{
		// Interval first, then since the start, then name and tgid; a row
		// with nothing in the interval after every row with something.
		{Records, 0, []int{5, 2, 4, 1, 3, 0}},
		{Records, 2, []int{5, 2}},
		{Lost, 0, []int{3, 5, 2, 4, 1, 0}},
		{Wait, 0, []int{5, 2, 4, 1, 3, 0}},
	} {
		if got := RankIntervals(rows, tc.key, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("by %s, top %d: %v, want %v", tc.key, tc.n, got, tc.want)
		}
	}
}
