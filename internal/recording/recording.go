// Package recording runs one recording: it reads the kernel's audit
// status, attaches the BPF probe (or falls back to netlink where nothing
// can attach), counts until told to stop, detaches and returns the profile.
package recording

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/auditrules"
	"github.com/auditprof/auditprof/internal/cgroup"
	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/procsample"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording/netlink"
	"github.com/auditprof/auditprof/internal/sizing"
)

// Options configure Run.
type Options struct {
	// Duration stops the recording; zero records until ctx is cancelled.
	Duration time.Duration
	Attach   probe.Mode
	// Netlink records over netlink without trying BPF (record --attach
	// netlink): what a kernel where nothing attaches gets, chosen.
	Netlink bool
	// TaskState is probe.Options.TaskState: "auto" (or ""), "task-storage"
	// or "hash" (what kernels before 5.12 get, forced on newer ones to
	// test that path).
	TaskState string
	Bucket    time.Duration // probe.DefaultBucket when 0
	// ProcessMinAge is probe.Options.ProcessMinAge: the age before a
	// process gets a row of its own (probe.DefaultProcessMinAge when 0).
	ProcessMinAge time.Duration
	// Ready is called once, when counting has started.
	Ready func(attach string) error
	// Notice, when set, is called once before counting starts with the
	// attach note, when there is one: why this attach mode, and what it
	// cannot count exactly on this kernel (fentry on a kernel that
	// preempts kernel code), said before the recording rather than after.
	Notice func(line string)
	// Degraded is called once, with one line, when BPF cannot attach and
	// the recording falls back to netlink.
	Degraded func(line string)
	// Progress is called every Every (about once a second by default).
	Progress func(Progress)
	// Draining is called in netlink mode when, once stopped, the recording
	// goes on receiving the records the kernel still held (see
	// netlink.Run) for at most within: queued is the audit queue's
	// length, -1 if unknown.
	Draining func(queued int64, within time.Duration)
	// Every is how often Progress and Snapshot are called (default 1 s).
	Every time.Duration
	// Snapshot, when set, is called every Every with the profile so far:
	// cumulative counters (see probe.Snapshot), AuditAfter read at that
	// moment, rules and cgroups named. Live views (top, the exporter) are
	// built on it. It needs BPF: where nothing attaches, Run returns the
	// probe's ErrNoAttach instead of falling back to netlink, which only
	// sees records at the end of an event. An error from Snapshot ends the
	// recording with that error.
	Snapshot func(*profile.Profile) error
	// KeepBuckets bounds the timeline kept in user space (see
	// probe.Options.KeepBuckets); zero keeps all of it.
	KeepBuckets int
	// Consumer is how auditd's threads and kauditd are measured:
	// ConsumerSample ("" too), ConsumerSchedSwitch or ConsumerOff
	// (record --consumer). ConsumerHz is the sampler's rate
	// (procsample.DefaultHz when 0).
	Consumer   string
	ConsumerHz float64
	// Journal, when set, is where the BPF recording writes its timeline
	// as it reads it (profile.Journal; record's <output>.partial): it
	// holds no bucket in memory while counting, and a recording killed
	// keeps what it read. At the stop the timeline is read back from it;
	// the caller removes it once the profile is saved. The file must not
	// exist. Netlink recordings do not use it, nor do live views
	// (Snapshot). Checkpoints keep their rows' text next to it
	// (profile.JournalRowsPath), a file Run removes before it returns.
	Journal string
	// CheckpointEvery, when positive (and with a Journal), makes a
	// checkpoint at that interval (record --checkpoint, issue 20): a
	// complete profile of the recording so far, profile.Checkpoint set,
	// handed to Checkpoint off the counting thread; one still being
	// written when the next is due makes that one skipped. An error
	// making or writing one goes to CheckpointFailed and the recording
	// goes on. Run returns once the last one handed over is written.
	CheckpointEvery  time.Duration
	Checkpoint       func(*profile.Profile) error
	CheckpointFailed func(error)
	// JournalBehind is called when the journal's file falls behind (a
	// full filesystem: profile.JournalBehindError), with the error, and
	// with nil when it has caught up; the recording goes on, holding
	// what is not written in memory.
	JournalBehind func(error)
}

