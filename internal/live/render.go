package live

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/ranking"
)

// sparks are the sparkline's eight levels, lowest first.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values scaled to scale (the top level, █): 0 is ▁, values
// at or above scale are █. A zero scale draws every value as ▁.
func Sparkline(values []uint64, scale uint64) string {
	var b strings.Builder
	for _, v := range values {
		i := 0
		if scale > 0 {
			i = int((min(v, scale)*uint64(len(sparks)-1) + scale/2) / scale)
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// Fit cuts s to width characters (runes; width <= 0: no cut).
func Fit(s string, width int) string {
	if width <= 0 {
		return s
	}
	n := 0
	for i := range s {
		if n == width {
			return s[:i]
		}
		n++
	}
	return s
}

// clean makes a name from the kernel (a comm, a cgroup path, a key) safe
// to print on a terminal: control characters become '?'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) && r != ' ' {
			return '?'
		}
		return r
	}, s)
}

// Render writes v as plain text, lines cut to width characters (width <= 0:
// not cut). It writes no escape sequences: the same text serves the batch
// output and, wrapped in cursor movements, the screen.
func Render(w io.Writer, v View, width int) error {
	var b bytes.Buffer
	interval := time.Duration(v.IntervalNs).Round(10 * time.Millisecond)
	attach := ""
	if v.Attach != "" {
		attach = " (" + v.Attach + ")"
	}
	fmt.Fprintf(&b, "auditprof top: %s since start%s, interval %s, sorted by %s\n",
		time.Duration(v.ElapsedNs).Round(time.Second), attach, interval, v.SortedBy)

	d := v.Depth
	now, limit := "? (AUDIT_GET did not answer)", ""
	if d.Now != nil {
		now = human.Count(float64(*d.Now))
	}
	if d.Limit != nil {
		if *d.Limit == 0 {
			limit = " (backlog_limit 0: unlimited)"
		} else {
			limit = " of backlog_limit " + human.Count(float64(*d.Limit))
		}
	}
	label := func(l, format string, args ...any) {
		fmt.Fprintf(&b, "%-15s"+format+"\n", append([]any{l}, args...)...)
	}
	label("queue depth", "now %s%s", now, limit)
	label("peak depth", "%s in the last %s, %s since start",
		human.Count(float64(d.PeakInterval)), interval, human.Count(float64(d.PeakSinceStart)))
	hist := d.History
	if width > 2 && len(hist) > width-2 {
		hist = hist[len(hist)-(width-2):]
	}
	scale, scaleName := slices.Max(append([]uint64{0}, hist...)), "the largest shown"
	if d.Limit != nil && *d.Limit > 0 && scale <= uint64(*d.Limit) {
		scale, scaleName = uint64(*d.Limit), "backlog_limit"
	}
	label("depth history", "peak of each second, last %ds; █ is %s (%s)", len(hist), human.Count(float64(scale)), scaleName)
	fmt.Fprintf(&b, "  %s\n", Sparkline(hist, scale))

	r := v.Rates
	label("records/s", "%s arriving, %s queued, %s drained",
		human.Count(r.ArrivalsPerSec), human.Count(r.QueuedPerSec), human.Count(r.DrainedPerSec))
	label("lost/s", "%s%s", human.Count(r.LostPerSec), byReason(v.LostPerSecByReason))
	label("waits/s", "%s, asleep in the backlog wait %s per second",
		human.Count(r.WaitsPerSec), human.Duration(uint64(r.WaitSecondsPerSec*1e9)))
	t := v.Totals
	label("since start", "%s records, %s lost, %s waits, %s asleep",
		human.Count(float64(t.Records)), human.Count(float64(t.Lost)), human.Count(float64(t.Waits)), human.Duration(t.WaitNs))

	by := map[string]string{ranking.Records: "records", ranking.Lost: "lost records", ranking.Wait: "backlog wait"}[v.SortedBy]
	renderPrograms(&b, v, by, interval.String())
	renderUnits(&b, v, by, interval.String())
	fmt.Fprintf(&b, "\nPROCESSES %s, by %s in the last %s\n", shown(len(v.Processes), v.ProcessRows), by, interval)
	if len(v.Processes) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "TGID\tCOMM\tREC/S\tLOST/S\tWAITED\tRECORDS\tLOST\t  CGROUP")
		for _, p := range v.Processes {
			tgid, comm := fmt.Sprint(p.Tgid), clean(p.Comm)
			switch {
			case p.Tgid == 0 && p.ShortLived:
				tgid, comm = "-", "("+ranking.ShortLivedLabel+")"
			case p.Tgid == 0 && p.Comm == "other":
				tgid, comm = "-", "(other processes)"
			}
			cg := clean(p.Cgroup)
			if cg == "" {
				cg = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", tgid, comm, human.Count(p.RecordsPerSec), human.Count(p.LostPerSec),
				human.Duration(p.WaitNs), human.Count(float64(p.Records)), human.Count(float64(p.Lost)), cg)
		}
		tw.Flush()
	}

	fmt.Fprintf(&b, "\nRULES %s, by %s in the last %s\n", shown(len(v.Rules), v.RuleRows), by, interval)
	if len(v.Rules) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "REC/S\tLOST/S\tWAITED\tRECORDS\tLOST\tSYSCALLS\t  RULE")
		for _, r := range v.Rules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", human.Count(r.RecordsPerSec), human.Count(r.LostPerSec),
				human.Duration(r.WaitNs), human.Count(float64(r.Records)), human.Count(float64(r.Lost)),
				clean(strings.Join(r.Syscalls, ",")), clean(r.Name()))
		}
		tw.Flush()
	}
	if len(v.Notes) > 0 {
		b.WriteByte('\n')
		for _, n := range v.Notes {
			fmt.Fprintf(&b, "note: %s\n", clean(n))
		}
	}

	var out bytes.Buffer
	for line := range strings.Lines(b.String()) {
		out.WriteString(Fit(strings.TrimRight(line, "\n"), width))
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

// shown says how many rows a table shows of how many.
func shown(n, of int) string {
	switch {
	case of == 0:
		return "(none yet)"
	case n < of:
		return fmt.Sprintf("(top %d of %d)", n, of)
	}
	return fmt.Sprintf("(%d)", n)
}

// byReason lists the loss rates by class, largest first.
func byReason(m map[string]float64) string {
	if len(m) == 0 {
		return ""
	}
	classes := make([]string, 0, len(m))
	for c := range m {
		classes = append(classes, c)
	}
	slices.SortFunc(classes, func(a, b string) int {
		switch {
		case m[a] > m[b]:
			return -1
		case m[a] < m[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = c + " " + human.Count(m[c])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// TrimRows drops n rows from the view's tables, from the longest one each
// time (rules first, then processes, then units, when as long), so that a
// screen of limited height shows some of each.
func TrimRows(v View, n int) View {
	for ; n > 0 && len(v.Programs)+len(v.Units)+len(v.Processes)+len(v.Rules) > 0; n-- {
		longest := max(len(v.Programs), len(v.Units), len(v.Processes), len(v.Rules))
		switch longest {
		case len(v.Rules):
			v.Rules = v.Rules[:len(v.Rules)-1]
		case len(v.Processes):
			v.Processes = v.Processes[:len(v.Processes)-1]
		case len(v.Units):
			v.Units = v.Units[:len(v.Units)-1]
		default:
			v.Programs = v.Programs[:len(v.Programs)-1]
		}
	}
	return v
}
