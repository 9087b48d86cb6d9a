package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

// TestNoKallsymsAll: without data symbols the programs learn the queues'
// addresses from kauditd_send_queue. Lost stays exact, the profile says
// which path it took and what that path cannot see, and the peak depth
// matches the symbol path's on the same load.
func TestNoKallsymsAll(t *testing.T) {
	dir, files, kernels := guestSetup(t)
	k := kernels[len(kernels)-1]
	t.Run(k.Name, func(t *testing.T) {
		t.Parallel()
		g := runGuest(t, vmtest.Options{Kernel: k, Assets: dir, Files: files,
			Script: guestScript(noKallsymsAllSh), Timeout: 25 * time.Minute})
		if n := strings.TrimSpace(g.section("hidden")); n != "0" {
			t.Fatalf("audit_queue still in /proc/kallsyms (%s lines): the bind mount did not hide it", n)
		}
		syms, hidden := g.profile("syms"), g.profile("hidden")
		const learned = "queue addresses learned from kauditd_send_queue"
		for _, c := range []struct {
			name    string
			learned bool
		}{{"syms", false}, {"hidden", true}} {
			p := g.profile(c.name)
			kernelLost := g.delta(c.name, "lost")
			missed := int64(p.Totals.Records) - int64(lostInStart(p)) - int64(p.Totals.Queued)
			t.Logf("%s: attach %s; lost %d, kernel %d; records %d, queued %d (%d enqueues not seen); max depth %d; note %q",
				c.name, p.Attach, p.Totals.Lost, kernelLost, p.Totals.Records, p.Totals.Queued, missed, p.Totals.MaxDepth, p.AttachNote)
			if kernelLost == 0 || p.Totals.Lost != kernelLost {
				t.Errorf("%s: lost %d, kernel %d", c.name, p.Totals.Lost, kernelLost)
			}
			// Without the queues' data symbols the enqueue stays on
			// skb_queue_tail; with them it moves to audit_log_end.
			if c.learned {
				checkEnqueueHook(t, p, "skb_queue_tail")
			} else {
				checkEnqueueHook(t, p, "audit_log_end")
			}
			if strings.Contains(p.AttachNote, learned) != c.learned {
				t.Errorf("%s: the attach note %q does not say which path found the queues", c.name, p.AttachNote)
			}
			// Records queued before kauditd's first pass are not seen
			// on the queue on the learned path: at most what the queue
			// holds then, the limit and the records already past the
			// check (one per producer: four here). With symbols, none.
			if missed < 0 || (!c.learned && missed != 0) || missed > 64+4 {
				t.Errorf("%s: %d records neither queued nor lost at audit_log_start", c.name, missed)
			}
			// The same overload at limit 64 fills the queue either way:
			// the kernel lets it reach the limit plus the records whose
			// producers passed the check before it filled (one each).
			if p.Totals.MaxDepth < 64 || p.Totals.MaxDepth > 64+4 {
				t.Errorf("%s: max depth %d at backlog_limit 64", c.name, p.Totals.MaxDepth)
			}
		}
		if d := int64(syms.Totals.MaxDepth) - int64(hidden.Totals.MaxDepth); d > 4 || d < -4 {
			t.Errorf("peak depth %d with symbols, %d learned from kauditd_send_queue", syms.Totals.MaxDepth, hidden.Totals.MaxDepth)
		}
	})
}
