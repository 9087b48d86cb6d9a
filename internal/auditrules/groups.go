package auditrules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/auditprof/auditprof/internal/profile"
)

// Group is what auditprof shows as one audit rule: the profile's
// (key, syscall, arch) rows that the same loaded rule(s) explain. `rules`
// and `top` rank groups, not rows, so that an operator sees the rules they
// wrote.
type Group struct {
	// ID identifies the group within one recording (GroupID of its rows):
	// live views match a snapshot's groups with the previous one's by it.
	ID string
	// Rules are the LoadedRules indices (auditctl -l order) this group
	// stands for: one, several when rules share key, syscall and arch
	// (the kernel does not say which matched), none when no loaded rule
	// matches. Never nil.
	Rules []int
	// Rows are the indices in the profile's Rules of the rows summed here,
	// in profile order.
	Rows []int
	// Text is the rule as auditctl -l prints it (several joined by " | "),
	// "" when no loaded rule matches.
	Text string
	Key  string
	// Comm is the program, for records with no key (their fallback
	// identity).
	Comm string
	// Syscalls are the rows' syscall names (SyscallLabel), in the order
	// first seen.
	Syscalls []string
	Records  uint64
	Events   uint64
	Lost     uint64
	Waits    uint64
	WaitNs   uint64
}

// Groups groups the profile's rule rows by the loaded rule(s) they match
// (see GroupID), in the order each group's first row appears, with the
// rows' counters summed.
func Groups(p *profile.Profile) []Group {
	text := map[int]string{}
	for _, r := range p.LoadedRules {
		text[r.Index] = r.Text
	}
	var groups []Group
	at := map[string]int{}
	for i, row := range p.Rules {
		id := GroupID(row)
		gi, ok := at[id]
		if !ok {
			g := Group{ID: id, Rules: append([]int{}, row.Matches...), Key: row.Key, Comm: row.Comm}
			texts := make([]string, len(row.Matches))
			for j, m := range row.Matches {
				texts[j] = text[m]
			}
			g.Text = strings.Join(texts, " | ")
			gi = len(groups)
			at[id] = gi
			groups = append(groups, g)
		}
		g := &groups[gi]
		g.Rows = append(g.Rows, i)
		g.Records += row.Records
		g.Events += row.Events
		g.Lost += row.Lost
		g.Waits += row.Waits
		g.WaitNs += row.WaitNs
		if l := row.SyscallLabel(); !slices.Contains(g.Syscalls, l) {
			g.Syscalls = append(g.Syscalls, l)
		}
	}
	return groups
}

// GroupID names a row's group: rows matching the same rule(s) are one
// group; rows with no key stay apart by syscall, arch and program (their
// fallback identity); rows no loaded rule explains stay apart by key,
// syscall and arch.
func GroupID(r profile.Rule) string {
	var b strings.Builder
	for _, i := range r.Matches {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(',')
	}
	if r.Key == "" || len(r.Matches) == 0 {
		fmt.Fprintf(&b, "|%q|%d|%s|%q|%d", r.Key, r.Syscall, r.Arch, r.Comm, r.Op())
	}
	return b.String()
}
