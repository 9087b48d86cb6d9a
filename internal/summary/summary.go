// Package summary prints a recorded profile for a person: top producers,
// losses by reason, waits, peak depth and silent drops, and the consumer:
// auditd's and kauditd's time, the stalls the timeline shows, the
// diagnosis.
package summary

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/human"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/sizing"
)

// Write prints the summary with at most top rows per table: record's, of
// the profile it just made. The stalls line is p.Stalls, which
// recording.Run measured from the same timeline where it made the
// profile: measuring again here would walk a day's rows (and build their
// drain) a second time at the stop for the same result (issue 14).
func Write(w io.Writer, p *profile.Profile, top int) {
	t := &p.Totals
	dur := time.Duration(p.DurationNs)
	fmt.Fprintf(w, "recorded %s on %s (attach=%s, HZ=%d)\n", dur.Round(time.Millisecond), p.KernelRelease, p.Attach, p.HZ)
	if p.AttachNote != "" {
		fmt.Fprintf(w, "attach: %s\n", p.AttachNote)
	}
	if p.AuditBefore != nil && p.AuditBefore.Enabled == 0 {
		fmt.Fprintf(w, "audit is disabled (enabled=0): the kernel produced no records to measure\n")
	}
	if p.AuditBefore != nil {
		fmt.Fprintf(w, "audit: enabled=%d backlog_limit=%d backlog_wait_time=%d jiffies (%s) auditd pid=%d\n",
			p.AuditBefore.Enabled, p.AuditBefore.BacklogLimit, p.AuditBefore.BacklogWaitTime,
			human.Jiffies(p.AuditBefore.BacklogWaitTime, p.HZ), p.AuditBefore.PID)
	}
	writeSettings(w, p)
	fmt.Fprintln(w)

	secs := dur.Seconds()
	rate := func(n uint64) string {
		if secs <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f/s", float64(n)/secs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "records\t%d\t%s\n", t.Records, rate(t.Records))
	fmt.Fprintf(tw, "queued\t%d\t%s\n", t.Queued, rate(t.Queued))
	if p.Attach != profile.AttachNetlink {
		fmt.Fprintf(tw, "drained by kauditd\t%d\t%s\n", t.Drained, rate(t.Drained))
	}
	fmt.Fprintf(tw, "lost\t%d\t%s\n", t.Lost, human.Percent(t.Lost, t.Records)+" of records")
	if p.Attach != profile.AttachNetlink {
		fmt.Fprintf(tw, "silent drops\t%d\t(freed by kauditd, not in the kernel's lost counter)\n", t.SilentDrops)
		fmt.Fprintf(tw, "backlog waits\t%d\t%s asleep (as backlog_wait_time_actual counts), %s in the calls that slept\n",
			t.Waits, time.Duration(t.WaitNs).Round(time.Millisecond), time.Duration(t.BlockedNs).Round(time.Millisecond))
	}
	limit := ""
	if p.AuditBefore != nil {
		switch l, changed, ok := peakLimit(p); {
		case !ok:
			limit = "(backlog_limit changed during the recording)"
		case l > 0 && changed:
			limit = fmt.Sprintf("of backlog_limit %d, in force then (it changed during the recording)", l)
		case l > 0:
			limit = fmt.Sprintf("of backlog_limit %d", l)
		}
	}
	fmt.Fprintf(tw, "peak depth\t%d\t%s\n", t.MaxDepth, strings.TrimSpace(limit))
	if t.Queued > 0 {
		fmt.Fprintf(tw, "record size\t%d B\taverage, measured (skb head + sk_buff)\n", t.BytesQueued/t.Queued)
	}
	tw.Flush()

	if len(t.LostByReason) > 0 {
		fmt.Fprintf(w, "\nlost by reason\n")
		reasons := make([]string, 0, len(t.LostByReason))
		for r := range t.LostByReason {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool { return t.LostByReason[reasons[i]] > t.LostByReason[reasons[j]] })
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, r := range reasons {
			fmt.Fprintf(tw, "  %s\t%d\n", r, t.LostByReason[r])
		}
		tw.Flush()
	}

	writePrograms(w, p, top)
	writeUnits(w, p, top)
	if len(p.Processes) > 0 {
		fmt.Fprintf(w, "\ntop processes\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "TGID\tCOMM\tRECORDS\tLOST\tWAITS\tWAITED\tMAX WAIT\t\n")
		for i, pr := range p.Processes {
			if i == top {
				break
			}
			tgid, comm := processLabel(pr)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", tgid, comm, pr.Records, pr.Lost, pr.Waits,
				time.Duration(pr.WaitNs).Round(time.Microsecond), time.Duration(pr.MaxWaitNs).Round(time.Microsecond))
		}
		tw.Flush()
		writeProcessesNote(w, p, top)
	}
	if len(p.Rules) > 0 {
		fmt.Fprintf(w, "\ntop rules (key, syscall)\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "KEY\tSYSCALL\tRECORDS\tEVENTS\tLOST\tWAITED\t\n")
		for i, r := range p.Rules {
			if i == top {
				break
			}
			key := r.Key
			if key == "" {
				key = "(none)"
			}
			sc := fmt.Sprint(r.Syscall)
			switch {
			case r.SyscallName != "", r.UringOp != nil, r.Syscall == profile.SyscallUring:
				sc = r.SyscallLabel()
			case r.Syscall == profile.SyscallNone:
				sc = "(not a syscall)"
			case r.Syscall == profile.SyscallOther:
				sc = "(other)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t\n", key, sc, r.Records, r.Events, r.Lost,
				time.Duration(r.WaitNs).Round(time.Microsecond))
		}
		tw.Flush()
	}
	writeConsumer(w, p)
	if n := p.Netlink; n != nil && (n.Missed > 0 || n.Overruns > 0) {
		fmt.Fprintf(w, "\nnetlink: the socket missed %d records (its receive buffer overflowed, %d ENOBUFS): every count above is short by that many\n",
			n.Missed, n.Overruns)
	}
	short := writeRecursionMisses(w, p)
	short = writeProbeMisses(w, p) || short
	if n := p.ReturnsMissedByUpdates(); n > 0 {
		further := ""
		if n < p.Overflows.ReturnsMissed {
			further = "a further "
		}
		fmt.Fprintf(w, "\ntotals short: %s%d audit_log_start returns were not seen (another BPF program attached to or detached from audit_log_start while records were made): records may be short by up to %d more\n", further, n, n)
		short = true
	}
	if o := mapOverflows(p.Overflows); o != "" {
		exact := ", totals exact"
		if short {
			exact = ""
		}
		fmt.Fprintf(w, "\nbounded maps overflowed (tables incomplete%s): %s\n", exact, o)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if p.Timeline.MissedBuckets > 0 {
		fmt.Fprintf(w, "timeline: %d buckets were overwritten before they could be read\n", p.Timeline.MissedBuckets)
	}
}

// programCounts says which totals a program's runs make, by the kernel
// function it hooks and whether at entry or return; the program names
// are <family>_<symbol> (fentry_, fexit_, kprobe_, kretprobe_).
func programCounts(name string) string {
	sym := name
	for _, prefix := range []string{"fentry_", "fexit_", "kprobe_", "kretprobe_"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			sym = rest
			break
		}
	}
	switch sym {
	case "audit_log_start":
		return "records, events and backlog waits"
	case "audit_log_lost":
		return "lost"
	case "audit_log_end":
		return "queued, bytes and peak depth"
	case "skb_queue_tail":
		return "queued, bytes, peak depth and received"
	case "schedule_timeout":
		return "backlog waits and time asleep"
	case "kauditd_send_queue":
		return "drained by kauditd"
	case "netlink_unicast":
		return "received, and (without kauditd_send_queue's exit) drained and kauditd's send time"
	case "kauditd_hold_skb":
		return "silent drops, retry and hold queue moves, and received (without kauditd_send_queue's exit, drained)"
	case "kauditd_retry_skb":
		return "retry queue moves and received (without kauditd_send_queue's exit, drained)"
	}
	return "its counts"
}

// writeRecursionMisses says which totals are short, and by up to how
// much, when the kernel skipped runs of auditprof's programs (a trampoline
// program preempted mid-run on a kernel that preempts kernel code: another
// task entering it on that CPU is not run).
func writeRecursionMisses(w io.Writer, p *profile.Profile) bool {
	var sum uint64
	var parts []string
	for _, pr := range p.Programs {
		if pr.RecursionMisses == 0 {
			continue
		}
		sum += pr.RecursionMisses
		parts = append(parts, fmt.Sprintf("%s skipped %d runs (%s may be short by up to %d)",
			pr.Name, pr.RecursionMisses, programCounts(pr.Name), pr.RecursionMisses))
	}
	if sum == 0 && p.Overflows.RecursionMisses == 0 {
		return false
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("the kernel skipped %d runs of auditprof's programs (counts may be short by up to that many)", p.Overflows.RecursionMisses))
	}
	advice := ""
	if p.Attach == profile.AttachFentry {
		advice = "; --attach kprobe is exact (its handlers run with preemption disabled)"
	}
	fmt.Fprintf(w, "\ntotals short (BPF recursion misses: the kernel skipped runs of a program already running on that CPU): %s%s\n",
		strings.Join(parts, "; "), advice)
	return true
}

// writeProbeMisses tells of kprobe hits the kernel skipped (kprobe mode,
// 6.7+): their programs never ran, so no count shows them.
func writeProbeMisses(w io.Writer, p *profile.Profile) bool {
	if p.Overflows.ProbeMisses == 0 {
		return false
	}
	var parts []string
	for _, pt := range p.AttachPoints {
		if pt.Missed > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (%s)", pt.Symbol, pt.Missed, pt.Program))
		}
	}
	fmt.Fprintf(w, "\ntotals short (kprobe misses: the kernel skipped a probe that fired while another kprobe's handler ran on that CPU, as an audit record made in a softirq does): %s; on audit_log_start each is a record not counted\n",
		strings.Join(parts, ", "))
	return true
}