// Progress is the live state shown while recording.
type Progress struct {
	Elapsed  time.Duration
	Records  uint64
	Queued   uint64
	Lost     uint64
	Waits    uint64
	MaxDepth uint64
}

// Run records until ctx is cancelled or opts.Duration has passed. A
// cancelled ctx is a normal stop, not an error.
func Run(ctx context.Context, opts Options) (*profile.Profile, error) {
	if opts.Bucket <= 0 {
		opts.Bucket = probe.DefaultBucket
	}
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	prof := &profile.Profile{SchemaVersion: profile.SchemaVersion}
	release, err := kernel.Release()
	if err != nil {
		return nil, err
	}
	prof.KernelRelease = release
	if givesUp, err := kernel.KauditdGivesUp(); err != nil {
		prof.Notes = append(prof.Notes, fmt.Sprintf("whether kauditd gives up sends to a stopped auditd is unknown (%v): replayed stalls keep everything in audit_queue", err))
	} else if givesUp {
		prof.KauditdSendTimeoutNs = int64(kernel.KauditdSendTimeout)
	}

	// HZ is looked up while the probe loads: from the kernel's config or
	// one timer_list read it is at once, but a measurement takes 200 ms.
	type hzResult struct {
		hz  kernel.HZ
		err error
	}
	hzDone := make(chan hzResult, 1)
	go func() {
		hz, err := kernel.MeasureHZ(context.Background())
		hzDone <- hzResult{hz, err}
	}()
	waitHZ := func(bpf bool) error {
		r := <-hzDone
		return setHZ(prof, r.hz, r.err, bpf)
	}

	if opts.Journal != "" && opts.Snapshot != nil {
		<-hzDone
		return nil, errors.New("a journal is for record, not for live snapshots")
	}
	if opts.Netlink {
		if opts.Snapshot != nil {
			<-hzDone
			return nil, errors.New("live snapshots need BPF: netlink sees records only at the end of their event")
		}
		if err := waitHZ(false); err != nil {
			return nil, err
		}
		return runNetlink(ctx, opts, prof, nil)
	}
	if opts.Consumer == "" {
		opts.Consumer = ConsumerSample
	}
	if opts.ConsumerHz <= 0 {
		opts.ConsumerHz = procsample.DefaultHz
	}
	// Every AUDIT_GET of the recording (before, the consumer watch's,
	// live snapshots', after) is answered by one child process started
	// here, while the probe loads: starting a process for each read cost
	// about 20 ms of guest time in the test VMs, inside whatever the
	// machine was doing (auditnl.Helper).
	helper := auditnl.NewHelper()
	defer helper.Close()
	_ = helper.Start() // a child that fails to start is tried again by Get
	pr, err := probe.Open(probe.Options{Mode: opts.Attach, Bucket: opts.Bucket, KeepBuckets: opts.KeepBuckets,
		TaskState: opts.TaskState, ProcessMinAge: opts.ProcessMinAge, SchedSwitch: opts.Consumer == ConsumerSchedSwitch})
	if errors.Is(err, probe.ErrNoAttach) && opts.Attach == probe.ModeAuto && opts.Snapshot == nil {
		if opts.Degraded != nil {
			opts.Degraded(fmt.Sprintf("%v; recording what netlink offers instead (attach=netlink: records delivered to kauditd, AUDIT_GET samples; no waits, no per-process drops)", err))
		}
		if err := waitHZ(false); err != nil {
			return nil, err
		}
		return runNetlink(ctx, opts, prof, helper)
	}
	if err != nil {
		<-hzDone
		return nil, err
	}
	defer pr.Close()
	if err := waitHZ(true); err != nil {
		return nil, err
	}

	// AUDIT_GET is read after attaching and again right after detaching,
	// so that the kernel's counters and ours cover the same interval.
	beforeNs, err := monoNow()
	if err != nil {
		return nil, err
	}
	before, err := getStatus(ctx, helper, prof, "before")
	if err != nil {
		return nil, err
	}
	prof.AuditBefore = before
	settings := newSettingsTracker(before, beforeNs)
	cw := newConsumerWatch(pr, helper, before, opts.Consumer, opts.ConsumerHz)
	defer cw.stop() // count stops it too; here for the ways out before it
	if n := pr.Note(); n != "" && opts.Notice != nil {
		opts.Notice("attach: " + n)
	}
	start := time.Now()
	prof.StartUnixNs = start.UnixNano()
	var journal *profile.Journal
	if opts.Journal != "" {
		startNs, _ := pr.TimelineRead()
		head := *prof
		head.Attach, head.AttachNote = string(pr.Mode()), pr.Note()
		if journal, err = profile.CreateJournal(opts.Journal, &head, int64(opts.Bucket), startNs); err != nil {
			return nil, err
		}
		// Rows a killed recorder's checkpoints left (its journal moved
		// away since) are not this journal's: removed, at best (the
		// first checkpoint empties the file anyway).
		_ = os.Remove(profile.JournalRowsPath(opts.Journal))
		// Closed (not removed) on every way out: what it holds is the
		// recording's, whatever went wrong after.
		defer func() {
			_, read := pr.TimelineRead()
			journal.Close(read)
		}()
		pr.SpillTimeline(journal.Append, prof.HZ)
	}
	if opts.Ready != nil {
		if err := opts.Ready(string(pr.Mode())); err != nil {
			return nil, err
		}
	}

	names := &namer{helper: helper}
	// The maps are read, and counting is switched off (a map update
	// where .bss is not mmapable), on a real-time thread while the
	// programs count: see readerPriority.
	restore, err := readerPriority()
	if err != nil {
		prof.Notes = append(prof.Notes, fmt.Sprintf("the reader ran at an ordinary priority (%v): on a kernel that preempts kernel code, programs firing while a map read is preempted are skipped (recursion_misses)", err))
	}
	err = (&counting{opts: opts, start: start, pr: pr, base: prof, helper: helper,
		names: names, cw: cw, journal: journal, settings: settings, status: before}).run(ctx)
	// Stopped where the programs stop counting, to cover the same time.
	cw.stopMeasuring()
	if err == nil {
		err = pr.Detach()
	}
	restore()
	if err != nil {
		return nil, err
	}
	prof.DurationNs = time.Since(start).Nanoseconds()
	afterSent, err := monoNow()
	if err != nil {
		return nil, err
	}
	after, err := getStatus(context.Background(), helper, prof, "after")
	if err != nil {
		return nil, err
	}
	prof.AuditAfter = after
	afterNs, err := monoNow()
	if err != nil {
		return nil, err
	}
	events, dropped, err := pr.SettingEvents()
	if err != nil {
		return nil, err
	}
	settings.observe(events, dropped, *after, afterSent, afterNs)
	prof.Settings = settings.list()
	if n := settings.note(); n != "" {
		prof.Notes = append(prof.Notes, n)
	}
	if err := pr.Fill(prof); err != nil {
		return nil, err
	}
	if journal != nil {
		// Fill handed the last buckets to the journal: read it all back,
		// what its file could not take from memory.
		_, read := pr.TimelineRead()
		if err := journal.Close(read); err != nil {
			var behind *profile.JournalBehindError
			if !errors.As(err, &behind) {
				return nil, err
			}
			if opts.JournalBehind != nil {
				opts.JournalBehind(err)
			}
			prof.Notes = append(prof.Notes, fmt.Sprintf("the journal %s lacks the recording's last %d bytes (%v): this profile has them", journal.Path(), behind.Pending, behind.Err))
		}
		// Its rows stay in the file, read again for each pass over them
		// (MeasureStalls, the file, --json): a day's busy rows held in
		// memory would make the stop's memory grow with the recording
		// (issue 14: 69 MB for two busy hours of 10 ms buckets).
		tl, err := journal.Timeline()
		if err != nil {
			return nil, fmt.Errorf("reading the journal back: %w", err)
		}
		tl.MissedBuckets = prof.Timeline.MissedBuckets
		prof.Timeline = tl
	}
	cw.final(prof)
	// Measured here, where the profile is made, so that record --json
	// and the file carry them; record's summary reads them from here,
	// readers of a file measure them again (profile.Stalls).
	stalls, err := sizing.MeasureStalls(prof)
	if err != nil {
		return nil, fmt.Errorf("measuring stalls: %w", err) // the rows, read from the journal again, were cut short
	}
	prof.Stalls = &stalls
	if err := pr.Close(); err != nil {
		return nil, err
	}
	names.final(prof)
	return prof, prof.Validate()
}

