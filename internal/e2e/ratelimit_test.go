package e2e

import (
	_ "embed"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

//go:embed testdata/rate-limit.sh
var rateLimitSh string

// TestRateLimit: records the rate limit frees in audit_log_end (auditctl
// -r) are lost, not queued. Where the enqueue is counted at audit_log_end's
// entry (Debian's kernels), the "rate limit exceeded" loss takes back what
// the entry counted: every record audit_log_start handed out is queued or
// lost to the rate limit, exactly; lost equals the kernel's delta; the
// process and program rows and the timeline add up to the totals; kauditd
// drained everything queued and auditd received all of it. Both kernels,
// both families.
func TestRateLimit(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	for _, k := range kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Script: guestScript(rateLimitSh), Timeout: 25 * time.Minute})
			for _, mode := range []string{"fentry", "kprobe"} {
				name := "r." + mode
				p := g.profile(name)
				checkAttach(t, p, mode, "task-storage")
				if rc := g.exitCode(name); rc != 0 {
					t.Errorf("%s: record exited %d", name, rc)
				}
				kernelLost := g.delta(name, "lost")
				rate := p.Totals.LostByReason["rate limit exceeded"]
				var received uint64
				if p.Consumer != nil {
					received = p.Consumer.Received
				}
				t.Logf("%s: records %d queued %d lost %d (kernel %d), rate-limited %d, in audit_log_start %d; drained %d received %d; bytes %d; reasons %v",
					name, p.Totals.Records, p.Totals.Queued, p.Totals.Lost, kernelLost, rate, lostInStart(p),
					p.Totals.Drained, received, p.Totals.BytesQueued, p.Totals.LostByReason)
				if rate == 0 {
					t.Errorf("%s: nothing lost to the rate limit: the scenario did not exceed it", name)
				}
				if p.Totals.Lost != kernelLost {
					t.Errorf("%s: lost %d, kernel lost delta %d", name, p.Totals.Lost, kernelLost)
				}
				if p.Totals.Records != p.Totals.Queued+lostInStart(p)+rate {
					t.Errorf("%s: records %d != queued %d + lost in audit_log_start %d + rate-limited %d",
						name, p.Totals.Records, p.Totals.Queued, lostInStart(p), rate)
				}
				if err := p.ProcessesAddUp(); err != nil {
					t.Errorf("%s: process rows: %v", name, err)
				}
				if err := p.ProgramsAddUp(); err != nil {
					t.Errorf("%s: program rows: %v", name, err)
				}
				checkTimeline(t, name, p)
				if p.Totals.Queued == 0 || p.Totals.BytesQueued/p.Totals.Queued < 2048 || p.Totals.BytesQueued/p.Totals.Queued > 8448 {
					t.Errorf("%s: implausible record size: %d bytes over %d records", name, p.Totals.BytesQueued, p.Totals.Queued)
				}
				// Nothing else was lost: auditd received everything
				// kauditd drained (a record queued as counting stops
				// may be left on the queue: drained can be short of
				// queued, never above it).
				if p.Totals.Drained > p.Totals.Queued || received != p.Totals.Drained {
					t.Errorf("%s: queued %d, drained %d, received %d: want received = drained <= queued", name, p.Totals.Queued, p.Totals.Drained, received)
				}
			}
		})
	}
}
