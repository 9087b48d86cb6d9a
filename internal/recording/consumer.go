package recording

import (
	"context"
	"fmt"
	"time"

	"github.com/auditprof/auditprof/internal/auditdconf"
	"github.com/auditprof/auditprof/internal/auditnl"
	"github.com/auditprof/auditprof/internal/consumer"
	"github.com/auditprof/auditprof/internal/probe"
	"github.com/auditprof/auditprof/internal/profile"
	"github.com/auditprof/auditprof/internal/recording/netlink"
)

// ConsumerSampleEvery is how often AUDIT_GET is read during a recording
// to follow auditd's pid (a restart registers a new one) and what the
// kernel does not log of the audit settings (settingsTracker: a change
// made while audit is off, enabling it from 0, an auditd gone without
// unregistering), each placed within this interval; the kernel's logged
// changes carry their own time. Each read costs the kernel a thread
// (audit_receive_msg's AUDIT_GET reply goes through audit_send_reply's
// kthread). Read every second (77e8b91), an idle recording slowed the
// guest's unix-socket round trips by 1.06% in one TestOffPath run (6.12,
// kprobe; its bound is 1%): 5 s again. The reads are made by one child
// process (auditnl.Helper: starting a process for each read cost about
// 20 ms of guest time in the test VMs), which the kernel can hold while
// the queue is over its limit, so they run beside the map reads, never in
// their way.
const ConsumerSampleEvery = 5 * time.Second

// auditdConf and auditdPlugins are where auditd's configuration is read;
// variables for tests.
var (
	auditdConf    = auditdconf.DefaultPath
	auditdPlugins = auditdconf.DefaultPlugins
)

// consumerWatch follows auditd during a recording: its pid (AUDIT_GET,
// sampled), its netlink socket's drops at the start, and at the end its
// socket, its configuration and the diagnosis.
type consumerWatch struct {
	pr *probe.Probe
	// source is --consumer; sampler measures auditd and kauditd with
	// source sample (nil otherwise).
	source   string
	sampler  *consumerSampler
	pid      uint32
	first    uint32 // the first auditd seen: its socket's drops are read
	drops0   uint64
	haveDrop bool
	statuses chan polledStatus
	inFlight bool
	helper   *auditnl.Helper
	cancel   context.CancelFunc
	ctx      context.Context
	err      error
}

// newConsumerWatch follows auditd from before's pid on; it reads AUDIT_GET
// from helper, the recording's, which its caller closes.
func newConsumerWatch(pr *probe.Probe, helper *auditnl.Helper, before *profile.AuditStatus, source string, hz float64) *consumerWatch {
	ctx, cancel := context.WithCancel(context.Background())
	if source == "" {
		source = ConsumerSample
	}
	cw := &consumerWatch{pr: pr, source: source, statuses: make(chan polledStatus, 1), ctx: ctx, cancel: cancel,
		helper: helper}
	var pid uint32
	if before != nil {
		pid = before.PID
		cw.err = cw.set(pid)
	}
	if source == ConsumerSample {
		cw.sampler = newConsumerSampler(procRoot, hz, pid)
	}
	return cw
}

// set points the programs at pid, and reads its socket's drops when it is
// the first auditd seen.
func (cw *consumerWatch) set(pid uint32) error {
	cw.inFlight = false
	if pid == cw.pid {
		return nil
	}
	if err := cw.pr.SetConsumer(pid); err != nil {
		return err
	}
	cw.sampler.follow(pid)
	if cw.pid == 0 && pid != 0 {
		// auditd's socket is its first netlink socket: autobind gives it
		// the tgid as portid (netlink_autobind).
		if s, err := netlink.AuditSocket(pid); err == nil {
			cw.drops0, cw.haveDrop = s.Drops, true
		}
		cw.first = pid
	}
	cw.pid = pid
	return nil
}

// polledStatus is an AUDIT_GET reply read during the recording, when it
// was asked for (sentNs) and when it came (ns), both CLOCK_MONOTONIC; st
// is nil where the read failed.
type polledStatus struct {
	st         *profile.AuditStatus
	sentNs, ns int64
}

// pid is the registered auditd the reply names, cw's where it failed.
func (p polledStatus) pid(cw *consumerWatch) uint32 {
	if p.st == nil {
		return cw.pid
	}
	return p.st.PID
}

// sample reads AUDIT_GET in the background; the reply arrives on
// cw.statuses.
func (cw *consumerWatch) sample() {
	if cw.inFlight {
		return
	}
	cw.inFlight = true
	go func() {
		sent, serr := monoNow()
		st, err := cw.helper.Get(cw.ctx)
		ns, cerr := monoNow()
		if err != nil || serr != nil || cerr != nil {
			st = nil
		}
		select {
		case cw.statuses <- polledStatus{st: st, sentNs: sent, ns: ns}:
		case <-cw.ctx.Done():
		}
	}()
}

// stop ends a sample in flight; the helper is the recording's, not
// closed here (its after read comes later).
func (cw *consumerWatch) stop() { cw.cancel() }

// stopMeasuring stops the sampler, where the programs stop counting.
func (cw *consumerWatch) stopMeasuring() { cw.sampler.stop() }

// measured puts what the source measured into c (the programs filled the
// rest): the sampler's threads and kauditd's time, or with source off a
// note. snapshot: the measurement so far, sampling going on.
func (cw *consumerWatch) measured(c *profile.Consumer, snapshot bool) {
	if c == nil {
		return
	}
	switch cw.source {
	case ConsumerSample:
		if snapshot {
			cw.sampler.snapshot(c)
		} else {
			cw.sampler.fill(c)
		}
	case ConsumerOff:
		c.Source = ConsumerOff
		c.Notes = append(c.Notes, "auditd's threads and kauditd's time were not measured (--consumer off)")
	}
}

// final adds what the maps do not hold to prof.Consumer: the socket, the
// configuration, the diagnosis.
func (cw *consumerWatch) final(prof *profile.Profile) {
	c := prof.Consumer
	if c == nil {
		return
	}
	cw.measured(c, false)
	if cw.err != nil {
		c.Notes = append(c.Notes, fmt.Sprintf("auditd's pid was not set: %v", cw.err))
	}
	if c.PID != 0 {
		portid := cw.pr.ConsumerPortid()
		if portid == 0 {
			portid = c.PID
		}
		s, err := netlink.AuditSocket(portid)
		switch {
		case err != nil:
			c.Notes = append(c.Notes, fmt.Sprintf("auditd's socket: %v", err))
		default:
			c.Socket = &profile.ConsumerSocket{Portid: portid, RmemBytes: s.Rmem}
			if cw.haveDrop && c.PID == cw.first && s.Drops >= cw.drops0 {
				c.Socket.Drops = s.Drops - cw.drops0
			}
		}
		c.Config = auditdconf.Read(auditdConf, auditdPlugins)
	}
	c.Diagnosis = consumer.Diagnose(c, consumer.Overload{Lost: prof.Totals.Lost, Waits: prof.Totals.Waits})
}