// setHZ puts what kernel.MeasureHZ found into prof: the value, its source
// and its note. Without HZ netlink mode still records (nothing it counts
// is in jiffies; hz is 0 and a note says why), but BPF mode cannot: the
// probe counts backlog waits in jiffies and converts them with HZ.
func setHZ(prof *profile.Profile, hz kernel.HZ, err error, bpf bool) error {
	switch {
	case err == nil:
		prof.HZ, prof.HZSource = hz.Value, hz.Source
		if hz.Note != "" {
			prof.Notes = append(prof.Notes, hz.Note)
		}
		return nil
	case errors.Is(err, kernel.ErrHZEnv):
		return err
	case bpf:
		return fmt.Errorf("%w (BPF mode counts backlog waits in jiffies; --attach netlink records without HZ)", err)
	}
	prof.HZ, prof.HZSource = 0, ""
	prof.Notes = append(prof.Notes, fmt.Sprintf("hz is 0, unknown: %v", err))
	return nil
}

// counting is a BPF recording while its programs count: what run reads
// and what a live snapshot is made of.
type counting struct {
	opts  Options
	start time.Time
	pr    *probe.Probe
	// base holds the profile's fixed fields (kernel, HZ, AuditBefore).
	base *profile.Profile
	// helper answers every AUDIT_GET of the recording.
	helper   *auditnl.Helper
	names    *namer
	cw       *consumerWatch
	journal  *profile.Journal
	settings *settingsTracker
	// status is the last AUDIT_GET reply the consumer watch read: a
	// checkpoint's audit_after.
	status *profile.AuditStatus
	// checkpoints made, and the one being written (closed when done);
	// when the last began, and what it cost (the counting thread's part
	// and the writer's, read once writing is closed).
	checkpoints    int
	writing        chan struct{}
	checkpointAt   time.Time
	checkpointCost time.Duration
	rows           checkpointRows
	// behind: the journal's file is behind (JournalBehind was told).
	behind bool
}

