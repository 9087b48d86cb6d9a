package kernel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRelease(t *testing.T) {
	r, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(b)); r != want {
		t.Fatalf("Release() = %q, /proc/sys/kernel/osrelease says %q", r, want)
	}
}

// TestMeasureHZ: on this machine, whichever source answers agrees with the
// kernel's config where there is one.
func TestMeasureHZ(t *testing.T) {
	t.Setenv(HZEnv, "")
	start := time.Now()
	hz, err := MeasureHZ(context.Background())
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("not root and no config: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("HZ %+v in %v", hz, time.Since(start))
	if want, err := configHZ(configPaths(mustRelease(t))); err == nil && (hz.Value != want || hz.Source != HZSourceConfig) {
		t.Fatalf("got %+v, CONFIG_HZ=%d should come first", hz, want)
	}
}

// TestHZSinceBootHere checks the since-boot method's premise on this
// machine's kernel: jiffies counts from INITIAL_JIFFIES in step with the
// monotonic clock, so the method gives CONFIG_HZ or nothing.
func TestHZSinceBootHere(t *testing.T) {
	want, err := configHZ(configPaths(mustRelease(t)))
	if err != nil {
		t.Skipf("no kernel config to compare with: %v", err)
	}
	s, err := readTimerList(timerListPath)
	if err != nil {
		t.Skip(err)
	}
	off := (float64(s.jiffies-initialJiffies(want)) / float64(want)) - float64(s.nowNs)/1e9
	t.Logf("uptime %.1f s, jiffies %d: at CONFIG_HZ=%d the tick started %.3f s off the monotonic clock", float64(s.nowNs)/1e9, s.jiffies, want, off)
	if math.Abs(off) >= sinceBootMatch {
		t.Errorf("offset %.3f s at the true HZ: the since-boot method's premise does not hold on this kernel", off)
	}
	if v, ok := hzSinceBoot(s); ok && v != want {
		t.Fatalf("since boot says %d, CONFIG_HZ=%d", v, want)
	}
}

// timerListText is a minimal /proc/timer_list with what parseTimerList
// reads.
func timerListText(nowNs int64, jiffies uint64) string {
	return fmt.Sprintf("Timer List Version: v0.10\nnow at %d nsecs\n\ncpu: 0\n  .last_jiffies   : %d\njiffies: %d\n", nowNs, jiffies, jiffies)
}

// bootSample is what timer_list says at uptime of a kernel ticking at hz
// whose tick started 0.3 s after the monotonic clock, 64-bit unless bits32.
func bootSample(hz int, uptime time.Duration, bits32 bool) timerSample {
	j := initialJiffies(hz) + uint64((uptime-300*time.Millisecond).Seconds()*float64(hz))
	if bits32 {
		j &= 1<<32 - 1
	}
	return timerSample{nowNs: uptime.Nanoseconds(), jiffies: j}
}

func TestHZSinceBoot(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		sample timerSample
		want   int // 0: must fall through
	}{
		{"250 at 5 s", bootSample(250, 5*time.Second, false), 250},
		{"1000 at 5 s", bootSample(1000, 5*time.Second, false), 1000},
		{"300 at 100 s", bootSample(300, 100*time.Second, false), 300},
		{"250 at 100 s", bootSample(250, 100*time.Second, false), 250},
		{"100 at 100 s", bootSample(100, 100*time.Second, false), 100},
		{"250 at 299 s falls through", bootSample(250, 299*time.Second, false), 0},
		{"1000 at 299 s falls through", bootSample(1000, 299*time.Second, false), 0},
		{"250 at 400 s: 300 is 17 s off, too near", bootSample(250, 400*time.Second, false), 0},
		{"250 at 3 days", bootSample(250, 3*day, false), 250},
		{"300 at 3 days", bootSample(300, 3*day, false), 300},
		{"1000 at 3 days", bootSample(1000, 3*day, false), 1000},
		{"100 at 3 days", bootSample(100, 3*day, false), 100},
		{"a 6.18 kernel's at 418 s: 300 is 19 s off, too near", timerSample{nowNs: 417685403765, jiffies: 4294996652}, 0},
		{"the same kernel's at 525 s: 300 is 37 s off", timerSample{nowNs: 524637703155, jiffies: 4295023390}, 250},
		{"32-bit 250 at 3 days (wrapped once)", bootSample(250, 3*day, true), 250},
		{"32-bit 1000 at 60 days (wrapped twice)", bootSample(1000, 60*day, true), 1000},
		{"32-bit 100 at 5 s (not wrapped)", bootSample(100, 5*time.Second, true), 100},
		{"jiffies unrelated to boot", timerSample{nowNs: int64(3 * day), jiffies: 12345}, 0},
		{"monotonic clock negative", timerSample{nowNs: -1, jiffies: 1 << 33}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := hzSinceBoot(tt.sample)
			if got != tt.want || ok != (tt.want != 0) {
				t.Fatalf("hzSinceBoot(%+v) = %d, %v; want %d", tt.sample, got, ok, tt.want)
			}
		})
	}
}

