package e2e

import (
	"slices"
	"testing"
)

// TestBenchSelectedModes: AUDITPROF_BENCH_MODES picks BenchmarkOverhead's
// modes (no VM).
func TestBenchSelectedModes(t *testing.T) {
	for _, c := range []struct {
		env  string
		want []string
	}{
		{"", benchModes},
		{"  ", benchModes},
		{"fentry kprobe", []string{"none", "fentry", "kprobe"}},
		{"kprobe,none,fentry", []string{"none", "fentry", "kprobe"}},
		{"bpftrace-kfunc, floor-fentry", []string{"none", "floor-fentry", "bpftrace-kfunc"}},
	} {
		t.Setenv(benchModesEnv, c.env)
		got, err := benchSelectedModes()
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s=%q: %v, %v; want %v", benchModesEnv, c.env, got, err, c.want)
		}
		if a := benchAttachOf(got); c.env == "fentry kprobe" && !slices.Equal(a, benchAttach) {
			t.Errorf("%q: attach modes %v", c.env, a)
		}
	}
	t.Setenv(benchModesEnv, "fentry kprobes")
	if got, err := benchSelectedModes(); err == nil {
		t.Errorf("an unknown mode was taken: %v", got)
	}
}