// journalErr tells JournalBehind when the journal's file falls behind
// (once, until it has caught up, and then that) and returns any other
// error: a journal that gave up ends the recording.
func (c *counting) journalErr(err error) error {
	var behind *profile.JournalBehindError
	switch {
	case err == nil:
		if c.behind {
			c.behind = false
			if c.opts.JournalBehind != nil {
				c.opts.JournalBehind(nil)
			}
		}
		return nil
	case errors.As(err, &behind):
		if !c.behind {
			c.behind = true
			if c.opts.JournalBehind != nil {
				c.opts.JournalBehind(err)
			}
		}
		return nil
	}
	return err
}

// snapshot builds a live profile: base's fixed fields, the maps so far.
func (c *counting) snapshot(ctx context.Context) (*profile.Profile, error) {
	snap := c.newSnapshot()
	// AUDIT_GET first: the maps are read after it, so the kernel's lost
	// counter is never ahead of ours.
	after, err := getStatus(ctx, c.helper, snap, "after")
	if err != nil {
		return nil, err
	}
	snap.AuditAfter = after
	if err := c.fillSnapshot(snap); err != nil {
		return nil, err
	}
	c.names.live(snap)
	return snap, nil
}

// newSnapshot is a profile with base's fixed fields.
func (c *counting) newSnapshot() *profile.Profile {
	base := c.base
	return &profile.Profile{
		SchemaVersion: base.SchemaVersion, KernelRelease: base.KernelRelease,
		HZ: base.HZ, HZSource: base.HZSource, KauditdSendTimeoutNs: base.KauditdSendTimeoutNs, StartUnixNs: base.StartUnixNs,
		AuditBefore: base.AuditBefore, Notes: append([]string(nil), base.Notes...),
	}
}

