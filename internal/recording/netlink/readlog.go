// Package netlink records the audit backlog without BPF: the degraded mode
// for kernels where no program can attach to the audit functions (no
// kprobes, fentry refused), such as the development machine's.
//
// It joins the audit subsystem's read-only multicast group
// (AUDIT_NLGRP_READLOG) and samples AUDIT_GET. kauditd sends the group a
// copy of every record it takes off the audit queue (kauditd_send_multicast_skb,
// before the unicast to auditd), so this mode sees exactly the records that
// made it through the queue: it cannot see records dropped before the
// queue, nor how long producers waited. Losses come only from the
// kernel's lost counter, as the difference between AUDIT_GET samples, with
// no reason and no process.
//
// Requirements: CAP_AUDIT_READ (Linux 3.16, commit 3a101b8de0d3) to join
// the group; CAP_AUDIT_CONTROL, the initial user and pid namespaces for
// AUDIT_GET; and the initial network namespace, the only one the kernel
// multicasts records to. Programs using Record must call
// auditnl.ServeChild first thing in main (AUDIT_GET runs in a child).
package netlink

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/profile"
)

// Defaults.
const (
	DefaultBucketNs     = int64(10 * time.Millisecond)
	DefaultSampleEvery  = time.Second
	DefaultDrainTimeout = 10 * time.Second
)

const (
	// sampleTimeout bounds each AUDIT_GET while recording.
	sampleTimeout = auditnl.DefaultTimeout
	// finalSampleTimeout bounds the last AUDIT_GET after ctx is done, so
	// that Record returns within about a second of cancellation.
	finalSampleTimeout = 750 * time.Millisecond
	// rcvBuf is the socket receive buffer asked for: room for thousands
	// of records while this process is descheduled. Memory is used only
	// when records wait.
	rcvBuf = 16 << 20
	// LostReasonUnknown is the single loss reason netlink mode can give.
	LostReasonUnknown = "unknown (netlink mode)"
	// drainSampleEvery is how often the queue length is read while
	// draining, to see it empty.
	drainSampleEvery = 100 * time.Millisecond
	// drainMargin: a record of an event begun this long after the stop
	// ends the drain. kauditd sends in queue order, so everything queued
	// before it has arrived; the margin lets events begun just before the
	// stop but queued a little later (a syscall's records are queued at
	// its exit, other CPUs interleave) still come in.
	drainMargin = 250 * time.Millisecond
)

