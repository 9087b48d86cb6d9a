package procsample

import (
	"os/exec"
	"testing"
	"time"
)

// BenchmarkSample is one sample of a sleeping process's thread and of
// kauditd (when found), on this machine's /proc: the sampler's cost less
// its timer.
func BenchmarkSample(b *testing.B) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		b.Skip(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(50 * time.Millisecond)
	s := newSampler(Options{PID: uint32(cmd.Process.Pid), Kauditd: FindKauditd("")})
	s.begin(s.now())
	defer s.close()
	b.ResetTimer()
	for b.Loop() {
		s.sample(s.now())
	}
	b.ReportMetric(float64(s.stats.Reads)/float64(s.stats.Samples), "reads/sample")
	b.ReportMetric(float64(len(s.threads)), "threads")
}

// BenchmarkRun is the sampler as record runs it, for a second at 100 Hz:
// its thread's time on CPU a sample, the timer's wakeups included.
func BenchmarkRun(b *testing.B) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		b.Skip(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(50 * time.Millisecond)
	var cpu, samples uint64
	for b.Loop() {
		s, err := Start(Options{PID: uint32(cmd.Process.Pid), Kauditd: FindKauditd(""), Hz: 100, OwnThread: true})
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		r := s.Stop()
		cpu += r.Stats.SamplerCPUNs
		samples += r.Stats.Samples
	}
	b.ReportMetric(float64(cpu)/float64(samples), "cpu-ns/sample")
	b.ReportMetric(float64(samples)/float64(b.N), "samples/s")
}