// fillSnapshot reads the maps so far into snap; its rows are not named
// (namer.live reads the rule list over netlink: not on the counting
// thread for a checkpoint).
func (c *counting) fillSnapshot(snap *profile.Profile) error {
	snap.Settings = c.settings.list()
	snap.DurationNs = time.Since(c.start).Nanoseconds()
	if err := c.pr.Snapshot(snap); err != nil {
		return err
	}
	c.cw.measured(snap.Consumer, true)
	return nil
}

// checkpoint makes a checkpoint (Options.CheckpointEvery): the maps read
// as a snapshot does, but for AUDIT_GET, which is the consumer watch's
// last reply (the kernel can hold a read while the queue is over its
// limit, and the counting thread must not wait for one); the buckets read
// handed to the journal. A goroutine waits for the journal's writer to
// write them, reads what the journal gained since the last checkpoint
// (profile.JournalFollower), measures the stalls (sizing.StallTracker)
// and hands the profile over, whose rows are the follower's file. One still being written
// makes this one skipped, and so does one sooner than CheckpointShare
// allows after the last.
func (c *counting) checkpoint() error {
	if c.writing != nil {
		select {
		case <-c.writing:
		default:
			return nil
		}
	}
	begin := time.Now()
	if !checkpointDue(c.checkpointAt, c.checkpointCost, begin) {
		return nil
	}
	c.checkpointAt = begin
	snap := c.newSnapshot()
	if c.status != nil {
		st := *c.status
		snap.AuditAfter = &st
	}
	if err := c.fillSnapshot(snap); err != nil {
		return err
	}
	_, read := c.pr.TimelineRead()
	size, wait, err := c.journal.Written(read)
	if err := c.journalErr(err); err != nil {
		return err
	}
	c.checkpoints++
	snap.Checkpoint = &profile.Checkpoint{Seq: c.checkpoints, UnixNs: time.Now().UnixNano(), EveryNs: int64(c.opts.CheckpointEvery)}
	done := make(chan struct{})
	c.writing = done
	own := time.Since(begin)
	go func() {
		defer close(done)
		start := time.Now()
		if err := c.writeCheckpoint(snap, size, wait); err != nil && c.opts.CheckpointFailed != nil {
			c.opts.CheckpointFailed(fmt.Errorf("checkpoint %d: %w", snap.Checkpoint.Seq, err))
		}
		c.checkpointCost = own + time.Since(start)
	}()
	return nil
}

// CheckpointShare is the share of the time checkpoints may take: the next
// one comes CheckpointEvery after the last, or 1/CheckpointShare times
// what the last cost if that is longer. A checkpoint reads and encodes
// only what the journal gained since the last (checkpointRows), but what
// is left grows with the recording: the rows copied (in the kernel, but
// compressed again for a .gz output), and, without delivered, the stalls
// measured over the whole timeline (sizing.StallTracker); the share
// bounds those.
const CheckpointShare = 0.01

// checkpointDue says whether a checkpoint may begin at now, the last one
// having begun at last (zero: none yet) and cost cost.
func checkpointDue(last time.Time, cost time.Duration, now time.Time) bool {
	return last.IsZero() || now.Sub(last) >= time.Duration(float64(cost)/CheckpointShare)
}

