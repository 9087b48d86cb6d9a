package exporter

import (
	"cmp"
	"slices"
	"sort"

	"github.com/auditprof/auditprof/internal/ranking"
)

// Other is every label value of the series that holds what has no place of
// its own in a family: rows beyond the first Top label sets, and the rows
// the kernel maps themselves could not hold.
const Other = "other"

// vals are the counters every per-rule and per-process series carries.
type vals = ranking.Counts

// labelSet holds a series' label values (a family uses the first n).
type labelSet [4]string

// row is one kernel-map row as a family sees it: id is what stays the same
// from one snapshot to the next, labels may change (a cgroup named later).
type row[ID comparable] struct {
	id       ID
	labels   labelSet
	overflow bool // the kernel map's own "other" row
	v        vals
}

// series is one exported label set with its cumulative counters.
type series struct {
	labels []string
	v      vals
}

// family bounds one family's label sets (rules or processes) to top, and
// keeps every series' counters monotonic.
//
// Each row's counters are cumulative in the kernel map. The family keeps
// the highest values it saw per row and, at each snapshot, adds what a row
// gained since to the series of the row's label set, or to "other". So a
// series only grows, even when a row's labels change, and the family's
// series sum to the sum of its rows.
//
// Places: label sets take free places at the snapshot where they first
// carry counts, most records first. Once top places are taken membership is
// frozen; everything new goes to "other" from then on.
type family[ID comparable] struct {
	n      int // label names used
	top    int
	prev   map[ID]vals
	member map[labelSet]*vals
	other  vals
}

func newFamily[ID comparable](n, top int) *family[ID] {
	return &family[ID]{n: n, top: top, prev: map[ID]vals{}, member: map[labelSet]*vals{}}
}

func (f *family[ID]) update(rows []row[ID]) {
	// A row named like the "other" series is summed into it.
	var others labelSet
	for i := range f.n {
		others[i] = Other
	}
	for i := range rows {
		if rows[i].labels == others {
			rows[i].overflow = true
		}
	}
	if len(f.member) < f.top {
		cur := map[labelSet]vals{}
		for _, r := range rows {
			if _, ok := f.member[r.labels]; !ok && !r.overflow {
				c := cur[r.labels]
				c.Add(r.v)
				cur[r.labels] = c
			}
		}
		fresh := make([]labelSet, 0, len(cur))
		for ls, v := range cur {
			if !v.IsZero() {
				fresh = append(fresh, ls)
			}
		}
		slices.SortFunc(fresh, func(a, b labelSet) int {
			return cmp.Or(ranking.Compare(cur[a], cur[b], ranking.Records, ranking.Lost, ranking.Wait), slices.Compare(a[:], b[:]))
		})
		for _, ls := range fresh {
			if len(f.member) == f.top {
				break
			}
			f.member[ls] = &vals{}
		}
	}
	for _, r := range rows {
		p := f.prev[r.id]
		d := r.v.Since(p)
		p.Add(d)
		f.prev[r.id] = p
		if m := f.member[r.labels]; m != nil && !r.overflow {
			m.Add(d)
		} else {
			f.other.Add(d)
		}
	}
}

// series returns the members, ordered by labels, then "other".
func (f *family[ID]) series() []series {
	out := make([]series, 0, len(f.member)+1)
	for ls, v := range f.member {
		out = append(out, series{labels: append([]string(nil), ls[:f.n]...), v: *v})
	}
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].labels, out[j].labels) < 0 })
	others := make([]string, f.n)
	for i := range others {
		others[i] = Other
	}
	return append(out, series{labels: others, v: f.other})
}
