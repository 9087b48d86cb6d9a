package summary

import (
	"fmt"
	"io"
	"time"

	"github.com/auditprof/auditprof/internal/profile"
)

// writeSettings prints the audit settings' changes during the recording
// (issue 20), each at its time from the timeline's start: what changed,
// and who changed it where the kernel told, else the second the AUDIT_GET
// replies place it in.
func writeSettings(w io.Writer, p *profile.Profile) {
	at := func(ns int64) string {
		return "+" + time.Duration(ns-p.Timeline.StartNs).Round(time.Millisecond).String()
	}
	indent := ""
	if len(p.Settings) > 0 {
		fmt.Fprintf(w, "settings changed during the recording:\n")
		indent = "  "
	}
	for _, c := range p.Settings {
		fmt.Fprintf(w, "  %s %s\n", at(c.MonoNs), c.Describe(p.Timeline.StartNs))
	}
	// The stretches without a consumer, also in a recording that began
	// without one and changed nothing.
	gaps, err := p.ConsumerGaps()
	if err != nil {
		fmt.Fprintf(w, "%s(stretches without a consumer: %v)\n", indent, err)
	}
	for _, g := range gaps {
		fmt.Fprintf(w, "%s%s\n", indent, p.DescribeGap(g))
	}
}

// peakLimit is the backlog_limit in force where the queue was deepest:
// the one before the recording unless the limit changed, then the one in
// force at the end of the deepest bucket (a rise within it may have made
// room for that depth). ok is false where that bucket cannot be read.
func peakLimit(p *profile.Profile) (limit uint32, changed, ok bool) {
	before := *p.AuditBefore
	for _, c := range p.Settings {
		changed = changed || c.Field == profile.SettingBacklogLimit
	}
	if !changed {
		return before.BacklogLimit, false, true
	}
	t := &p.Timeline
	var deepest *profile.Bucket
	var idx int64
	for b, err := range t.All() {
		if err != nil {
			return 0, true, false
		}
		if deepest == nil || b.MaxDepth > deepest.MaxDepth {
			cp := *b
			deepest, idx = &cp, b.Index
		}
	}
	if deepest == nil || t.BucketNs <= 0 {
		return 0, true, false
	}
	end := t.StartNs + (idx+1)*t.BucketNs - 1
	return profile.SettingsAt(before, p.Settings, end).BacklogLimit, true, true
}