func (c *counting) writeCheckpoint(snap *profile.Profile, size int64, wait func() error) error {
	if err := wait(); err != nil {
		return err
	}
	// Named here, off the counting thread: the rule list is read over
	// netlink, which the kernel can hold while the queue is over its
	// limit. The namer is this goroutine's until the stop waits for it
	// (live snapshots, its other user, never come with a journal).
	c.names.live(snap)
	err := c.rows.fill(snap, c.journal.Path(), size)
	defer snap.Timeline.Close()
	if err != nil {
		return err
	}
	if err := snap.Validate(); err != nil {
		return err
	}
	return c.opts.Checkpoint(snap)
}

// checkpointRows is what one checkpoint read of the journal, carried
// over to the next: only what the journal gained since is read, and
// only its rows encoded and walked for stalls (issue 14: the cost of a
// checkpoint must not grow with the recording). It is the checkpoint
// writer's, one goroutine at a time (counting.writing).
type checkpointRows struct {
	follower *profile.JournalFollower
	stalls   sizing.StallTracker
}

// fill sets snap's timeline to the one of the journal at path's first
// size bytes (Journal.Written), keeping snap's missed buckets, and its
// stalls. The caller closes snap's timeline, whatever the error.
func (r *checkpointRows) fill(snap *profile.Profile, path string, size int64) error {
	if r.follower == nil {
		r.follower = profile.NewJournalFollower(path)
	}
	step, err := r.follower.Next(size)
	if err != nil {
		return err
	}
	step.Timeline.MissedBuckets = snap.Timeline.MissedBuckets
	snap.Timeline = step.Timeline
	stalls, err := r.stalls.Measure(snap, step.Added, step.Restarted)
	if err != nil {
		return fmt.Errorf("measuring stalls: %w", err)
	}
	snap.Stalls = &stalls
	return nil
}

// close removes the follower's rows file.
func (r *checkpointRows) close() error { return r.follower.Close() }

// waitCheckpoint returns once the checkpoint being written, if any, is.
func (c *counting) waitCheckpoint() {
	if c.writing != nil {
		<-c.writing
	}
}

// run counts until ctx is done or opts.Duration has passed: it empties
// the timeline ring every second, follows auditd's pid, and makes the
// live snapshots and progress opts asks for.
func (c *counting) run(ctx context.Context) error {
	opts, start, pr, cw, journal := c.opts, c.start, c.pr, c.cw, c.journal
	var stop <-chan time.Time
	if opts.Duration > 0 {
		t := time.NewTimer(opts.Duration)
		defer t.Stop()
		stop = t.C
	}
	// The timeline ring is emptied every second whatever Every is: it
	// holds TimelineSlots buckets (about 10 s), and a live view may ask
	// for a screen a minute.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	tick := time.NewTicker(opts.Every)
	defer tick.Stop()
	sample := time.NewTicker(ConsumerSampleEvery)
	defer sample.Stop()
	defer cw.stop()
	var checkpoint <-chan time.Time
	if opts.CheckpointEvery > 0 && opts.Checkpoint != nil && journal != nil {
		t := time.NewTicker(opts.CheckpointEvery)
		defer t.Stop()
		checkpoint = t.C
	}
	// The final profile is written after Run returns: no checkpoint may
	// replace it. The checkpoints' rows file goes with them: the stop
	// encodes the profile from the journal.
	defer func() {
		c.waitCheckpoint()
		if err := c.rows.close(); err != nil && c.opts.CheckpointFailed != nil {
			c.opts.CheckpointFailed(err)
		}
	}()
	// At the default Every (the poll's second) progress shows the totals
	// the poll read: one read of the totals a second, not two.
	progressOnPoll := opts.Every == time.Second
	progress := func(t probe.Counters) {
		opts.Progress(Progress{Elapsed: time.Since(start), Records: t.Records, Queued: t.Queued,
			Lost: t.Lost, Waits: t.Waits, MaxDepth: t.MaxDepth})
	}
	for {
		select {
		case <-sample.C:
			cw.sample()
		case polled := <-cw.statuses:
			if err := cw.set(polled.pid(cw)); err != nil {
				return err
			}
			// A failed read shows no change: the next one that answers
			// compares with the last that did.
			var changes []profile.SettingChange
			if polled.st != nil {
				c.status = polled.st
				// The kernel's changes read after the reply came: every
				// one made before it was asked for is there.
				events, dropped, err := pr.SettingEvents()
				if err != nil {
					return err
				}
				changes = c.settings.observe(events, dropped, *polled.st, polled.sentNs, polled.ns)
			}
			for _, ch := range changes {
				if journal != nil {
					if err := journal.AddSetting(ch); err != nil {
						return err
					}
				}
			}
		case <-ctx.Done():
			return nil
		case <-stop:
			return nil
		case <-checkpoint:
			if err := c.checkpoint(); err != nil {
				return err
			}
		case <-poll.C:
			t, err := pr.PollTimeline()
			if err != nil {
				return err
			}
			if journal != nil {
				// One write a second, what the poll read.
				_, read := pr.TimelineRead()
				if err := c.journalErr(journal.Flush(read)); err != nil {
					return err
				}
			}
			if opts.Progress != nil && progressOnPoll {
				progress(t)
			}
		case <-tick.C:
			if opts.Snapshot != nil {
				snap, err := c.snapshot(ctx)
				if err != nil {
					if ctx.Err() != nil {
						// Stopped while reading (the tick and Ctrl-C came
						// together): a normal stop, not a failed snapshot.
						return nil
					}
					return err
				}
				if err := opts.Snapshot(snap); err != nil {
					return err
				}
			}
			if opts.Progress != nil && !progressOnPoll {
				t, err := pr.Totals()
				if err != nil {
					return err
				}
				progress(t)
			}
		}
	}
}

// runNetlink records what netlink offers; helper, the recording's if it
// has one yet, answers its AUDIT_GET samples (netlink.Run makes its own
// when nil).
func runNetlink(ctx context.Context, opts Options, prof *profile.Profile, helper *auditnl.Helper) (*profile.Profile, error) {
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	start := time.Now()
	ready := opts.Ready
	rp, err := netlink.Run(ctx, netlink.Options{
		Bucket: opts.Bucket,
		Started: func() error {
			if ready != nil {
				return ready(profile.AttachNetlink)
			}
			return nil
		},
		Draining: opts.Draining,
		Helper:   helper,
		Progress: func(p netlink.Progress) {
			if opts.Progress != nil {
				opts.Progress(Progress{Elapsed: time.Since(start), Records: p.Delivered, Queued: p.Delivered,
					Lost: p.Lost, MaxDepth: uint64(p.Backlog)})
			}
		},
	})
	if err != nil {
		return nil, err
	}
	rp.SchemaVersion = profile.SchemaVersion
	rp.Attach = profile.AttachNetlink
	rp.KernelRelease = prof.KernelRelease
	rp.HZ, rp.HZSource, rp.KauditdSendTimeoutNs = prof.HZ, prof.HZSource, prof.KauditdSendTimeoutNs
	rp.Notes = append(prof.Notes, rp.Notes...)
	rp.StartUnixNs = start.UnixNano()
	rp.DurationNs = time.Since(start).Nanoseconds()
	rp.SortTables()
	(&namer{}).final(rp)
	return rp, rp.Validate()
}

// getStatus reads AUDIT_GET from the recording's helper. While the queue
// is over its limit the kernel makes every audit netlink sender sleep up
// to backlog_wait_time; a reading that does not come back in time is noted
// in the profile, not fatal.
func getStatus(ctx context.Context, helper *auditnl.Helper, prof *profile.Profile, when string) (*profile.AuditStatus, error) {
	st, err := helper.Get(ctx)
	if errors.Is(err, auditnl.ErrTimeout) {
		prof.Notes = append(prof.Notes, fmt.Sprintf("audit_%s is missing: AUDIT_GET did not answer in time (the kernel delays audit requests while the backlog is over its limit)", when))
		return nil, nil
	}
	return st, err
}

