package netlink

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/profile"
)

const (
	// sampleTimeout bounds each AUDIT_GET while recording.
	sampleTimeout = auditnl.DefaultTimeout
	// finalSampleTimeout bounds the last AUDIT_GET after ctx is done, so
	// that Run returns within about a second of cancellation.
	finalSampleTimeout = 750 * time.Millisecond
	// drainSampleEvery is how often the queue length is read while
	// draining, to see it empty.
	drainSampleEvery = 100 * time.Millisecond
)

// sampleUntilEmpty reads the audit queue's length every drainSampleEvery
// until it is zero (then sets emptied and wakes the reader) or ctx is done.
func sampleUntilEmpty(ctx context.Context, status *auditnl.Helper, emptied *atomic.Bool, left *atomic.Uint32, wake func()) {
	sampleEvery(ctx, status, drainSampleEvery, func(st *profile.AuditStatus) bool {
		left.Store(st.Backlog)
		if st.Backlog == 0 {
			emptied.Store(true)
			wake()
			return false
		}
		return true
	})
}

// sampleLoop takes an AUDIT_GET sample every opts.SampleEvery until ctx
// is done.
func sampleLoop(ctx context.Context, status *auditnl.Helper, opts Options, t *tally) {
	sampleEvery(ctx, status, opts.SampleEvery, func(st *profile.AuditStatus) bool {
		p := t.addSample(time.Now(), st)
		if opts.Progress != nil {
			opts.Progress(p)
		}
		return true
	})
}

// sampleEvery reads AUDIT_GET from status every period and passes each answer to fn,
// until fn returns false or ctx is done. A reading is skipped while the
// previous one's child is still asleep in the kernel; one that times out
// is skipped too (the next may answer).
func sampleEvery(ctx context.Context, status *auditnl.Helper, period time.Duration, fn func(*profile.AuditStatus) bool) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if auditnl.InFlight() > 0 {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, sampleTimeout)
		st, err := status.Get(sctx)
		cancel()
		if err != nil {
			continue
		}
		if !fn(st) {
			return
		}
	}
}

// finalSample takes the last AUDIT_GET sample, waiting at most
// finalSampleTimeout in all, and not at all if an earlier child is still
// asleep in the kernel. It returns the sample, nil if there is none.
func finalSample(status *auditnl.Helper, t *tally, opts Options) *profile.AuditStatus {
	deadline := time.Now().Add(finalSampleTimeout)
	for auditnl.InFlight() > 0 { // a sample cancelled a moment ago exits at once unless asleep
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	st, err := status.Get(ctx)
	if err != nil {
		return nil
	}
	p := t.addSample(time.Now(), st)
	if opts.Progress != nil {
		opts.Progress(p)
	}
	return st
}