// mapOverflows lists the bounded maps' non-zero overflow counters (not
// the recursion misses and missed returns, which are no map's and make
// totals short).
func mapOverflows(o profile.Overflows) string {
	var parts []string
	for _, f := range []struct {
		name string
		n    uint64
	}{{"processes", o.Processes}, {"programs", o.Programs}, {"rules", o.Rules}, {"reasons", o.Reasons}, {"inflight", o.Inflight},
		{"inflight_missing", o.InflightMissing}, {"timeline_late", o.TimelineLate}} {
		if f.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", f.name, f.n))
		}
	}
	return strings.Join(parts, ", ")
}

// writeConsumer prints where auditd and kauditd spent the recording, the
// stalls the timeline shows, and the diagnosis.
func writeConsumer(w io.Writer, p *profile.Profile) {
	c := p.Consumer
	// Stalls come from the timeline, not from the consumer's measurement:
	// they are there when it is off or failed, and not in netlink
	// mode, whose timeline has no per-bucket queue.
	stalls := ""
	if p.Attach != profile.AttachNetlink && p.Timeline.Len() > 0 && p.Stalls != nil {
		stalls = fmt.Sprintf("  stalls: %s\n", sizing.StallsLine(*p.Stalls))
	}
	if c == nil && stalls == "" {
		return
	}
	fmt.Fprintf(w, "\nconsumer\n")
	if c == nil {
		fmt.Fprint(w, stalls)
		return
	}
	if c.PID == 0 {
		fmt.Fprintf(w, "  no auditd registered (AUDIT_GET pid 0)\n")
	} else {
		pids := ""
		if len(c.PIDs) > 1 {
			pids = fmt.Sprintf(" (registered in turn: %v)", c.PIDs)
		}
		fmt.Fprintf(w, "  auditd pid %d%s received %d records (%.0f/s)\n", c.PID, pids, c.Received, c.ReceivedPerSecond)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(c.Threads) > 0 {
		fmt.Fprintf(tw, "TID\tTHREAD\tON CPU\tRUNNABLE\tWAIT\tWRITE\tSYNC\tLOCK\tOTHER\tLONGEST SLEEP\t\n")
		for _, t := range c.Threads {
			r := consumer.ThreadRow(t)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.TID, r.Name, r.OnCPU, r.Runnable,
				r.Wait, r.Write, r.Sync, r.Lock, r.Other, r.Longest)
		}
		tw.Flush()
		if c.Source == profile.ConsumerSourceSample {
			fmt.Fprintf(w, "  threads and kauditd measured from /proc: schedstat, and %d samples at %g Hz of where they slept (runnable includes the wait for a CPU after each wakeup)\n",
				c.Samples, c.SampleHz)
		}
	}
	if s := c.Socket; s != nil {
		fmt.Fprintf(w, "  auditd's socket: %d drops (kauditd's sends that timed out on a full socket), %s unread at the end\n",
			s.Drops, fmt.Sprintf("%d B", s.RmemBytes))
	}
	if k := c.Kauditd; k != nil {
		fmt.Fprintf(w, "  kauditd: blocked sending %s, idle %s, on CPU %s; passes over the main queue %s, retry %s, hold %s\n",
			time.Duration(k.SendBlockedNs).Round(time.Millisecond), time.Duration(k.IdleNs).Round(time.Millisecond),
			time.Duration(k.OnCPUNs).Round(time.Millisecond), time.Duration(k.SendMainNs).Round(time.Millisecond),
			time.Duration(k.SendRetryNs).Round(time.Millisecond), time.Duration(k.SendHoldNs).Round(time.Millisecond))
	}
	fmt.Fprint(w, stalls)
	if cf := c.Config; cf != nil {
		if cf.Error != "" {
			fmt.Fprintf(w, "  auditd.conf: %s\n", cf.Error)
		} else {
			fmt.Fprintf(w, "  auditd.conf: %s\n", configLine(cf))
		}
	}
	if c.Overflow > 0 {
		fmt.Fprintf(w, "  consumer maps overflowed %d times: the thread rows are incomplete\n", c.Overflow)
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if d := c.Diagnosis; d != nil {
		fmt.Fprintf(w, "  diagnosis: %s\n", d.Text)
		if d.Advice != "" {
			fmt.Fprintf(w, "  what would change it: %s\n", d.Advice)
		}
	}
}

// configLine is auditd.conf's consumer settings on one line.
func configLine(c *profile.AuditdConfig) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" = "+v)
		}
	}
	num := func(p *int) string {
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	}
	add("flush", c.Flush)
	add("freq", num(c.Freq))
	add("q_depth", num(c.QDepth))
	add("disp_qos", c.DispQoS)
	add("priority_boost", num(c.Priority))
	plugins := "none"
	if len(c.Plugins) > 0 {
		plugins = strings.Join(c.Plugins, ", ")
	}
	parts = append(parts, "active plugins: "+plugins)
	return strings.Join(parts, ", ")
}
