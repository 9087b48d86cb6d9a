// Package ranking orders programs, units and containers (the program rows
// summed by cgroup), processes and audit rules by what they cost the
// backlog (records made, records lost, time their producers waited) and
// says what share of the recording (or of a rule) each holds. `rules`, `top`, `report`,
// `recommend` and the exporter's choice of the series that keep a place of
// their own all rank here, so that "noisiest" means the same everywhere.
package ranking

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/auditprof/auditprof/internal/auditrules"
	"github.com/auditprof/auditprof/internal/profile"
)

// Sort keys, as --sort takes them.
const (
	Records = "records"
	Lost    = "lost"
	Wait    = "wait"
)

// Keys returns the sort keys in the order --sort lists them.
func Keys() []string { return []string{Records, Lost, Wait} }

// Valid says whether s is a sort key.
func Valid(s string) bool { return slices.Contains(Keys(), s) }

// Counts are what a row is ranked by.
type Counts struct {
	Records, Lost, WaitNs uint64
}

// RuleCounts and ProcessCounts are a profile row's counts.
func RuleCounts(r profile.Rule) Counts       { return Counts{r.Records, r.Lost, r.WaitNs} }
func ProcessCounts(p profile.Process) Counts { return Counts{p.Records, p.Lost, p.WaitNs} }

// Get returns the counter key names. Keys come from the code or from
// --sort, which refuses any other, so an unknown key is a bug and panics
// rather than ranking by records unnoticed.
func (c Counts) Get(key string) uint64 {
	switch key {
	case Records:
		return c.Records
	case Lost:
		return c.Lost
	case Wait:
		return c.WaitNs
	}
	panic(fmt.Sprintf("ranking: unknown sort key %q (want one of %s)", key, strings.Join(Keys(), ", ")))
}

// IsZero says whether nothing was counted.
func (c Counts) IsZero() bool { return c == Counts{} }

// Add adds d.
func (c *Counts) Add(d Counts) {
	c.Records += d.Records
	c.Lost += d.Lost
	c.WaitNs += d.WaitNs
}

// Since is what c gained over prev, counter by counter. Counters only
// grow; one that went back gains nothing rather than wrapping.
func (c Counts) Since(prev Counts) Counts {
	return Counts{gain(prev.Records, c.Records), gain(prev.Lost, c.Lost), gain(prev.WaitNs, c.WaitNs)}
}

func gain(prev, now uint64) uint64 {
	if now < prev {
		return 0
	}
	return now - prev
}

// Compare ranks a before b (negative) when a has more of the first of
// keys on which they differ; 0 when they are equal on all of them.
func Compare(a, b Counts, keys ...string) int {
	for _, k := range keys {
		if c := cmp.Compare(b.Get(k), a.Get(k)); c != 0 {
			return c
		}
	}
	return 0
}

// By is the order of a --sort key: that counter, then records.
func By(key string) []string { return []string{key, Records} }

// Sort sorts rows by their counts, the keys compared in turn, most first;
// ties keep their order.
func Sort[T any](rows []T, counts func(T) Counts, keys ...string) {
	slices.SortStableFunc(rows, func(a, b T) int { return Compare(counts(a), counts(b), keys...) })
}

// Top returns a sorted copy of the first n rows (0: all) by keys.
func Top[T any](rows []T, n int, counts func(T) Counts, keys ...string) []T {
	out := slices.Clone(rows)
	Sort(out, counts, keys...)
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// NoisiestRules returns the n rule rows with the most records, ties in
// the profile's order.
func NoisiestRules(p *profile.Profile, n int) []profile.Rule {
	return Top(p.Rules, n, RuleCounts, Records)
}

// NoisiestProcesses returns the n processes with the most records, ties in
// the profile's order.
func NoisiestProcesses(p *profile.Profile, n int) []profile.Process {
	return Top(p.Processes, n, ProcessCounts, Records)
}

// Share is part's share of whole, 0 when whole is 0.
func Share(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// Group is a loaded rule, as `rules` shows it (see auditrules.Group), with
// its rates and its shares of the recording.
type Group struct {
	auditrules.Group
	RecordsPerSec   float64
	RecordShare     float64
	LostShare       float64
	RecordsPerEvent float64
}

// Groups returns the profile's rule groups ranked by key, then records
// (ties in auditrules.Groups' order), with their rates and shares.
func Groups(p *profile.Profile, key string) []Group {
	secs := float64(p.DurationNs) / 1e9
	var out []Group
	for _, g := range auditrules.Groups(p) {
		r := Group{Group: g, RecordShare: Share(g.Records, p.Totals.Records), LostShare: Share(g.Lost, p.Totals.Lost)}
		if secs > 0 {
			r.RecordsPerSec = float64(g.Records) / secs
		}
		if g.Events > 0 {
			r.RecordsPerEvent = float64(g.Records) / float64(g.Events)
		}
		out = append(out, r)
	}
	Sort(out, func(g Group) Counts { return Counts{g.Records, g.Lost, g.WaitNs} }, By(key)...)
	return out
}

// Interval is a row of a live view: its counts over the interval and
// since the start, and its name (and tgid, for processes) for ties.
type Interval struct {
	Delta, Total Counts
	Name         string
	Tgid         uint32
}

// CompareInterval is top's order by key: the interval's counter; rows
// with anything in the interval before those with nothing; the counter
// since the start; records in the interval, then since the start; name,
// then tgid.
func CompareInterval(a, b *Interval, key string) int {
	return cmp.Or(
		Compare(a.Delta, b.Delta, key),
		activeFirst(a, b),
		Compare(a.Total, b.Total, key),
		Compare(a.Delta, b.Delta, Records),
		Compare(a.Total, b.Total, Records),
		strings.Compare(a.Name, b.Name),
		cmp.Compare(a.Tgid, b.Tgid),
	)
}

func activeFirst(a, b *Interval) int {
	switch x, y := !a.Delta.IsZero(), !b.Delta.IsZero(); {
	case x && !y:
		return -1
	case y && !x:
		return 1
	}
	return 0
}

// RankIntervals returns the indices of rows in top's order by key, the
// first n (0: all).
func RankIntervals(rows []Interval, key string, n int) []int {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return CompareInterval(&rows[i], &rows[j], key) })
	if n > 0 && len(idx) > n {
		idx = idx[:n]
	}
	return idx
}

// ProgramCounts are a program row's counts.
func ProgramCounts(p profile.ProgramRow) Counts { return Counts{p.Records, p.Lost, p.WaitNs} }

// NoisiestPrograms returns the n program rows with the most records (0:
// all): every record is in one, so short-lived processes the process table
// could not hold are ranked under their program.
func NoisiestPrograms(p *profile.Profile, n int) []profile.ProgramRow {
	return Top(p.ByProgram, n, ProgramCounts, Records)
}
