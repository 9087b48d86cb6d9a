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

// HZ sources, most trustworthy first: MeasureHZ tries them in this order.
const (
	// HZSourceOverride: the AUDITPROF_HZ environment variable, set by the
	// operator where nothing else gives the right answer.
	HZSourceOverride = "AUDITPROF_HZ"
	// HZSourceConfig: CONFIG_HZ from the kernel's build configuration,
	// which is what the running kernel ticks at.
	HZSourceConfig = "config"
	// HZSourceSinceBoot: from one read of /proc/timer_list, the only
	// candidate whose count of jiffies since boot (jiffies starts at
	// INITIAL_JIFFIES) matches the monotonic clock. Independent of timing.
	HZSourceSinceBoot = "jiffies_since_boot"
	// HZSourceMeasured: jiffies per second between two reads of
	// /proc/timer_list, taken as the nearest candidate. A busy machine can
	// skew it; HZ.Note says when it was far from every candidate.
	HZSourceMeasured = "measured"
)

// HZEnv names the environment variable that sets HZ when it cannot be
// found or was found wrong (HZ.Note says so).
const HZEnv = "AUDITPROF_HZ"

// ErrHZEnv marks an AUDITPROF_HZ that is not a tick rate: a mistake of
// the operator's, not of the kernel.
var ErrHZEnv = errors.New("invalid " + HZEnv)

// HZ is the kernel's tick rate. The audit subsystem counts backlog_wait_time
// and backlog_wait_time_actual in jiffies of this rate, so the same
// configured number means 60 s at HZ=1000 and 600 s at HZ=100.
type HZ struct {
	// Value is the tick rate in Hz.
	Value int
	// Measured is the rate seen between two reads of /proc/timer_list, in
	// jiffies per second, before rounding to Value. It is 0 unless Source
	// is HZSourceMeasured.
	Measured float64
	// Source is one of the HZSource constants.
	Source string
	// Note, when not empty, says in one line why Value may be wrong and
	// what to do about it. Recordings keep it in their notes.
	Note string
}

// The tick rates Linux offers through Kconfig (kernel/Kconfig.hz). A
// measurement is rounded to the nearest of these.
var hzCandidates = []int{100, 250, 300, 1000}

const (
	// hzSampleInterval is the time between the two timer_list reads. One
	// jiffy of quantisation over 200 ms is 5% at HZ=100 and 0.5% at
	// HZ=1000, well inside hzTolerance, and 250 and 300 stay apart.
	hzSampleInterval = 200 * time.Millisecond
	// hzTolerance is how far from its candidate a measurement may be
	// before HZ.Note says it may be wrong.
	hzTolerance = 0.10
	// sinceBootMatch and sinceBootOthers: the since-boot method takes a
	// candidate whose offset from the monotonic clock is within
	// sinceBootMatch only when every other candidate is further off than
	// sinceBootOthers. The right one is off by the time from the start of
	// the monotonic clock to the first tick (well under a second on the
	// kernels tested: -0.26 s on 6.18); a wrong one by
	// (trueHZ/candidate - 1) * (uptime - 300 s), at least uptime-300 s
	// over 6 for 250 against 300.
	sinceBootMatch  = 5.0  // seconds
	sinceBootOthers = 30.0 // seconds
)

// Paths, variables so tests can point them at files that do not exist to
// exercise the fallback on this machine.
var (
	timerListPath = "/proc/timer_list"
	configPaths   = func(release string) []string {
		return []string{"/proc/config.gz", "/boot/config-" + release}
	}
)

// MeasureHZ finds the kernel's tick rate, from the first of these sources
// that answers:
//
//  1. AUDITPROF_HZ, when set: the operator's word (an invalid value is an
//     error wrapping ErrHZEnv, not a fallback).
//  2. CONFIG_HZ from /proc/config.gz or /boot/config-$(uname -r).
//  3. One read of /proc/timer_list (see hzSinceBoot): which candidate's
//     count of jiffies since boot matches the monotonic clock.
//  4. A second read hzSampleInterval after the first: jiffies per second,
//     taken as the nearest of 100, 250, 300 and 1000 however far it is
//     (a busy guest has shown 224.2; an arm64 board 194.8), with a Note
//     when it is more than hzTolerance off.
//
// /proc/timer_list is mode 0400 (root) and prints `jiffies:` only on
// kernels with CONFIG_TICK_ONESHOT (kernel/time/timer_list.c). Only when
// no source can be read at all is there an error, saying what to do.
//
// It never uses sysconf(_SC_CLK_TCK): that is USER_HZ, the unit of
// /proc/<pid>/stat times (100 on every Linux), not the kernel's tick.
func MeasureHZ(ctx context.Context) (HZ, error) {
	release, err := Release()
	if err != nil {
		return HZ{}, fmt.Errorf("finding kernel HZ: %w", err)
	}
	return findHZ(ctx, hzSources{
		env:         os.Getenv(HZEnv),
		configPaths: configPaths(release),
		readTimerList: func() (timerSample, error) {
			return readTimerList(timerListPath)
		},
		interval: hzSampleInterval,
		release:  release,
	})
}

// hzSources is where findHZ looks, replaced in tests.
type hzSources struct {
	env           string
	configPaths   []string
	readTimerList func() (timerSample, error)
	interval      time.Duration
	release       string
}