// Options configures Record.
type Options struct {
	// BucketNs is the timeline's bucket width; DefaultBucketNs if <= 0.
	BucketNs int64
	// SampleEvery is the AUDIT_GET sampling period; DefaultSampleEvery if
	// <= 0. A sample is skipped while the previous one's child process has
	// not exited (see auditnl.InFlight).
	SampleEvery time.Duration
	// Started, if set, is called once the multicast group is joined and
	// the first AUDIT_GET sample taken, before records are counted. An
	// error from it ends Record with that error.
	Started func() error
	// Progress, if set, is called after each AUDIT_GET sample, never
	// concurrently with itself.
	Progress func(Progress)
	// DrainTimeout bounds how long Record, once ctx is done, goes on
	// receiving the records the kernel still held then (see Record);
	// DefaultDrainTimeout if <= 0.
	DrainTimeout time.Duration
	// Draining, if set, is called once ctx is done and the kernel still
	// holds records to receive: queued is the audit queue's length then,
	// or -1 if AUDIT_GET did not answer; within is DrainTimeout.
	Draining func(queued int64, within time.Duration)
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

// Record receives audit records until ctx is done and returns what it saw.
//
// The profile has Attach "netlink". Totals.Delivered, Records, Queued and
// Drained are all the number of records received: netlink mode only sees
// records that reached kauditd, so it cannot tell produced from queued
// from drained. Totals.Lost is the increase of the kernel's lost counter
// between the first and the last AUDIT_GET sample, all of it under
// LostReasonUnknown; Totals.MaxDepth is the largest backlog sampled (a
// sample every SampleEvery, so short peaks are missed). Processes and
// Rules come from each event's SYSCALL record (see attributor). The
// timeline counts records by the time they were received.
//
// Records reach this socket only when kauditd takes them off the queue,
// which under load is seconds after the event. So once ctx is done,
// Record goes on receiving (up to DrainTimeout) the records the kernel
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
// Record returns within about a second of ctx being done when the kernel
// holds no records, and within DrainTimeout plus that otherwise.
func Record(ctx context.Context, opts Options) (*profile.Profile, error) {
	if opts.BucketNs <= 0 {
		opts.BucketNs = DefaultBucketNs
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = DefaultSampleEvery
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	f, rc, err := joinReadlog()
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, fmt.Errorf("reading the monotonic clock: %w", err)
	}
	rec := newRecorder(opts.BucketNs, time.Now())
	startMono := ts.Nano()

	// The first sample: the baseline of the lost counter. A timeout is no
	// reason to give up (the queue being over the limit is when this tool
	// is needed); the next sample that answers becomes the baseline.
	sctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	st, err := auditnl.Get(sctx)
	cancel()
	switch {
	case err == nil:
		if err := checkNetNS(); err != nil {
			return nil, err
		}
		p := rec.addSample(time.Now(), st)
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
		sampleLoop(ctx, opts, rec)
	}()
	r := &reader{f: f, rc: rc, buf: make([]byte, 1<<16)} // MAX_AUDIT_MESSAGE_LENGTH is 8970
	recvErr := receive(ctx, r, rec)
	stop := time.Now()
	wg.Wait() // prompt: its AUDIT_GET is bound to ctx

	last := finalSample(rec, opts)
	if recvErr != nil {
		return nil, recvErr
	}
	d, err := drain(r, rec, stop, last, opts)
	if err != nil {
		return nil, err
	}
	end := time.Now()
	missed, missedErr := socketDrops(f)
	p := rec.profile(startMono, end)
	p.Notes = append(p.Notes, d.notes(stop.Sub(rec.start), end.Sub(stop))...)
	p.Netlink.AfterStop, p.Netlink.LeftInQueue = d.records, d.left
	p.Netlink.Missed = missed
	if missedErr != nil && p.Netlink.Overruns > 0 {
		// At least one record per ENOBUFS; how many more is unknown.
		p.Netlink.Missed = p.Netlink.Overruns
		p.Notes = append(p.Notes, fmt.Sprintf("the socket's drop counter could not be read (%v): netlink.missed counts one record per overrun, a lower bound", missedErr))
	}
	return p, nil
}

// socketDrops is the drop counter of the netlink socket f (sk_drops, which
// netlink_overrun increments for every record the socket had no room for),
// read from /proc/net/netlink by the socket's inode.
func socketDrops(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("reading the socket's inode: %w", err)
	}
	pf, err := os.Open("/proc/net/netlink")
	if err != nil {
		return 0, fmt.Errorf("reading netlink sockets: %w", err)
	}
	defer pf.Close()
	return parseNetlinkDrops(pf, st.Ino)
}

// parseNetlinkDrops reads the Drops column of the /proc/net/netlink row
// whose Inode is ino. The columns are found by the header's names
// (sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode since 3.x).
func parseNetlinkDrops(r io.Reader, ino uint64) (uint64, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, errors.New("reading netlink sockets: /proc/net/netlink is empty")
	}
	drops, inode := -1, -1
	for i, name := range strings.Fields(sc.Text()) {
		switch name {
		case "Drops":
			drops = i
		case "Inode":
			inode = i
		}
	}
	if drops < 0 || inode < 0 {
		return 0, errors.New("reading netlink sockets: /proc/net/netlink has no Drops and Inode columns")
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) <= max(drops, inode) {
			continue
		}
		if n, err := strconv.ParseUint(f[inode], 10, 64); err != nil || n != ino {
			continue
		}
		d, err := strconv.ParseUint(f[drops], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading netlink sockets: drops %q: %w", f[drops], err)
		}
		return d, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading netlink sockets: %w", err)
	}
	return 0, fmt.Errorf("reading netlink sockets: no socket with inode %d", ino)
}

// joinReadlog opens a netlink audit socket bound to AUDIT_NLGRP_READLOG.
// The socket is built here rather than with go-libaudit's
// NewMulticastAuditClient because that client hides its descriptor: a
// blocked Receive could then be ended only by a record arriving, and on a
// quiet system none may ever come. Here the descriptor is non-blocking and
// registered with Go's poller, so a read deadline ends the wait.
func joinReadlog() (*os.File, syscall.RawConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil, nil, fmt.Errorf("opening audit netlink socket: kernel built without CONFIG_AUDIT: there is no audit backlog to profile; use a kernel with audit support: %w", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening audit netlink socket: %w", err)
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without
	// it, take what SO_RCVBUF allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.AUDIT_NLGRP_READLOG - 1)}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			return nil, nil, &hintError{msg: "joining the audit multicast group: permission denied: run as root or grant CAP_AUDIT_READ", err: err}
		}
		return nil, nil, fmt.Errorf("joining the audit multicast group: %w", err)
	}
	f := os.NewFile(uintptr(fd), "audit-readlog")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("joining the audit multicast group: %w", err)
	}
	return f, rc, nil
}

