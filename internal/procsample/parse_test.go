package procsample

import (
	"fmt"
	"testing"
)

func TestParseSchedStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     SchedStat
		err      bool
	}{
		{name: "thread", in: "231450402 66747103 1113\n", want: SchedStat{231450402, 66747103, 1113}},
		{name: "kauditd never waited", in: "12479 0 2\n", want: SchedStat{12479, 0, 2}},
		// What the kernel prints when sched_info is off (before 5.14
		// without delay accounting or schedstats): all zero, valid.
		{name: "sched_info off", in: "0 0 0\n", want: SchedStat{}},
		{name: "largest", in: "18446744073709551615 1 1", want: SchedStat{^uint64(0), 1, 1}},
		{name: "empty", in: "", err: true},
		{name: "two fields", in: "1 2\n", err: true},
		{name: "four fields", in: "1 2 3 4\n", err: true},
		{name: "negative", in: "-1 2 3\n", err: true},
		{name: "overflow", in: "18446744073709551616 0 0\n", err: true},
		{name: "text", in: "running\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSchedStat([]byte(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseSchedStat(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Stat
		err      bool
	}{
		{name: "sleeping", in: "23415 (sleep) S 23408 23408 21458 0 -1 4194304 131 0 0 0 0 0 0 0 20 0 1 0 5066002 2990080 414 18446744073709551615\n",
			want: Stat{Comm: "sleep", State: 'S', PPID: 23408}},
		{name: "stopped", in: "23415 (sleep) T 23408 23408 21458 0 -1\n", want: Stat{Comm: "sleep", State: 'T', PPID: 23408}},
		{name: "kernel thread", in: "32 (kauditd) S 2 0 0 0 -1 2097216 0 0\n", want: Stat{Comm: "kauditd", State: 'S', PPID: 2}},
		{name: "running", in: "23410 (cat) R 23408 23408\n", want: Stat{Comm: "cat", State: 'R', PPID: 23408}},
		// comm is whatever the task named itself, up to 15 bytes.
		{name: "comm with spaces and parens", in: "7 (a) b) (c d) D 1 7 7\n", want: Stat{Comm: "a) b) (c d", State: 'D', PPID: 1}},
		{name: "empty comm", in: "7 () S 1\n", want: Stat{Comm: "", State: 'S', PPID: 1}},
		{name: "init", in: "1 (systemd) S 0 1 1\n", want: Stat{Comm: "systemd", State: 'S', PPID: 0}},
		{name: "empty", in: "", err: true},
		{name: "no comm", in: "7 S 1 7\n", err: true},
		{name: "close before open", in: "7 )x( S 1\n", err: true},
		{name: "no state", in: "7 (x)\n", err: true},
		{name: "no ppid", in: "7 (x) S\n", err: true},
		{name: "long state", in: "7 (x) SS 1\n", err: true},
		{name: "bad ppid", in: "7 (x) S one\n", err: true},
		{name: "bad pid", in: "x (x) S 1\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseStat(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseSyscall(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Syscall
		err      bool
	}{
		{name: "asleep", in: "230 0x0 0x0 0x7fff7b3e9fa0 0x7fff7b3e9fe0 0x0 0x0 0x7fff7b3e9f88 0x7f70bdb0e503\n", want: Syscall{Nr: 230}},
		{name: "read", in: "0 0x3 0x7ff5546f9000 0x20000 0x7ff55478bb60 0xffffffff 0x0 0x7ffc632551c8 0x7ff5548742ad\n", want: Syscall{Nr: 0}},
		{name: "running", in: "running\n", want: Syscall{Running: true}},
		// Asleep outside a syscall: the number, sp and pc only.
		{name: "page fault", in: "-1 0x7ffc632551c8 0x7ff5548742ad\n", want: Syscall{Nr: -1}},
		{name: "empty", in: "", err: true},
		{name: "blank", in: " \n", err: true},
		{name: "word", in: "sleeping\n", err: true},
		{name: "too large", in: "4294967296 0x0\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSyscall([]byte(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseSyscall(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseWchan(t *testing.T) {
	for in, want := range map[string]string{
		"kauditd_thread":    "kauditd_thread",
		"netlink_attachskb": "netlink_attachskb",
		"do_signal_stop\n":  "do_signal_stop",
		"0":                 "",
		"":                  "",
	} {
		if got := ParseWchan([]byte(in)); got != want {
			t.Errorf("ParseWchan(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: the parsers never panic, and what they accept prints back to
// what they read.
func FuzzParse(f *testing.F) {
	f.Add("231450402 66747103 1113\n")
	f.Add("7 (a) b) (c d) D 1 7 7\n")
	f.Add("230 0x0 0x0 0x7fff7b3e9fa0\n")
	f.Add("running\n")
	f.Add("-1 0x7ffc632551c8 0x7ff5548742ad\n")
	f.Add("kauditd_thread")
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		if ss, err := ParseSchedStat(b); err == nil {
			again, err := ParseSchedStat(fmt.Appendf(nil, "%d %d %d\n", ss.OnCPUNs, ss.RunDelayNs, ss.Slices))
			if err != nil || again != ss {
				t.Fatalf("schedstat %q: %+v, printed back %+v, %v", s, ss, again, err)
			}
		}
		if st, err := ParseStat(b); err == nil {
			if st.State == ' ' || st.State == '\n' {
				t.Fatalf("stat %q: state %q", s, st.State)
			}
			line := append(fmt.Appendf(nil, "1 (%s) ", st.Comm), st.State)
			again, err := ParseStat(fmt.Appendf(line, " %d 0\n", st.PPID))
			if err != nil || again != st {
				t.Fatalf("stat %q: %+v, printed back %+v, %v", s, st, again, err)
			}
		}
		if sc, err := ParseSyscall(b); err == nil && !sc.Running {
			again, err := ParseSyscall(fmt.Appendf(nil, "%d 0x0\n", sc.Nr))
			if err != nil || again != sc {
				t.Fatalf("syscall %q: %+v, printed back %+v, %v", s, sc, again, err)
			}
		}
		ParseWchan(b)
	})
}
