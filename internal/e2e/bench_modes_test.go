package e2e

import (
	"maps"
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
		{"bpftrace-kfunc, floor-fentry", []string{"none", "bpftrace-kfunc", "floor-fentry"}},
		{"floor-kprobe-S3 floor-fentry-S1 fentry", []string{"none", "fentry", "floor-fentry-S1", "floor-kprobe-S3"}},
		{"kprobe floor-kprobe-S0 floor-fentry-S5", []string{"none", "floor-fentry-S5", "floor-kprobe-S0", "kprobe"}},
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

// TestBenchFamily: a floor set's mode counts its family's records.
func TestBenchFamily(t *testing.T) {
	for m, want := range map[string]string{"floor-fentry": "fentry", "floor-kprobe-S2": "kprobe", "bpftrace-kfunc": "fentry", "kprobe": "kprobe"} {
		if got := benchFamily(m); got != want {
			t.Errorf("benchFamily(%q) = %q, want %q", m, got, want)
		}
	}
}

// TestBenchSelectedLoads: AUDITPROF_BENCH_LOADS and AUDITPROF_BENCH_ROUNDS
// pick BenchmarkOverhead's loads and rounds (no VM).
func TestBenchSelectedLoads(t *testing.T) {
	for _, c := range []struct {
		loads, rounds string
		want          []string
		wantRounds    map[string]int
	}{
		{"", "", benchLoads, benchRounds},
		{"open", "3", []string{"open"}, map[string]int{"open": 3, "pipe": 0}},
		{"pipe,open", "", benchLoads, benchRounds},
	} {
		t.Setenv(benchLoadsEnv, c.loads)
		t.Setenv(benchRoundsEnv, c.rounds)
		got, rounds, err := benchSelectedLoads()
		if err != nil || !slices.Equal(got, c.want) || !maps.Equal(rounds, c.wantRounds) {
			t.Errorf("%q %q: %v %v %v; want %v %v", c.loads, c.rounds, got, rounds, err, c.want, c.wantRounds)
		}
	}
	t.Setenv(benchLoadsEnv, "opens")
	if _, _, err := benchSelectedLoads(); err == nil {
		t.Error("an unknown load was taken")
	}
	t.Setenv(benchLoadsEnv, "")
	t.Setenv(benchRoundsEnv, "0")
	if _, _, err := benchSelectedLoads(); err == nil {
		t.Error("0 rounds were taken")
	}
}
