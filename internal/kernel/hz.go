package kernel

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// HZ sources.
const (
	// HZSourceTimerList: measured from two reads of /proc/timer_list.
	HZSourceTimerList = "timer_list"
	// HZSourceConfig: CONFIG_HZ from the kernel's build configuration, not
	// measured. It is what the kernel was built with, which is what the
	// running kernel uses, but nothing here checked it.
	HZSourceConfig = "config"
)

// HZ is the kernel's tick rate. The audit subsystem counts backlog_wait_time
// and backlog_wait_time_actual in jiffies of this rate, so the same
// configured number means 60 s at HZ=1000 and 600 s at HZ=100.
type HZ struct {
	// Value is the tick rate in Hz.
	Value int
	// Measured is the rate seen in /proc/timer_list, in jiffies per second,
	// before rounding to Value. It is 0 when Source is HZSourceConfig.
	Measured float64
	// Source is HZSourceTimerList or HZSourceConfig.
	Source string
}

// The tick rates Linux offers through Kconfig (kernel/Kconfig.hz). A
// measurement is rounded to the nearest of these.
var hzCandidates = []int{100, 250, 300, 1000}

const (
	// hzSampleInterval is the time between the two timer_list reads. One
	// jiffy of quantisation over 200 ms is 5% at HZ=100 and 0.5% at
	// HZ=1000, well inside hzTolerance, and 250 and 300 stay apart.
	hzSampleInterval = 200 * time.Millisecond
	// hzTolerance is how far from a candidate a measurement may be.
	hzTolerance = 0.10
)

// Paths, variables so tests can point them at files that do not exist to
// exercise the fallback on this machine.
var (
	timerListPath = "/proc/timer_list"
	configPaths   = func(release string) []string {
		return []string{"/proc/config.gz", "/boot/config-" + release}
	}
)

// MeasureHZ finds the kernel's tick rate.
//
// It reads /proc/timer_list twice, hzSampleInterval apart, and divides the
// change of `jiffies:` by the change of `now at ... nsecs` (CLOCK_MONOTONIC,
// printed by the kernel in the same read, so scheduling delays of this
// process do not enter the measurement). The rate is rounded to the
// nearest of 100, 250, 300 and 1000 and rejected if more than 10% off.
// /proc/timer_list is mode 0400 (root) and prints `jiffies:` only on
// kernels with CONFIG_TICK_ONESHOT (kernel/time/timer_list.c).
//
// When the measurement is impossible or ambiguous, it falls back to
// CONFIG_HZ from /proc/config.gz or /boot/config-$(uname -r) with Source
// HZSourceConfig and Measured 0.
//
// It never uses sysconf(_SC_CLK_TCK): that is USER_HZ, the unit of
// /proc/<pid>/stat times (100 on every Linux), not the kernel's tick.
func MeasureHZ(ctx context.Context) (HZ, error) {
	hz, mErr := measureTimerList(ctx, timerListPath, hzSampleInterval)
	if mErr == nil {
		return hz, nil
	}
	if err := ctx.Err(); err != nil {
		return HZ{}, fmt.Errorf("measuring kernel HZ: %w", err)
	}
	release, err := Release()
	if err != nil {
		return HZ{}, fmt.Errorf("measuring kernel HZ: %w", err)
	}
	v, cErr := configHZ(configPaths(release))
	if cErr == nil {
		return HZ{Value: v, Source: HZSourceConfig}, nil
	}
	return HZ{}, fmt.Errorf("measuring kernel HZ: %w; and %w: run as root (/proc/timer_list is readable by root only) or install this kernel's config as /boot/config-%s", mErr, cErr, release)
}

// timerSample is what one read of /proc/timer_list tells.
type timerSample struct {
	nowNs   int64  // "now at N nsecs": ktime_get() when the read started
	jiffies uint64 // the first "jiffies: N" line
}

