package summary

import (
	"bytes"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// TestWriteSettings: the changes are listed with their times and who made
// them, and the peak depth is set against the limit in force where it
// was reached.
func TestWriteSettings(t *testing.T) {
	const n, bucketNs, startNs = 10, int64(1e8), int64(5e9)
	mk := func(peakAt int) *profile.Profile {
		s := profile.Series{Arrivals: make([]int64, n), Queued: make([]uint64, n), Lost: make([]uint64, n),
			Drained: make([]uint64, n), MaxDepth: make([]uint64, n), Waits: make([]uint64, n), WaitNs: make([]uint64, n)}
		s.Arrivals[2], s.Queued[2], s.MaxDepth[2] = 301, 301, 301
		s.Arrivals[peakAt], s.Queued[peakAt], s.MaxDepth[peakAt] = 7305, 7305, 7305
		return &profile.Profile{
			SchemaVersion: profile.SchemaVersion, Attach: "fentry", KernelRelease: "6.12.0", HZ: 250, DurationNs: 1e9,
			AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: 300, PID: 640},
			Totals:      profile.Totals{Records: 7606, Queued: 7606, MaxDepth: 7305},
			Settings: []profile.SettingChange{
				{MonoNs: startNs + 450e6, Field: profile.SettingBacklogLimit, Old: 300, New: 20000, Seen: profile.SeenKernel,
					By: &profile.SettingSender{Tgid: 812, PID: 812, Comm: "auditctl", Auid: 0, Ses: 3}},
				{MonoNs: startNs + 800e6, SinceNs: startNs + 700e6, Field: profile.SettingPID, Old: 640, New: 702, Seen: profile.SeenPoll},
			},
			Timeline: profile.NewTimeline(bucketNs, startNs, s),
		}
	}
	var buf bytes.Buffer
	Write(&buf, mk(6), 5)
	out := buf.String()
	for _, want := range []string{
		"settings changed during the recording:",
		"+450ms backlog_limit 300 -> 20000 by auditctl (pid 812, auid 0)",
		"+800ms pid 640 -> 702 (between the AUDIT_GET replies at +700ms and +800ms)",
		"of backlog_limit 20000, in force then",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The same depth before the raise: against 300.
	buf.Reset()
	Write(&buf, mk(3), 5)
	if !strings.Contains(buf.String(), "of backlog_limit 300, in force then") {
		t.Errorf("a peak before the raise:\n%s", buf.String())
	}
	// The raise inside the deepest bucket: the new limit.
	buf.Reset()
	Write(&buf, mk(4), 5)
	if !strings.Contains(buf.String(), "of backlog_limit 20000, in force then") {
		t.Errorf("a peak in the raise's bucket:\n%s", buf.String())
	}
}
