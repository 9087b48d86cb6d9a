package recording

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/procsample"
	"github.com/auditprof/auditprof/internal/profile"
)

// sampleHzEnv asks record to measure the consumer from /proc samples too
// (procsample), at this many samples a second, and to write that beside
// the BPF measurement (profile.ConsumerSampled): an experiment of branch
// consumer-sampling, to compare the two on the same recording.
const sampleHzEnv = "AUDITPROF_CONSUMER_SAMPLE_HZ"

// consumerSampler is the sampler AUDITPROF_CONSUMER_SAMPLE_HZ started
// (none at 0, which measures record's own CPU only: the baseline).
type consumerSampler struct {
	s    *procsample.Sampler
	pid  uint32
	hz   float64
	cpu0 uint64
	err  error
}

// processCPU is this process's time on CPU, all threads: the sampler's
// cost with the runtime's wakeups, less the baseline's.
func processCPU() uint64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return uint64(ru.Utime.Nano() + ru.Stime.Nano())
}

// startSampler starts the sampler on pid when the environment asks for
// it; nil when it does not.
func startSampler(before *profile.AuditStatus) *consumerSampler {
	v := os.Getenv(sampleHzEnv)
	if v == "" {
		return nil
	}
	cs := &consumerSampler{cpu0: processCPU()}
	hz, err := strconv.ParseFloat(v, 64)
	if err != nil || hz < 0 {
		cs.err = fmt.Errorf("parsing %s=%q: want a rate of 0 or more", sampleHzEnv, v)
		return cs
	}
	cs.hz = hz
	if hz == 0 {
		return cs
	}
	if before == nil || before.PID == 0 {
		cs.err = fmt.Errorf("starting the consumer sampler: no auditd registered")
		return cs
	}
	cs.pid = before.PID
	// AUDITPROF_CONSUMER_SAMPLE_SHARED=1: on whatever thread the runtime
	// gives it, as a product would run it; only record's CPU measures it.
	cs.s, cs.err = procsample.Start(procsample.Options{PID: before.PID, Kauditd: procsample.FindKauditd(""), Hz: hz,
		OwnThread: os.Getenv("AUDITPROF_CONSUMER_SAMPLE_SHARED") != "1"})
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
	if cs.s == nil {
		out.ProcessCPUNs = processCPU() - cs.cpu0
		return
	}
	r := cs.s.Stop()
	out.ProcessCPUNs = processCPU() - cs.cpu0
	out.Samples, out.Reads, out.SamplerCPUNs = r.Stats.Samples, r.Stats.Reads, r.Stats.SamplerCPUNs
	out.WatchedNs, out.Threads, out.Kauditd = r.WatchedNs, r.Threads, r.Kauditd
	out.RunningSampledNs, out.KauditdWchans = r.Stats.RunningSampledNs, r.Stats.Wchans
}
