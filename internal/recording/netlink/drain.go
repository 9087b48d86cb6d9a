package netlink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/profile"
)

// drainMargin: a record of an event begun this long after the stop
// ends the drain. kauditd sends in queue order, so everything queued
// before it has arrived; the margin lets events begun just before the
// stop but queued a little later (a syscall's records are queued at
// its exit, other CPUs interleave) still come in.
const drainMargin = 250 * time.Millisecond

// drained is what drain did.
type drained struct {
	records uint64 // received and counted after the stop
	left    uint32 // queue length last read when it timed out; 0 if it finished
	timeout time.Duration
}

// notes says, in the profile, what the drain added or left out: stopAt
// is the stop's offset in the recording, took how long the drain took.
func (d drained) notes(stopAt, took time.Duration) []string {
	var notes []string
	if d.records > 0 {
		notes = append(notes, fmt.Sprintf("stopped at %s; the last %s received %d records of events begun before the stop that were still in the kernel's queue or this socket (netlink mode sees a record only when kauditd sends it)",
			stopAt.Round(time.Millisecond), took.Round(time.Millisecond), d.records))
	}
	if d.left > 0 {
		notes = append(notes, fmt.Sprintf("%d records were still in the audit queue %s after the stop and are not counted: the counts are short by up to that many (the consumer is behind the load; stop the recording after the load has ended)",
			d.left, d.timeout))
	}
	return notes
}

// drain receives, once recording has stopped at stop, the records kauditd
// had not sent by then: those in this socket's buffer and those still in
// the audit queue (last is the AUDIT_GET read at the stop, nil if it did
// not answer). It counts those of events begun before the stop, by their
// audit timestamp. kauditd sends in queue order, so the drain is complete
// once the queue has been read empty and the socket read dry, or once a
// record of an event begun drainMargin after the stop arrives; it gives up
// after opts.DrainTimeout.
func drain(r *reader, status *auditnl.Helper, t *tally, stop time.Time, last *profile.AuditStatus, opts Options) (drained, error) {
	d := drained{timeout: opts.DrainTimeout}
	var emptied atomic.Bool
	var left atomic.Uint32
	queued := int64(-1)
	if last != nil {
		queued = int64(last.Backlog)
		left.Store(last.Backlog)
		emptied.Store(last.Backlog == 0)
	}
	if queued != 0 && opts.Draining != nil {
		opts.Draining(queued, opts.DrainTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.DrainTimeout)
	defer cancel()
	// The deadline wakes a blocked read, for the timeout or for the
	// sampler seeing the queue empty; mu orders setting it against the
	// reader clearing it, so that a timeout is never cleared unseen.
	var mu sync.Mutex
	wake := func() {
		mu.Lock()
		_ = r.f.SetReadDeadline(time.Unix(1, 0))
		mu.Unlock()
	}
	stopWake := context.AfterFunc(ctx, wake)
	defer stopWake()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: ends the sampler
	if !emptied.Load() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sampleUntilEmpty(ctx, status, &emptied, &left, wake)
		}()
	}
	if err := r.f.SetReadDeadline(time.Time{}); err != nil {
		return d, fmt.Errorf("receiving audit records: %w", err)
	}
	wait := func() bool { return !emptied.Load() }
	for {
		typ, payload, err := r.read(wait)
		switch {
		case errors.Is(err, errSocketEmpty):
			return d, nil // the queue was empty, and all it sent is read
		case errors.Is(err, os.ErrDeadlineExceeded):
			mu.Lock()
			if ctx.Err() != nil {
				mu.Unlock()
				if !emptied.Load() {
					d.left = left.Load()
				}
				return d, nil
			}
			// Woken by the sampler: read what the socket holds.
			err = r.f.SetReadDeadline(time.Time{})
			mu.Unlock()
			if err != nil {
				return d, fmt.Errorf("receiving audit records: %w", err)
			}
			continue
		case errors.Is(err, unix.ENOBUFS):
			t.overrun()
			continue
		case err != nil:
			return d, fmt.Errorf("receiving audit records: %w", err)
		}
		switch t.addRecord(time.Now(), typ, payload, stop) {
		case counted:
			d.records++
		case pastMargin:
			return d, nil
		}
	}
}

// stampClass is where a record's event began relative to the stop.
type stampClass int

const (
	counted    stampClass = iota // before the stop, no stop yet, or no timestamp: counted
	afterStop                    // after the stop: not counted
	pastMargin                   // drainMargin after the stop: not counted, and the drain is over
)