// checkNetNS fails when this process is not in the initial network
// namespace: the kernel multicasts audit records only in init_net
// (kauditd_send_multicast_skb), so a listener elsewhere would wait in vain.
// It is called after AUDIT_GET succeeded, which proves the initial pid
// namespace, so /proc/1 is the system's init.
func checkNetNS() error {
	var self, init unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &self) != nil || unix.Stat("/proc/1/ns/net", &init) != nil {
		return nil // cannot tell; do not guess
	}
	if self.Ino != init.Ino || self.Dev != init.Dev {
		return errors.New("joining the audit multicast group: this process is not in the initial network namespace, and the kernel sends audit records to listeners there only: run in the host's network namespace")
	}
	return nil
}

// reader reads audit records from the multicast socket.
type reader struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
}

// errSocketEmpty is read's answer when the socket holds no record and
// its wait function says not to wait for one.
var errSocketEmpty = errors.New("no record in the socket")

// read returns the next record the kernel sent: its type and payload
// (valid until the next read). When the socket is empty it blocks while
// wait returns true, and returns errSocketEmpty otherwise; a read deadline
// ends a blocked read with os.ErrDeadlineExceeded. An overflow of the
// socket's buffer is returned as unix.ENOBUFS.
func (r *reader) read(wait func() bool) (uint16, []byte, error) {
	for {
		var n int
		var from unix.Sockaddr
		var opErr error
		err := r.rc.Read(func(fd uintptr) bool {
			for {
				n, from, opErr = unix.Recvfrom(int(fd), r.buf, unix.MSG_DONTWAIT)
				if opErr != unix.EINTR {
					break
				}
			}
			return opErr != unix.EAGAIN || !wait()
		})
		switch {
		case err != nil:
			return 0, nil, err
		case opErr == unix.EAGAIN:
			return 0, nil, errSocketEmpty
		case opErr != nil:
			return 0, nil, opErr
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		if n < unix.NLMSG_HDRLEN {
			continue
		}
		typ := binary.NativeEndian.Uint16(r.buf[4:])
		if typ < unix.NLMSG_MIN_TYPE {
			continue // netlink control message, not a record
		}
		// In multicast copies nlmsg_len covers the whole skb; the
		// datagram's length is the truth either way.
		return typ, r.buf[unix.NLMSG_HDRLEN:n], nil
	}
}

func alwaysWait() bool { return true }

// receive reads records until ctx is done. ctx ending sets a read deadline
// in the past, which wakes the blocked read.
func receive(ctx context.Context, r *reader, rec *recorder) error {
	stop := context.AfterFunc(ctx, func() { _ = r.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		typ, payload, err := r.read(alwaysWait)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ctx.Err() != nil {
				return nil
			}
			continue
		case errors.Is(err, unix.ENOBUFS):
			rec.overrun()
			continue
		case err != nil:
			return fmt.Errorf("receiving audit records: %w", err)
		}
		rec.addRecord(time.Now(), typ, payload, time.Time{})
	}
}

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
func drain(r *reader, rec *recorder, stop time.Time, last *profile.AuditStatus, opts Options) (drained, error) {
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
			sampleUntilEmpty(ctx, &emptied, &left, wake)
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
			rec.overrun()
			continue
		case err != nil:
			return d, fmt.Errorf("receiving audit records: %w", err)
		}
		switch rec.addRecord(time.Now(), typ, payload, stop) {
		case counted:
			d.records++
		case pastMargin:
			return d, nil
		}
	}
}

