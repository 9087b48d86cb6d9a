package kernel

import (
	"context"
	"errors"
	"os"
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

func TestMeasureHZ(t *testing.T) {
	if _, err := os.Stat(timerListPath); err != nil {
		t.Skipf("no %s: %v", timerListPath, err)
	}
	start := time.Now()
	hz, err := MeasureHZ(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("HZ %+v in %v", hz, time.Since(start))
	if os.Geteuid() == 0 && hz.Source != HZSourceTimerList {
		t.Fatalf("as root the source should be %q, got %+v", HZSourceTimerList, hz)
	}
	if hz.Source == HZSourceTimerList && (hz.Measured < float64(hz.Value)*0.9 || hz.Measured > float64(hz.Value)*1.1) {
		t.Fatalf("measured %.2f rounded to %d", hz.Measured, hz.Value)
	}
	// Cross-check against the kernel's own configuration where it exists.
	if want, err := configHZ(configPaths(mustRelease(t))); err == nil && hz.Value != want {
		t.Fatalf("measured HZ %d, CONFIG_HZ=%d", hz.Value, want)
	}
}

// The fallback, on this machine's real config files.
func TestMeasureHZFallbackToConfig(t *testing.T) {
	want, err := configHZ(configPaths(mustRelease(t)))
	if err != nil {
		t.Skipf("no kernel config here: %v", err)
	}
	old := timerListPath
	timerListPath = "/nonexistent/timer_list"
	t.Cleanup(func() { timerListPath = old })
	hz, err := MeasureHZ(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hz != (HZ{Value: want, Source: HZSourceConfig}) {
		t.Fatalf("got %+v, want config %d", hz, want)
	}
}

func TestMeasureHZNoSource(t *testing.T) {
	oldT, oldC := timerListPath, configPaths
	timerListPath = "/nonexistent/timer_list"
	configPaths = func(string) []string { return []string{"/nonexistent/config.gz"} }
	t.Cleanup(func() { timerListPath, configPaths = oldT, oldC })
	_, err := MeasureHZ(context.Background())
	if err == nil || !strings.Contains(err.Error(), "run as root") {
		t.Fatalf("want an error saying what to do, got %v", err)
	}
}

func TestMeasureHZCancelled(t *testing.T) {
	if _, err := os.Stat(timerListPath); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MeasureHZ(ctx); !errors.Is(err, context.Canceled) {
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

func TestJiffiesRateAndRound(t *testing.T) {
	const s = int64(1e9)
	tests := []struct {
		name   string
		a, b   timerSample
		wantHZ int
		ok     bool
	}{
		{"250", timerSample{0, 1000}, timerSample{s / 5, 1050}, 250, true},
		{"250 one jiffy short", timerSample{0, 1000}, timerSample{s / 5, 1049}, 250, true},
		{"100", timerSample{0, 10}, timerSample{s / 5, 30}, 100, true},
		{"300", timerSample{0, 10}, timerSample{s / 5, 70}, 300, true},
		{"1000", timerSample{0, 10}, timerSample{s / 5, 211}, 1000, true},
		{"32-bit wrap", timerSample{0, 1<<32 - 20}, timerSample{s / 5, 30}, 250, true},
		{"between 100 and 250", timerSample{0, 0}, timerSample{s, 180}, 0, false},
		{"between 300 and 1000", timerSample{0, 0}, timerSample{s, 500}, 0, false},
		{"285 is nearer 300", timerSample{0, 0}, timerSample{s, 285}, 300, true},
		{"272 is nearer 250 (relative distance)", timerSample{0, 0}, timerSample{s, 272}, 250, true},
		{"1024 is no Kconfig choice", timerSample{0, 0}, timerSample{s, 1200}, 0, false},
		{"no time", timerSample{5, 0}, timerSample{5, 10}, 0, false},
		{"no jiffies", timerSample{0, 10}, timerSample{s, 10}, 0, false},
		{"64-bit backwards", timerSample{0, 1 << 40}, timerSample{s, 10}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, err := jiffiesRate(tt.a, tt.b)
			v, ok := 0, false
			if err == nil {
				v, ok = roundHZ(rate)
			}
			if ok != tt.ok || v != tt.wantHZ {
				t.Fatalf("rate %.2f (err %v) -> %d %v, want %d %v", rate, err, v, ok, tt.wantHZ, tt.ok)
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
			got, err := parseKallsyms(strings.NewReader(tt.in), tt.names)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
		})
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
			roundHZ(r)
		}
	})
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add("ffffffff81234560 T audit_log_start\n")
	f.Add("0000000000000000 T audit_log_start\n")
	f.Add("ffffffffc0100000 t audit_log_start\t[mod]\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseKallsyms(strings.NewReader(in), []string{"audit_log_start", "audit_queue"})
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
