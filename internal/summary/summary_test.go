package summary

import (
	"bytes"
	"strings"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

func TestWrite(t *testing.T) {
	p := &profile.Profile{
		SchemaVersion: 1, Attach: "fentry", KernelRelease: "6.12.0", HZ: 250, DurationNs: 2e9,
		AuditBefore: &profile.AuditStatus{Enabled: 1, BacklogLimit: 64},
		Totals: profile.Totals{Records: 1000, Queued: 900, Lost: 100, BytesQueued: 900 * 2304,
			LostByReason: map[string]uint64{"backlog limit exceeded": 100}, Waits: 3, WaitNs: 12e6},
		Processes: []profile.Process{{Tgid: 42, Comm: "stress-ng-open", Records: 990, Lost: 100},
			{Tgid: 7, Comm: "bash", Records: 10}},
		Rules: []profile.Rule{{Key: "load", Syscall: 257, Records: 1000, Events: 200, Lost: 100}},
	}
	var buf bytes.Buffer
	Write(&buf, p, 1)
	out := buf.String()
	for _, want := range []string{
		"attach=fentry", "records", "500/s", "10.00% of records", "backlog limit exceeded", "stress-ng-open",
		"2304 B", "of backlog_limit 64", "load",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "bash") {
		t.Errorf("top=1 printed a second process:\n%s", out)
	}
	p.AuditBefore.Enabled = 0
	buf.Reset()
	Write(&buf, p, 5)
	if !strings.Contains(buf.String(), "audit is disabled") {
		t.Errorf("no warning for disabled audit:\n%s", buf.String())
	}
}