// sampleUntilEmpty reads the audit queue's length every drainSampleEvery
// until it is zero (then sets emptied and wakes the reader) or ctx is done.
func sampleUntilEmpty(ctx context.Context, emptied *atomic.Bool, left *atomic.Uint32, wake func()) {
	sampleEvery(ctx, drainSampleEvery, func(st *profile.AuditStatus) bool {
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
func sampleLoop(ctx context.Context, opts Options, rec *recorder) {
	sampleEvery(ctx, opts.SampleEvery, func(st *profile.AuditStatus) bool {
		p := rec.addSample(time.Now(), st)
		if opts.Progress != nil {
			opts.Progress(p)
		}
		return true
	})
}

// sampleEvery reads AUDIT_GET every period and passes each answer to fn,
// until fn returns false or ctx is done. A reading is skipped while the
// previous one's child is still asleep in the kernel; one that times out
// is skipped too (the next may answer).
func sampleEvery(ctx context.Context, period time.Duration, fn func(*profile.AuditStatus) bool) {
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
		st, err := auditnl.Get(sctx)
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
func finalSample(rec *recorder, opts Options) *profile.AuditStatus {
	deadline := time.Now().Add(finalSampleTimeout)
	for auditnl.InFlight() > 0 { // a sample cancelled a moment ago exits at once unless asleep
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	st, err := auditnl.Get(ctx)
	if err != nil {
		return nil
	}
	p := rec.addSample(time.Now(), st)
	if opts.Progress != nil {
		opts.Progress(p)
	}
	return st
}

// recorder holds what Record accumulates; the receive loop and the
// sampler share it.
type recorder struct {
	mu        sync.Mutex
	start     time.Time
	tl        timeline
	attr      *attributor
	delivered uint64
	overruns  uint64
	first     *profile.AuditStatus
	last      *profile.AuditStatus
	lost      uint64
	maxDepth  uint64
}

func newRecorder(bucketNs int64, start time.Time) *recorder {
	return &recorder{start: start, tl: timeline{bucketNs: bucketNs}, attr: newAttributor()}
}

// stampClass is where a record's event began relative to the stop.
type stampClass int

const (
	counted    stampClass = iota // before the stop, no stop yet, or no timestamp: counted
	afterStop                    // after the stop: not counted
	pastMargin                   // drainMargin after the stop: not counted, and the drain is over
)

// addRecord counts one record received at at, unless stop is set and the
// record's event began after it.
func (r *recorder) addRecord(at time.Time, typ uint16, payload []byte, stop time.Time) stampClass {
	rec, err := parseRecord(typ, payload)
	if !stop.IsZero() && err == nil && !rec.stamp.IsZero() {
		// The stamp is the kernel's coarse real-time clock at the
		// event's start, truncated to milliseconds: never later than
		// time.Now() would have read then.
		switch {
		case rec.stamp.After(stop.Add(drainMargin)):
			return pastMargin
		case rec.stamp.After(stop):
			return afterStop
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered++
	r.tl.arrival(at.Sub(r.start).Nanoseconds())
	r.attr.add(rec, err == nil)
	return counted
}

func (r *recorder) overrun() {
	r.mu.Lock()
	r.overruns++
	r.mu.Unlock()
}

func (r *recorder) addSample(at time.Time, st *profile.AuditStatus) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d uint64
	if r.first == nil {
		r.first = st
	} else {
		d = lostDelta(r.last.Lost, st.Lost)
		r.lost += d
	}
	r.last = st
	r.maxDepth = max(r.maxDepth, uint64(st.Backlog))
	r.tl.sample(at.Sub(r.start).Nanoseconds(), d, st.Backlog)
	return Progress{Delivered: r.delivered, Lost: r.lost, Backlog: st.Backlog, Overruns: r.overruns}
}

func (r *recorder) profile(startMono int64, end time.Time) *profile.Profile {
	r.mu.Lock()
	defer r.mu.Unlock()
	procs, rules, ovf := r.attr.finish()
	d := r.delivered
	p := &profile.Profile{
		Attach:      profile.AttachNetlink,
		AuditBefore: r.first,
		AuditAfter:  r.last,
		Totals: profile.Totals{
			Records:      d,
			Queued:       d,
			Drained:      d,
			Delivered:    d,
			Lost:         r.lost,
			LostByReason: map[string]uint64{},
			MaxDepth:     r.maxDepth,
			FirstSerial:  uint64(r.attr.firstSerial),
			LastSerial:   uint64(r.attr.lastSerial),
		},
		Processes:       procs,
		Rules:           rules,
		WaitHistogramNs: []profile.HistogramBucket{},
		Timeline:        r.tl.build(startMono, end.Sub(r.start).Nanoseconds()),
		Overflows:       ovf,
	}
	p.Netlink = &profile.NetlinkSocket{Overruns: r.overruns}
	if r.lost > 0 {
		p.Totals.LostByReason[LostReasonUnknown] = r.lost
	}
	return p
}

// hintError is an error whose message is a complete instruction for the
// user, with the underlying error kept for errors.Is.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }
