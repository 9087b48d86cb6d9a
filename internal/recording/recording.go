// Package recording runs one recording: it reads the kernel's audit
// status, attaches the BPF probe (or falls back to netlink where nothing
// can attach), counts until told to stop, detaches and returns the profile.
package recording

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/auditrules"
	"github.com/auditprof/auditprof/internal/cgroup"
	"github.com/auditprof/auditprof/internal/kernel"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/readlog"
)

// Options configure Run.
type Options struct {
	// Duration stops the recording; zero records until ctx is cancelled.
	Duration time.Duration
	Attach   probe.Mode
	BucketNs uint64
	// Ready is called once, when counting has started.
	Ready func(attach string) error
	// Degraded is called once, with one line, when BPF cannot attach and
	// the recording falls back to netlink.
	Degraded func(line string)
	// Progress is called about once a second.
	Progress func(Progress)
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
	if opts.BucketNs == 0 {
		opts.BucketNs = 10_000_000
	}
	prof := &profile.Profile{SchemaVersion: profile.SchemaVersion}
	release, err := kernel.Release()
	if err != nil {
		return nil, err
	}
	prof.KernelRelease = release

	hzDone := make(chan error, 1)
	go func() {
		hz, err := kernel.MeasureHZ(context.Background())
		if err == nil {
			prof.HZ, prof.HZSource = hz.Value, hz.Source
		}
		hzDone <- err
	}()
	waitHZ := func() error {
		if err := <-hzDone; err != nil {
			return fmt.Errorf("measuring HZ: %w", err)
		}
		return nil
	}

	pr, err := probe.Open(probe.Options{Mode: opts.Attach, BucketNs: opts.BucketNs})
	if errors.Is(err, probe.ErrNoAttach) && opts.Attach == probe.ModeAuto {
		if opts.Degraded != nil {
			opts.Degraded(fmt.Sprintf("%v; recording what netlink offers instead (attach=netlink: records delivered to kauditd, AUDIT_GET samples; no waits, no per-process drops)", err))
		}
		if err := waitHZ(); err != nil {
			return nil, err
		}
		return runNetlink(ctx, opts, prof)
	}
	if err != nil {
		<-hzDone
		return nil, err
	}
	defer pr.Close()
	if err := waitHZ(); err != nil {
		return nil, err
	}

	// AUDIT_GET is read after attaching and again right after detaching,
	// so that the kernel's counters and ours cover the same interval.
	before, err := getStatus(ctx, prof, "before")
	if err != nil {
		return nil, err
	}
	prof.AuditBefore = before
	start := time.Now()
	prof.StartUnixNs = start.UnixNano()
	if opts.Ready != nil {
		if err := opts.Ready(string(pr.Mode())); err != nil {
			return nil, err
		}
	}

	if err := count(ctx, opts, start, pr); err != nil {
		return nil, err
	}
	if err := pr.Detach(); err != nil {
		return nil, err
	}
	prof.DurationNs = time.Since(start).Nanoseconds()
	after, err := getStatus(context.Background(), prof, "after")
	if err != nil {
		return nil, err
	}
	prof.AuditAfter = after
	if err := pr.Fill(prof); err != nil {
		return nil, err
	}
	if err := pr.Close(); err != nil {
		return nil, err
	}
	attribute(prof)
	return prof, prof.Validate()
}

func count(ctx context.Context, opts Options, start time.Time, pr *probe.Probe) error {
	var stop <-chan time.Time
	if opts.Duration > 0 {
		t := time.NewTimer(opts.Duration)
		defer t.Stop()
		stop = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-stop:
			return nil
		case <-tick.C:
			if err := pr.PollTimeline(); err != nil {
				return err
			}
			if opts.Progress != nil {
				t, err := pr.Totals()
				if err != nil {
					return err
				}
				opts.Progress(Progress{Elapsed: time.Since(start), Records: t.Records, Queued: t.Queued,
					Lost: t.Lost, Waits: t.Waits, MaxDepth: t.MaxDepth})
			}
		}
	}
}

func runNetlink(ctx context.Context, opts Options, prof *profile.Profile) (*profile.Profile, error) {
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	start := time.Now()
	ready := opts.Ready
	rp, err := readlog.Record(ctx, readlog.Options{
		BucketNs: int64(opts.BucketNs),
		Started: func() error {
			if ready != nil {
				return ready(profile.AttachNetlink)
			}
			return nil
		},
		Progress: func(p readlog.Progress) {
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
	rp.HZ, rp.HZSource = prof.HZ, prof.HZSource
	rp.StartUnixNs = start.UnixNano()
	rp.DurationNs = time.Since(start).Nanoseconds()
	rp.SortTables()
	attribute(rp)
	return rp, rp.Validate()
}

// getStatus reads AUDIT_GET. While the queue is over its limit the kernel
// makes every audit netlink sender sleep up to backlog_wait_time; a reading
// that does not come back in time is noted in the profile, not fatal.
func getStatus(ctx context.Context, prof *profile.Profile, when string) (*profile.AuditStatus, error) {
	st, err := auditnl.Get(ctx)
	if errors.Is(err, auditnl.ErrTimeout) {
		prof.Notes = append(prof.Notes, fmt.Sprintf("audit_%s is missing: AUDIT_GET did not answer in time (the kernel delays audit requests while the backlog is over its limit)", when))
		return nil, nil
	}
	return st, err
}

// attribute names what the kernel maps only number: the loaded audit rules
// the (key, syscall) rows came from, and each process's cgroup. Either may
// be unavailable (no CAP_AUDIT_CONTROL, no cgroup2); the profile then says
// so in a note and keeps its numbers.
func attribute(prof *profile.Profile) {
	wire, err := auditnl.ListRules(context.Background())
	if err == nil {
		var rules []auditrules.Rule
		if rules, err = auditrules.Parse(wire); err == nil {
			auditrules.Join(prof, rules)
		}
	}
	if err != nil {
		prof.Notes = append(prof.Notes, fmt.Sprintf("rules are not joined to the loaded audit rules: %v", err))
	}

	ids := make([]uint64, 0, len(prof.Processes))
	for _, p := range prof.Processes {
		ids = append(ids, p.CgroupID)
	}
	paths := cgroup.Paths(cgroup.Root, ids)
	for i := range prof.Processes {
		prof.Processes[i].Cgroup = paths[prof.Processes[i].CgroupID]
	}
}
