package recording

import (
	"fmt"

	"github.com/auditprof/auditprof/internal/procsample"
	"github.com/auditprof/auditprof/internal/profile"
)

// How record measures auditd's threads and kauditd (--consumer).
const (
	// ConsumerSample samples /proc (procsample): the default.
	ConsumerSample = profile.ConsumerSourceSample
	// ConsumerSchedSwitch loads the consumer_sched_switch program, which
	// runs on every context switch of the machine.
	ConsumerSchedSwitch = profile.ConsumerSourceSchedSwitch
	// ConsumerOff measures neither: Consumer keeps what the programs on
	// kauditd's path count.
	ConsumerOff = profile.ConsumerSourceOff
)

// ConsumerSources are --consumer's values.
var ConsumerSources = []string{ConsumerSample, ConsumerSchedSwitch, ConsumerOff}

// procRoot is where the sampler reads procfs; a variable for tests.
var procRoot = "/proc"

// consumerSampler measures the consumer from /proc (--consumer sample):
// one procsample.Sampler on the current auditd and kauditd. When auditd's
// pid changes (a restart) the sampler on the old one stops and one on the
// new one starts: Threads are the current auditd's, as the sched_switch
// program's are, and kauditd's time adds up over all of them.
type consumerSampler struct {
	root    string
	hz      float64
	kauditd uint32
	cur     *procsample.Sampler
	pid     uint32
	// kauditd's time and the samples of the samplers stopped so far, and
	// the last one stopped on an auditd: its threads stand when auditd
	// is gone (pid 0) and the profile names it still.
	prevKauditd profile.Kauditd
	prevSamples uint64
	prevPID     uint32
	prev        *procsample.Result
	// errs say why the consumer was not (or not all along) measured;
	// disabled: schedstat does not work here, nothing is sampled.
	errs     []error
	disabled bool
	// final is the result at stop.
	final    *procsample.Result
	finalSet bool
}

// newConsumerSampler checks that schedstat works and starts sampling pid
// (0: no auditd registered, kauditd alone).
func newConsumerSampler(root string, hz float64, pid uint32) *consumerSampler {
	cs := &consumerSampler{root: root, hz: hz}
	if err := procsample.CheckSchedStat(root); err != nil {
		cs.errs, cs.disabled = append(cs.errs, err), true
		return cs
	}
	cs.kauditd = procsample.FindKauditd(root)
	cs.start(pid)
	return cs
}

func (cs *consumerSampler) start(pid uint32) {
	cs.pid = pid
	if pid == 0 && cs.kauditd == 0 {
		return // nothing to watch yet
	}
	s, err := procsample.Start(procsample.Options{Root: cs.root, PID: pid, Kauditd: cs.kauditd, Hz: cs.hz})
	if err != nil {
		cs.errs = append(cs.errs, err)
		return
	}
	cs.cur = s
}

// follow moves the sampler to auditd's new pid.
func (cs *consumerSampler) follow(pid uint32) {
	if cs == nil || cs.disabled || pid == cs.pid || cs.finalSet {
		return
	}
	if cs.cur != nil {
		r := cs.cur.Stop()
		cs.add(r)
		if cs.pid != 0 {
			cs.prevPID, cs.prev = cs.pid, &r
		}
		cs.cur = nil
	}
	cs.start(pid)
}

// add keeps a stopped sampler's kauditd time and samples.
func (cs *consumerSampler) add(r procsample.Result) {
	cs.prevSamples += r.Stats.Samples
	if k := r.Kauditd; k != nil {
		cs.prevKauditd.PID = k.PID
		cs.prevKauditd.OnCPUNs += k.OnCPUNs
		cs.prevKauditd.RunnableNs += k.RunnableNs
		cs.prevKauditd.SendBlockedNs += k.SendBlockedNs
		cs.prevKauditd.IdleNs += k.IdleNs
	}
}

// stop ends the sampling, where the programs stop counting.
func (cs *consumerSampler) stop() {
	if cs == nil || cs.finalSet {
		return
	}
	cs.finalSet = true
	if cs.cur != nil {
		r := cs.cur.Stop()
		cs.final = &r
		cs.cur = nil
	}
}

// fill puts the final measurement into c.
func (cs *consumerSampler) fill(c *profile.Consumer) {
	if cs == nil || c == nil {
		return
	}
	cs.stop()
	cs.into(c, cs.final)
}

// snapshot puts the measurement so far into c (a live snapshot).
func (cs *consumerSampler) snapshot(c *profile.Consumer) {
	if cs == nil || c == nil || cs.finalSet {
		return
	}
	var r *procsample.Result
	if cs.cur != nil {
		rr := cs.cur.Snapshot()
		r = &rr
	}
	cs.into(c, r)
}

// into sets c's threads and kauditd's time from r (the current sampler's,
// nil if none runs) and the samplers stopped before it.
func (cs *consumerSampler) into(c *profile.Consumer, r *procsample.Result) {
	c.Source, c.SampleHz = ConsumerSample, cs.hz
	c.Samples = cs.prevSamples
	c.Threads, c.WatchedNs = nil, 0
	k := cs.prevKauditd
	switch {
	case r != nil && cs.pid != 0 && cs.pid == c.PID:
		c.Threads, c.WatchedNs = r.Threads, r.WatchedNs
	case cs.prev != nil && cs.prevPID == c.PID:
		c.Threads, c.WatchedNs = cs.prev.Threads, cs.prev.WatchedNs
	}
	if r != nil {
		c.Samples += r.Stats.Samples
		if rk := r.Kauditd; rk != nil {
			k.PID = rk.PID
			k.OnCPUNs += rk.OnCPUNs
			k.RunnableNs += rk.RunnableNs
			k.SendBlockedNs += rk.SendBlockedNs
			k.IdleNs += rk.IdleNs
		}
	}
	if k.PID != 0 {
		if c.Kauditd == nil {
			c.Kauditd = &profile.Kauditd{}
		}
		c.Kauditd.PID = k.PID
		c.Kauditd.OnCPUNs, c.Kauditd.RunnableNs = k.OnCPUNs, k.RunnableNs
		c.Kauditd.SendBlockedNs, c.Kauditd.IdleNs = k.SendBlockedNs, k.IdleNs
	}
	for _, err := range cs.errs {
		c.Notes = append(c.Notes, fmt.Sprintf("auditd's and kauditd's time were not measured from /proc: %v; --consumer sched-switch measures them with a BPF program instead", err))
	}
	if !cs.disabled && cs.kauditd == 0 {
		c.Notes = append(c.Notes, "kauditd was not found among kthreadd's children: its time was not measured")
	}
}
