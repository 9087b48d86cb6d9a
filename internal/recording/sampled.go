package recording

import (
	"fmt"
	"os"
	"strconv"

	"github.com/auditprof/auditprof/internal/procsample"
	"github.com/auditprof/auditprof/internal/profile"
)

// sampleHzEnv asks record to measure the consumer from /proc samples too
// (procsample), at this many samples a second, and to write that beside
// the BPF measurement (profile.ConsumerSampled): an experiment of branch
// consumer-sampling, to compare the two on the same recording.
const sampleHzEnv = "AUDITPROF_CONSUMER_SAMPLE_HZ"

// consumerSampler is the sampler AUDITPROF_CONSUMER_SAMPLE_HZ started.
type consumerSampler struct {
	s   *procsample.Sampler
	pid uint32
	hz  float64
	err error
}

// startSampler starts the sampler on pid when the environment asks for
// it; nil when it does not.
func startSampler(before *profile.AuditStatus) *consumerSampler {
	v := os.Getenv(sampleHzEnv)
	if v == "" {
		return nil
	}
	cs := &consumerSampler{}
	hz, err := strconv.ParseFloat(v, 64)
	if err != nil || hz <= 0 {
		cs.err = fmt.Errorf("parsing %s=%q: want a rate above 0", sampleHzEnv, v)
		return cs
	}
	cs.hz = hz
	if before == nil || before.PID == 0 {
		cs.err = fmt.Errorf("starting the consumer sampler: no auditd registered")
		return cs
	}
	cs.pid = before.PID
	cs.s, cs.err = procsample.Start(procsample.Options{PID: before.PID, Kauditd: procsample.FindKauditd(""), Hz: hz})
	return cs
}

// stop ends the sampling; its result goes into prof.
func (cs *consumerSampler) stop(prof *profile.Profile) {
	if cs == nil {
		return
	}
	out := &profile.ConsumerSampled{PID: cs.pid, Hz: cs.hz}
	prof.ConsumerSampled = out
	if cs.err != nil {
		out.Error = cs.err.Error()
		return
	}
	r := cs.s.Stop()
	out.Samples, out.Reads, out.SamplerCPUNs = r.Stats.Samples, r.Stats.Reads, r.Stats.SamplerCPUNs
	out.WatchedNs, out.Threads, out.Kauditd = r.WatchedNs, r.Threads, r.Kauditd
	out.RunningSampledNs, out.KauditdWchans = r.Stats.RunningSampledNs, r.Stats.Wchans
}