// TestFindHZ: the sources in order, each with fake files.
func TestFindHZ(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config-6.1")
	if err := os.WriteFile(config, []byte("CONFIG_HZ_300=y\nCONFIG_HZ=300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noConfig := filepath.Join(dir, "nonexistent")
	const sec = int64(time.Second)
	// At uptime 299 s the since-boot method cannot tell, so the second
	// read decides.
	at299 := func(hz int) uint64 { return initialJiffies(hz) + 299*uint64(hz) }
	tests := []struct {
		name    string
		env     string
		config  string
		reads   []string // successive /proc/timer_list contents; none: unreadable
		want    HZ
		wantErr string
	}{
		{"override first", "1000", config, []string{timerListText(5*sec, at299(250))}, HZ{Value: 1000, Source: HZSourceOverride}, ""},
		{"override invalid", "fast", config, nil, HZ{}, "set it to this kernel's CONFIG_HZ"},
		{"config before timer_list", "", config, []string{timerListText(5*sec, initialJiffies(250)+5*250)}, HZ{Value: 300, Source: HZSourceConfig}, ""},
		{"since boot, no config", "", noConfig, []string{timerListText(3600*sec, initialJiffies(250)+3600*250)}, HZ{Value: 250, Source: HZSourceSinceBoot}, ""},
		{"measured when since boot cannot tell", "", noConfig,
			[]string{timerListText(299*sec, at299(250)), timerListText(299*sec+sec/5, at299(250)+50)},
			HZ{Value: 250, Measured: 250, Source: HZSourceMeasured}, ""},
		{"noisy measurement taken as nearest, with a note", "", noConfig,
			[]string{timerListText(299*sec, at299(250)), timerListText(299*sec+10*sec, at299(250)+2242)},
			HZ{Value: 250, Measured: 224.2, Source: HZSourceMeasured,
				Note: "HZ measured as 224.2 jiffies/s, 10.3% from 250: taken as 250; wait times in seconds depend on it, so if this kernel's CONFIG_HZ is another, set AUDITPROF_HZ to it and run again"}, ""},
		{"arm64 board's 194.8 taken as 250", "", noConfig,
			[]string{timerListText(299*sec, at299(250)), timerListText(299*sec+10*sec, at299(250)+1948)},
			HZ{Value: 250, Measured: 194.8, Source: HZSourceMeasured,
				Note: "HZ measured as 194.8 jiffies/s, 22.1% from 250: taken as 250; wait times in seconds depend on it, so if this kernel's CONFIG_HZ is another, set AUDITPROF_HZ to it and run again"}, ""},
		{"no timer_list, no config", "", noConfig, nil, HZ{}, "run as root (/proc/timer_list is readable by root only), install this kernel's config as /boot/config-6.1.0, or set AUDITPROF_HZ to its CONFIG_HZ"},
		{"timer_list without jiffies, no config", "", noConfig, []string{"now at 5 nsecs\n"}, HZ{}, "CONFIG_TICK_ONESHOT"},
		{"jiffies stood still, no config", "", noConfig,
			[]string{timerListText(299*sec, at299(250)), timerListText(299*sec+sec/5, at299(250))}, HZ{}, "jiffies did not advance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := 0
			got, err := findHZ(context.Background(), hzSources{
				env:         tt.env,
				configPaths: []string{noConfig + ".gz", tt.config},
				readTimerList: func() (timerSample, error) {
					if reads >= len(tt.reads) {
						return timerSample{}, fmt.Errorf("reading timer list: %w", os.ErrPermission)
					}
					reads++
					return parseTimerList(strings.NewReader(tt.reads[reads-1]))
				},
				interval: time.Millisecond,
				release:  "6.1.0",
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Measured = math.Round(got.Measured*10) / 10
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMeasureHZInvalidEnv(t *testing.T) {
	t.Setenv(HZEnv, "0")
	if _, err := MeasureHZ(context.Background()); !errors.Is(err, ErrHZEnv) {
		t.Fatalf("got %v, want ErrHZEnv", err)
	}
}

func TestMeasureHZCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	at299 := initialJiffies(250) + 299*250
	_, err := findHZ(ctx, hzSources{
		readTimerList: func() (timerSample, error) { return timerSample{nowNs: 299e9, jiffies: at299}, nil },
		interval:      time.Hour,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func mustRelease(t *testing.T) string {
	t.Helper()
	r, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// An excerpt of this machine's /proc/timer_list (6.18).
const timerListSample = `Timer List Version: v0.10
HRTIMER_MAX_CLOCK_BASES: 8
now at 233963228561 nsecs

cpu: 0
 clock 0:
  .base:       00000000e73d6853
  .index:      0
active timers:
 #0: <00000000d2ee2bf4>, tick_nohz_handler, S:01
 # expires at 233964000000-233964000000 nsecs [in 771439 to 771439 nsecs]
  .expires_next   : 233964000000 nsecs
  .idle_jiffies   : 4294950721
  .last_jiffies   : 4294950723
  .next_timer     : 9223372036854775807
jiffies: 4294950723

cpu: 1
  .last_jiffies   : 4294950724
jiffies: 4294950724
`

func TestParseTimerList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    timerSample
		wantErr string
	}{
		{"real", timerListSample, timerSample{nowNs: 233963228561, jiffies: 4294950723}, ""},
		{"no jiffies line", "now at 5 nsecs\n  .last_jiffies   : 7\n", timerSample{}, "CONFIG_TICK_ONESHOT"},
		{"no now line", "jiffies: 7\n", timerSample{}, `no "now at"`},
		{"jiffies before now is ignored", "jiffies: 1\nnow at 5 nsecs\njiffies: 9\n", timerSample{nowNs: 5, jiffies: 9}, ""},
		{"bad now", "now at x nsecs\njiffies: 1\n", timerSample{}, "parsing"},
		{"bad jiffies", "now at 1 nsecs\njiffies: -1\n", timerSample{}, "parsing"},
		{"empty", "", timerSample{}, `no "now at"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTimerList(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestJiffiesRateAndNearest(t *testing.T) {
	const s = int64(1e9)
	tests := []struct {
		name     string
		a, b     timerSample
		wantHZ   int
		wantDist float64 // rounded to 0.001
		ok       bool
	}{
		{"250", timerSample{0, 1000}, timerSample{s / 5, 1050}, 250, 0, true},
		{"250 one jiffy short", timerSample{0, 1000}, timerSample{s / 5, 1049}, 250, 0.02, true},
		{"100", timerSample{0, 10}, timerSample{s / 5, 30}, 100, 0, true},
		{"300", timerSample{0, 10}, timerSample{s / 5, 70}, 300, 0, true},
		{"1000", timerSample{0, 10}, timerSample{s / 5, 211}, 1000, 0.005, true},
		{"32-bit wrap", timerSample{0, 1<<32 - 20}, timerSample{s / 5, 30}, 250, 0, true},
		{"224.2 on a busy guest is 250", timerSample{0, 0}, timerSample{10 * s, 2242}, 250, 0.103, true},
		{"180 is nearer 250 than 100", timerSample{0, 0}, timerSample{s, 180}, 250, 0.28, true},
		{"285 is nearer 300", timerSample{0, 0}, timerSample{s, 285}, 300, 0.05, true},
		{"272 is nearer 250 (relative distance)", timerSample{0, 0}, timerSample{s, 272}, 250, 0.088, true},
		{"1200 is 1000", timerSample{0, 0}, timerSample{s, 1200}, 1000, 0.2, true},
		{"no time", timerSample{5, 0}, timerSample{5, 10}, 0, 0, false},
		{"no jiffies", timerSample{0, 10}, timerSample{s, 10}, 0, 0, false},
		{"64-bit backwards", timerSample{0, 1 << 40}, timerSample{s, 10}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, err := jiffiesRate(tt.a, tt.b)
			if (err == nil) != tt.ok {
				t.Fatalf("rate %.2f, err %v; want ok=%v", rate, err, tt.ok)
			}
			if err != nil {
				return
			}
			v, dist := nearestHZ(rate)
			if v != tt.wantHZ || math.Round(dist*1000)/1000 != tt.wantDist {
				t.Fatalf("rate %.2f -> %d at %.4f, want %d at %.3f", rate, v, dist, tt.wantHZ, tt.wantDist)
			}
		})
	}
}

func TestParseConfigHZ(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"CONFIG_HZ_250=y\nCONFIG_HZ=250\n", 250, true},
		{"# CONFIG_HZ_1000 is not set\nCONFIG_HZ=1000", 1000, true},
		{"CONFIG_HZ_PERIODIC=y\n", 0, false},
		{"CONFIG_HZ=abc\n", 0, false},
		{"CONFIG_HZ=0\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseConfigHZ(strings.NewReader(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseConfigHZ(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestKallsyms(t *testing.T) {
	syms, err := Kallsyms("audit_log_start", "audit_log_end", "kauditd_thread", "no_such_symbol_xyz")
	if errors.Is(err, ErrKallsymsRestricted) {
		if os.Geteuid() == 0 {
			t.Fatalf("restricted as root: %v", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for n, a := range syms {
		t.Logf("%s %#x", n, a)
	}
	if syms["audit_log_start"] == 0 || syms["audit_log_end"] == 0 {
		t.Fatalf("audit functions missing: %x", syms)
	}
	if _, ok := syms["no_such_symbol_xyz"]; ok {
		t.Fatal("found a symbol that does not exist")
	}
}

func TestParseKallsyms(t *testing.T) {
	const in = `ffffffff81000000 T _stext
ffffffff81234560 T audit_log_start
ffffffff81234000 t audit_log_start.part.0
ffffffff81235000 t audit_log_end.cold
ffffffff81236000 T audit_log_end
ffffffff82000000 b audit_queue
ffffffff81300000 t dup_static
ffffffff81300100 t dup_static
ffffffffc0100000 t audit_log_start	[some_module]
ffffffffc0100010 t only_in_module	[some_module]
garbage line
`
	tests := []struct {
		name    string
		in      string
		names   []string
		want    map[string]uint64
		wantErr error
	}{
		{"exact names only", in, []string{"audit_log_start", "audit_log_end", "audit_queue", "audit_retry_queue"},
			map[string]uint64{"audit_log_start": 0xffffffff81234560, "audit_log_end": 0xffffffff81236000, "audit_queue": 0xffffffff82000000}, nil},
		{"duplicates and module symbols are left out", in, []string{"dup_static", "only_in_module"}, map[string]uint64{}, nil},
		{"restricted", "0000000000000000 T _stext\n0000000000000000 T audit_log_start\n", []string{"audit_log_start"}, nil, ErrKallsymsRestricted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := parseKallsyms(strings.NewReader(tt.in), tt.names, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
		})
	}
}

// TestParseKallsymsClones: a ".part.N" clone of a function named in parts
// is reported (Ubuntu 5.19-6.8's audit_log_end), ".cold" fragments and
// modules' symbols are not.
func TestParseKallsymsClones(t *testing.T) {
	const in = `ffffffff81000000 T _stext
ffffffff81234000 t audit_log_start.part.0
ffffffff81235000 t audit_log_end.cold
ffffffff81236000 T audit_log_end
ffffffffc0100000 t kauditd_hold_skb.part.0	[some_module]
`
	parts := []string{"audit_log_start", "audit_log_end", "kauditd_hold_skb"}
	_, clones, err := parseKallsyms(strings.NewReader(in), []string{"audit_log_end"}, parts)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"audit_log_start": true}; !reflect.DeepEqual(clones, want) {
		t.Fatalf("clones %v, want %v", clones, want)
	}
	_, clones, err = parseKallsyms(strings.NewReader(in+"ffffffff81237000 t audit_log_end.part.0\n"), nil, []string{"audit_log_end"})
	if err != nil {
		t.Fatal(err)
	}
	if !clones["audit_log_end"] {
		t.Fatalf("audit_log_end.part.0 not reported: %v", clones)
	}
}

func TestEffectiveCaps(t *testing.T) {
	eff, err := EffectiveCaps()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("effective %#x", eff)
	if os.Geteuid() == 0 && !CapSysAdmin.Has(eff) {
		t.Logf("root without CAP_SYS_ADMIN (a restricted container?)")
	}
	// Compare with the kernel's own view.
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var want uint64
			for _, c := range strings.TrimSpace(v) {
				want = want<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
			}
			if eff != want {
				t.Fatalf("EffectiveCaps %#x, /proc/self/status CapEff %#x", eff, want)
			}
		}
	}
}

func TestMissing(t *testing.T) {
	bits := func(cs ...Cap) uint64 {
		var m uint64
		for _, c := range cs {
			m |= 1 << uint(c.Bit)
		}
		return m
	}
	bpf := []Cap{CapBPF, CapSysAdmin}
	perf := []Cap{CapPerfmon, CapSysAdmin}
	tests := []struct {
		name string
		eff  uint64
		need [][]Cap
		want []string
	}{
		{"all met by CAP_BPF and CAP_PERFMON", bits(CapBPF, CapPerfmon), [][]Cap{bpf, perf}, nil},
		{"all met by CAP_SYS_ADMIN (pre-5.8)", bits(CapSysAdmin), [][]Cap{bpf, perf}, nil},
		{"none", 0, [][]Cap{bpf, perf, {CapAuditRead}}, []string{"CAP_BPF (or CAP_SYS_ADMIN)", "CAP_PERFMON (or CAP_SYS_ADMIN)", "CAP_AUDIT_READ"}},
		{"three alternatives", 0, [][]Cap{{CapSyslog, CapSysAdmin, CapAuditControl}}, []string{"CAP_SYSLOG (or CAP_SYS_ADMIN or CAP_AUDIT_CONTROL)"}},
		{"empty requirement", 0, [][]Cap{{}}, nil},
		{"high bit", bits(CapBPF), [][]Cap{{CapBPF}, {CapAuditControl}}, []string{"CAP_AUDIT_CONTROL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Missing(tt.eff, tt.need...); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseTimerList(f *testing.F) {
	f.Add(timerListSample)
	f.Add("now at 1 nsecs\njiffies: 2\n")
	f.Add("now at 1 nsecs\njiffies: 18446744073709551615\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parseTimerList(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever parses must survive the arithmetic.
		if r, err := jiffiesRate(s, timerSample{s.nowNs + 1e9, s.jiffies + 250}); err == nil {
			nearestHZ(r)
		}
		hzSinceBoot(s)
	})
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add("ffffffff81234560 T audit_log_start\n")
	f.Add("0000000000000000 T audit_log_start\n")
	f.Add("ffffffffc0100000 t audit_log_start\t[mod]\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, _, err := parseKallsyms(strings.NewReader(in), []string{"audit_log_start", "audit_queue"}, nil)
		if err != nil {
			return
		}
		for name, addr := range got {
			if name != "audit_log_start" && name != "audit_queue" {
				t.Fatalf("returned unrequested %q", name)
			}
			_ = addr
		}
	})
}

func FuzzParseConfigHZ(f *testing.F) {
	f.Add("CONFIG_HZ=250\n")
	f.Fuzz(func(t *testing.T, in string) {
		if v, err := parseConfigHZ(strings.NewReader(in)); err == nil && v <= 0 {
			t.Fatalf("accepted %d", v)
		}
	})
}
