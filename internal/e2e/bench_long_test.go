package e2e

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

//go:embed testdata/bench-long.sh
var benchLongSh string

// BenchmarkLongRecording is the long-recording half of make bench (issue
// 14): `record` on an idle guest for LONG guest time (AUDITPROF_BENCH_LONG,
// a Go duration, default 1h; sampled every twelfth of it; record's extra
// flags in AUDITPROF_BENCH_LONG_FLAGS), under icount,
// where idle time costs no instructions and so little wall time. It prints
// auditprof's RSS and CPU against the duration, the profile's bytes per
// hour, and the guest time recommend and report take on it. It fails when
// a sample or a figure is missing; it asserts nothing about size or speed.
func BenchmarkLongRecording(b *testing.B) {
	long := time.Hour
	if s := os.Getenv("AUDITPROF_BENCH_LONG"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 12*time.Second {
			b.Fatalf("AUDITPROF_BENCH_LONG=%q: want a duration of at least 12s", s)
		}
		long = d
	}
	const samples = 12
	dir, files, kernels := guestSetup(b)
	for _, k := range kernels {
		if k.Name != "6.12" {
			continue // one kernel: user space does the same work on both
		}
		b.Run(k.Name, func(b *testing.B) {
			g := runGuest(b, vmtest.Options{Kernel: k, Assets: dir, Files: files,
				Vars: map[string]string{"LONG_SAMPLES": strconv.Itoa(samples),
					"LONG_STEP":    strconv.Itoa(int((long / samples).Seconds())),
					"RECORD_FLAGS": os.Getenv("AUDITPROF_BENCH_LONG_FLAGS")},
				Script: guestScript(benchLongSh), Timeout: 60 * time.Minute})
			reportLong(b, k.Name, g)
		})
	}
}

func reportLong(b *testing.B, kernel string, g guestRun) {
	// cpuNs is record's threads'; childCPUNs its helper process's.
	type sample struct{ now, rssKB, cpuNs, childRSSKB, childCPUNs float64 }
	var s []sample
	sc := bufio.NewScanner(strings.NewReader(g.section("long")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 {
			b.Fatalf("bad sample %q", sc.Text())
		}
		var v [5]float64
		for i := range v {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				b.Fatalf("bad sample %q", sc.Text())
			}
			v[i] = x
		}
		s = append(s, sample{v[0], v[1], v[2], v[3], v[4]})
	}
	if len(s) < 2 {
		b.Fatalf("%d samples", len(s))
	}
	size, err := strconv.ParseFloat(strings.TrimSpace(g.section("size")), 64)
	if err != nil {
		b.Fatalf("profile size: %v", err)
	}
	tools := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(g.section("tools")), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			b.Fatalf("bad tools line %q", line)
		}
		t0, _ := strconv.ParseFloat(f[1], 64)
		t1, _ := strconv.ParseFloat(f[2], 64)
		tools[f[0]] = (t1 - t0) / 1e9
	}
	hours := (s[len(s)-1].now - s[0].now) / 3600e9
	fmt.Printf("\nkernel %s: `record --attach fentry` on an idle guest (an openat rule on /etc/passwd, auditd running), %.2f guest hours, guest time under icount\n", kernel, hours)
	fmt.Printf("    %10s %8s %14s %14s %16s %18s\n", "guest min", "RSS MiB", "CPU % (step)", "CPU % (total)", "helper RSS MiB", "helper CPU % (total)")
	for i, x := range s {
		step, total, child := "-", "-", "-"
		if i > 0 {
			step = fmt.Sprintf("%.3f", 100*(x.cpuNs-s[i-1].cpuNs)/(x.now-s[i-1].now))
			total = fmt.Sprintf("%.3f", 100*(x.cpuNs-s[0].cpuNs)/(x.now-s[0].now))
			child = fmt.Sprintf("%.3f", 100*(x.childCPUNs-s[0].childCPUNs)/(x.now-s[0].now))
		}
		fmt.Printf("    %10.1f %8.1f %14s %14s %16.1f %18s\n", (x.now-s[0].now)/60e9, x.rssKB/1024, step, total, x.childRSSKB/1024, child)
	}
	last := s[len(s)-1]
	cpu := 100 * (last.cpuNs - s[0].cpuNs) / (last.now - s[0].now)
	childCPU := 100 * (last.childCPUNs - s[0].childCPUNs) / (last.now - s[0].now)
	fmt.Printf("    profile %.0f bytes (%.0f bytes per hour); recommend %.2f guest s, report %.2f guest s\n",
		size, size/hours, tools["recommend"], tools["report"])
	b.ReportMetric(cpu, "cpu-%")
	b.ReportMetric(childCPU, "helper-cpu-%")
	b.ReportMetric(s[len(s)-1].rssKB/1024, "rss-MiB-end")
	b.ReportMetric(last.childRSSKB/1024, "helper-rss-MiB-end")
	b.ReportMetric(size/hours, "profile-bytes/hour")
	b.ReportMetric(tools["recommend"], "recommend-s")
	b.ReportMetric(tools["report"], "report-s")
}