func measureTimerList(ctx context.Context, path string, interval time.Duration) (HZ, error) {
	a, err := readTimerList(path)
	if err != nil {
		return HZ{}, err
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return HZ{}, ctx.Err()
	case <-t.C:
	}
	b, err := readTimerList(path)
	if err != nil {
		return HZ{}, err
	}
	rate, err := jiffiesRate(a, b)
	if err != nil {
		return HZ{}, fmt.Errorf("reading %s: %w", path, err)
	}
	v, ok := roundHZ(rate)
	if !ok {
		return HZ{}, fmt.Errorf("reading %s: measured %.1f jiffies per second, more than %.0f%% away from 100, 250, 300 and 1000", path, rate, hzTolerance*100)
	}
	return HZ{Value: v, Measured: rate, Source: HZSourceTimerList}, nil
}

func readTimerList(path string) (timerSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return timerSample{}, fmt.Errorf("reading timer list: %w", err)
	}
	defer f.Close()
	// One large read: seq_file then produces the header ("now at") and the
	// first CPU's section ("jiffies:") in the same system call, so the two
	// values are taken microseconds apart.
	s, err := parseTimerList(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return timerSample{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return s, nil
}

// parseTimerList reads up to the first "jiffies:" line and returns it with
// the "now at" line before it.
func parseTimerList(r io.Reader) (timerSample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var s timerSample
	haveNow := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !haveNow && strings.HasPrefix(line, "now at "):
			f := strings.Fields(line)
			if len(f) != 4 || f[3] != "nsecs" {
				return timerSample{}, fmt.Errorf("unexpected line %q", line)
			}
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return timerSample{}, fmt.Errorf("parsing %q: %w", line, err)
			}
			s.nowNs, haveNow = n, true
		case haveNow && strings.HasPrefix(line, "jiffies: "):
			j, err := strconv.ParseUint(strings.TrimSpace(line[len("jiffies: "):]), 10, 64)
			if err != nil {
				return timerSample{}, fmt.Errorf("parsing %q: %w", line, err)
			}
			s.jiffies = j
			return s, nil
		}
	}
	if err := sc.Err(); err != nil {
		return timerSample{}, err
	}
	if !haveNow {
		return timerSample{}, errors.New(`no "now at" line`)
	}
	return timerSample{}, errors.New(`no "jiffies:" line (kernel built without CONFIG_TICK_ONESHOT?)`)
}

// jiffiesRate returns jiffies per second between two samples. jiffies is
// an unsigned long: on 32-bit kernels it wraps at 2^32, five minutes after
// boot (INITIAL_JIFFIES), so one wrap is allowed.
func jiffiesRate(a, b timerSample) (float64, error) {
	dt := b.nowNs - a.nowNs
	if dt <= 0 {
		return 0, fmt.Errorf("clock did not advance between samples (%d ns then %d ns)", a.nowNs, b.nowNs)
	}
	var dj uint64
	switch {
	case b.jiffies >= a.jiffies:
		dj = b.jiffies - a.jiffies
	case a.jiffies <= math.MaxUint32:
		dj = b.jiffies + (1 << 32) - a.jiffies
	default:
		return 0, fmt.Errorf("jiffies went back from %d to %d", a.jiffies, b.jiffies)
	}
	if dj == 0 {
		return 0, errors.New("jiffies did not advance between samples")
	}
	return float64(dj) / (float64(dt) / 1e9), nil
}

// roundHZ returns the candidate closest to rate (relative distance) and
// whether it is within hzTolerance.
func roundHZ(rate float64) (int, bool) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return 0, false
	}
	best, bestDist := 0, math.Inf(1)
	for _, c := range hzCandidates {
		d := math.Abs(rate-float64(c)) / float64(c)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist > hzTolerance {
		return 0, false
	}
	return best, true
}

// configHZ returns CONFIG_HZ from the first readable config file.
func configHZ(paths []string) (int, error) {
	var errs []string
	for _, p := range paths {
		v, err := readConfigHZ(p)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err.Error())
	}
	return 0, fmt.Errorf("reading CONFIG_HZ: %s", strings.Join(errs, "; "))
}

func readConfigHZ(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	v, err := parseConfigHZ(r)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// parseConfigHZ finds the CONFIG_HZ=N line of a kernel config.
func parseConfigHZ(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 || n > 100000 {
			return 0, fmt.Errorf("invalid CONFIG_HZ=%s", v)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CONFIG_HZ line")
}