func findHZ(ctx context.Context, src hzSources) (HZ, error) {
	if src.env != "" {
		v, err := strconv.Atoi(strings.TrimSpace(src.env))
		if err != nil || v <= 0 || v > 100000 {
			return HZ{}, fmt.Errorf("%w=%q: set it to this kernel's CONFIG_HZ (100, 250, 300 or 1000), or unset it", ErrHZEnv, src.env)
		}
		return HZ{Value: v, Source: HZSourceOverride}, nil
	}
	v, cErr := configHZ(src.configPaths)
	if cErr == nil {
		return HZ{Value: v, Source: HZSourceConfig}, nil
	}
	a, tErr := src.readTimerList()
	if tErr == nil {
		if v, ok := hzSinceBoot(a); ok {
			return HZ{Value: v, Source: HZSourceSinceBoot}, nil
		}
		var hz HZ
		hz, tErr = measureHZ(ctx, a, src)
		if tErr == nil {
			return hz, nil
		}
		if err := ctx.Err(); err != nil {
			return HZ{}, fmt.Errorf("finding kernel HZ: %w", err)
		}
	}
	return HZ{}, fmt.Errorf("finding kernel HZ: %w; %w: run as root (/proc/timer_list is readable by root only), install this kernel's config as /boot/config-%s, or set %s to its CONFIG_HZ",
		cErr, tErr, src.release, HZEnv)
}

// initialJiffies is the kernel's INITIAL_JIFFIES at tick rate hz
// (include/linux/jiffies.h): ((unsigned long)(unsigned int)(-300*HZ)), so
// that jiffies wraps 300 s after boot on 32-bit kernels and bugs at the
// wrap show early. On 64-bit kernels jiffies starts at 2^32 - 300*HZ and
// never wraps.
func initialJiffies(hz int) uint64 { return 1<<32 - 300*uint64(hz) }

// hzSinceBoot finds HZ from one timer_list sample. The kernel sets jiffies
// to INITIAL_JIFFIES at boot and, once the tick runs, advances it from the
// monotonic clock (tick_do_update_jiffies64 counts whole tick periods of
// ktime_get()), which is what "now at N nsecs" prints: neither counts
// suspend. So for the true HZ, (jiffies - INITIAL_JIFFIES)/HZ is the
// monotonic time give or take the moment the tick started, while for a
// wrong candidate c it is off by about (HZ/c - 1) * (uptime - 300 s),
// because INITIAL_JIFFIES itself depends on HZ. It answers only when one
// candidate fits and every other is far off; near uptime 300 s, where all
// candidates fit, it does not.
//
// A 32-bit kernel's jiffies is 32 bits and wraps (timer_list prints the
// unsigned long): from a value below 2^32 only the elapsed count modulo
// 2^32 is known, so each candidate is given the number of wraps that
// brings it nearest the monotonic clock. That can only make wrong
// candidates fit better, so it can only make this answer less often.
func hzSinceBoot(s timerSample) (int, bool) {
	if s.nowNs < 0 {
		return 0, false
	}
	uptime := float64(s.nowNs) / 1e9
	match, matches, near := 0, 0, 0
	for _, c := range hzCandidates {
		var ticks float64
		if s.jiffies >= 1<<32 {
			// Only a 64-bit kernel gets here, past 300 s: no wrap.
			ticks = float64(s.jiffies - initialJiffies(c))
		} else {
			mod := float64((s.jiffies - initialJiffies(c)) & (1<<32 - 1))
			wraps := math.Round((uptime*float64(c) - mod) / (1 << 32))
			ticks = mod + wraps*(1<<32)
		}
		off := math.Abs(ticks/float64(c) - uptime)
		switch {
		case off < sinceBootMatch:
			match, matches = c, matches+1
		case off <= sinceBootOthers:
			near++
		}
	}
	if matches != 1 || near != 0 {
		return 0, false
	}
	return match, true
}

// measureHZ reads timer_list a second time, src.interval after sample a,
// and takes the nearest candidate to the rate, whatever it is.
func measureHZ(ctx context.Context, a timerSample, src hzSources) (HZ, error) {
	t := time.NewTimer(src.interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return HZ{}, ctx.Err()
	case <-t.C:
	}
	b, err := src.readTimerList()
	if err != nil {
		return HZ{}, err
	}
	rate, err := jiffiesRate(a, b)
	if err != nil {
		return HZ{}, fmt.Errorf("measuring jiffies per second: %w", err)
	}
	v, dist := nearestHZ(rate)
	hz := HZ{Value: v, Measured: rate, Source: HZSourceMeasured}
	if dist > hzTolerance {
		hz.Note = fmt.Sprintf("HZ measured as %.1f jiffies/s, %.1f%% from %d: taken as %d; wait times in seconds depend on it, so if this kernel's CONFIG_HZ is another, set %s to it and run again",
			rate, dist*100, v, v, HZEnv)
	}
	return hz, nil
}

// timerSample is what one read of /proc/timer_list tells.
type timerSample struct {
	nowNs   int64  // "now at N nsecs": ktime_get() when the read started
	jiffies uint64 // the first "jiffies: N" line
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

// nearestHZ returns the candidate closest to rate and the relative
// distance to it (|rate-c|/c).
func nearestHZ(rate float64) (int, float64) {
	best, bestDist := hzCandidates[0], math.Inf(1)
	for _, c := range hzCandidates {
		d := math.Abs(rate-float64(c)) / float64(c)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, bestDist
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
