package netlink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/profile"
)

// Defaults.
const (
	DefaultSampleEvery  = time.Second
	DefaultDrainTimeout = 10 * time.Second
)

// Options configures Run.
type Options struct {
	// Bucket is the timeline's bucket width (the caller's choice, usually
	// probe.DefaultBucket, so that both recorders' timelines agree).
	Bucket time.Duration
	// SampleEvery is the AUDIT_GET sampling period; DefaultSampleEvery if
	// <= 0. A sample is skipped while the previous one's child process has
	// not exited (see auditnl.InFlight).
	SampleEvery time.Duration
	// Started, if set, is called once the multicast group is joined and
	// the first AUDIT_GET sample taken, before records are counted. An
	// error from it ends Run with that error.
	Started func() error
	// Progress, if set, is called after each AUDIT_GET sample, never
	// concurrently with itself.
	Progress func(Progress)
	// DrainTimeout bounds how long Run, once ctx is done, goes on
	// receiving the records the kernel still held then (see Run);
	// DefaultDrainTimeout if <= 0.
	DrainTimeout time.Duration
	// Draining, if set, is called once ctx is done and the kernel still
	// holds records to receive: queued is the audit queue's length then,
	// or -1 if AUDIT_GET did not answer; within is DrainTimeout.
	Draining func(queued int64, within time.Duration)
	// Helper, if set, answers every AUDIT_GET sample; the caller closes
	// it. Run makes and closes its own otherwise.
	Helper *auditnl.Helper
}

// Progress is the state after an AUDIT_GET sample.
type Progress struct {
	// Delivered counts records received from the multicast group.
	Delivered uint64
	// Lost is the kernel's lost counter's increase since the first sample.
	Lost uint64
	// Backlog is the audit queue length in the latest sample.
	Backlog uint32
	// Overruns counts receive-buffer overflows (ENOBUFS) of this socket:
	// each one is at least one record kauditd sent that this process
	// never saw, so Delivered is short (the profile's netlink.missed
	// says by how much).
	Overruns uint64
}

// Run receives audit records until ctx is done and returns what it saw.
//
// The profile has Attach "netlink". Totals.Delivered, Records, Queued and
// Drained are all the number of records received: netlink mode only sees
// records that reached kauditd, so it cannot tell produced from queued
// from drained. Totals.Lost is the increase of the kernel's lost counter
// between the first and the last AUDIT_GET sample, all of it under
// LostReasonUnknown; Totals.MaxDepth is the largest backlog sampled (a
// sample every SampleEvery, so short peaks are missed). Processes and
// Rules come from each event's SYSCALL record (see attributor), and so do
// the program rows (ByProgram: comm=, exe=, the parent's comm read from
// /proc, no cgroup; see programTable). The timeline counts records by the
// time they were received.
//
// Records reach this socket only when kauditd takes them off the queue,
// which under load is seconds after the event. So once ctx is done,
// Run goes on receiving (up to DrainTimeout) the records the kernel
// held at that moment, in its queue or this socket's buffer, and counts
// those of events begun before the stop (by their audit timestamp). The
// start is not treated alike: records the kernel still held from before
// the start are counted as they arrive (they are load the consumer drains
// during the recording).
// The profile's timeline and duration include that drain, and a note says
// how long it took, or how many records it left behind.
//
// AuditBefore and AuditAfter are the first and last AUDIT_GET samples that
// answered (nil if none did: Lost is then unknown and reported as 0). The
// caller fills SchemaVersion, KernelRelease, HZ, StartUnixNs and
// DurationNs.
//
// Run returns within about a second of ctx being done when the kernel
// holds no records, and within DrainTimeout plus that otherwise.
func Run(ctx context.Context, opts Options) (*profile.Profile, error) {
	if opts.Bucket <= 0 {
		return nil, fmt.Errorf("recording netlink: the timeline's bucket width must be positive, not %v", opts.Bucket)
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = DefaultSampleEvery
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	// Every AUDIT_GET sample is answered by one child process: starting
	// one a sample cost about 20 ms of guest time in the test VMs
	// (auditnl.Helper).
	status := opts.Helper
	if status == nil {
		status = auditnl.NewHelper()
		defer status.Close()
	}
	_ = status.Start() // a child that fails to start is tried again by Get
	f, rc, err := joinReadlog()
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, fmt.Errorf("reading the monotonic clock: %w", err)
	}
	t := newTally(int64(opts.Bucket), time.Now())
	startMono := ts.Nano()

	// The first sample: the baseline of the lost counter. A timeout is no
	// reason to give up (the queue being over the limit is when this tool
	// is needed); the next sample that answers becomes the baseline.
	sctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	st, err := status.Get(sctx)
	cancel()
	switch {
	case err == nil:
		if err := checkNetNS(); err != nil {
			return nil, err
		}
		p := t.addSample(time.Now(), st)
		if opts.Progress != nil {
			opts.Progress(p)
		}
	case errors.Is(err, auditnl.ErrTimeout), ctx.Err() != nil:
	default:
		return nil, err
	}
	if opts.Started != nil {
		if err := opts.Started(); err != nil {
			return nil, err
		}
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sampleLoop(ctx, status, opts, t)
	}()
	r := &reader{f: f, rc: rc, buf: make([]byte, 1<<16)} // MAX_AUDIT_MESSAGE_LENGTH is 8970
	recvErr := receive(ctx, r, t)
	stop := time.Now()
	wg.Wait() // prompt: its AUDIT_GET is bound to ctx

	last := finalSample(status, t, opts)
	if recvErr != nil {
		return nil, recvErr
	}
	d, err := drain(r, status, t, stop, last, opts)
	if err != nil {
		return nil, err
	}
	end := time.Now()
	missed, missedErr := socketDrops(f)
	p := t.profile(startMono, end)
	p.Notes = append(p.Notes, d.notes(stop.Sub(t.start), end.Sub(stop))...)
	p.Netlink.AfterStop, p.Netlink.LeftInQueue = d.records, d.left
	p.Netlink.Missed = missed
	if missedErr != nil && p.Netlink.Overruns > 0 {
		// At least one record per ENOBUFS; how many more is unknown.
		p.Netlink.Missed = p.Netlink.Overruns
		p.Notes = append(p.Notes, fmt.Sprintf("the socket's drop counter could not be read (%v): netlink.missed counts one record per overrun, a lower bound", missedErr))
	}
	return p, nil
}