// namer names what the kernel maps only number: the loaded audit rules
// the (key, syscall) rows came from, and each process's cgroup. Either may
// be unavailable (no CAP_AUDIT_CONTROL, no cgroup2); the profile then says
// so in a note and keeps its numbers. Live snapshots reuse what it looked
// up: the rule list is read again every namerRefresh (from helper, the
// recording's helper process, when it has one; a child process per read
// otherwise, see auditnl.ListRules), the cgroup tree walked again only for
// ids it has not named, and at most every namerRefresh.
type namer struct {
	helper   *auditnl.Helper
	rules    []auditrules.Rule
	rulesErr error
	rulesAt  time.Time
	paths    map[uint64]string
	walkedAt time.Time
	unnamed  map[uint64]bool
}

const namerRefresh = 10 * time.Second

// final names a finished recording's rows with fresh lookups.
func (n *namer) final(prof *profile.Profile) {
	n.rulesAt, n.walkedAt = time.Time{}, time.Time{}
	n.unnamed = nil
	n.name(prof)
}

// live names a snapshot's rows, looking up again only what is stale.
func (n *namer) live(prof *profile.Profile) { n.name(prof) }

func (n *namer) name(prof *profile.Profile) {
	now := time.Now()
	if n.rulesAt.IsZero() || now.Sub(n.rulesAt) >= namerRefresh {
		n.rulesAt = now
		list := auditnl.ListRules
		if n.helper != nil {
			list = n.helper.ListRules
		}
		wire, err := list(context.Background())
		if err == nil {
			n.rules, err = auditrules.Parse(wire)
		}
		n.rulesErr = err
	}
	if n.rulesErr != nil {
		prof.Notes = append(prof.Notes, fmt.Sprintf("rules are not joined to the loaded audit rules: %v", n.rulesErr))
	} else {
		auditrules.Join(prof, n.rules)
	}

	if n.paths == nil {
		n.paths = map[uint64]string{}
	}
	var ids []uint64
	for _, p := range prof.Processes {
		if _, ok := n.paths[p.CgroupID]; !ok && !n.unnamed[p.CgroupID] {
			ids = append(ids, p.CgroupID)
		}
	}
	for _, p := range prof.ByProgram {
		if _, ok := n.paths[p.CgroupID]; !ok && !n.unnamed[p.CgroupID] {
			ids = append(ids, p.CgroupID)
		}
	}
	// A rule's programs are program rows' keys: their ids are among
	// those above, but for rows a live snapshot read at another instant.
	for _, r := range prof.Rules {
		for _, p := range r.Programs {
			if _, ok := n.paths[p.CgroupID]; !ok && !n.unnamed[p.CgroupID] && !slices.Contains(ids, p.CgroupID) {
				ids = append(ids, p.CgroupID)
			}
		}
	}
	if n.walkedAt.IsZero() || now.Sub(n.walkedAt) >= namerRefresh {
		// Ids not found before may belong to cgroups made since.
		for id := range n.unnamed {
			ids = append(ids, id)
		}
		n.unnamed = nil
	}
	if len(ids) > 0 {
		n.walkedAt = now
		found := cgroup.Paths(cgroup.Root, ids)
		if n.unnamed == nil {
			n.unnamed = map[uint64]bool{}
		}
		for _, id := range ids {
			if path, ok := found[id]; ok {
				n.paths[id] = path
			} else {
				n.unnamed[id] = true
			}
		}
	}
	for i := range prof.Processes {
		prof.Processes[i].Cgroup = n.paths[prof.Processes[i].CgroupID]
	}
	for i := range prof.ByProgram {
		prof.ByProgram[i].Cgroup = n.paths[prof.ByProgram[i].CgroupID]
	}
	for i := range prof.Rules {
		for j := range prof.Rules[i].Programs {
			prof.Rules[i].Programs[j].Cgroup = n.paths[prof.Rules[i].Programs[j].CgroupID]
		}
	}
}
