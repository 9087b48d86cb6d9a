package auditrules

import (
	"reflect"
	"testing"

	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"

	"github.com/auditprof/auditprof/internal/profile"
)

const (
	archX8664 = 0xc000003e // AUDIT_ARCH_X86_64
	archI386  = 0x40000003 // AUDIT_ARCH_I386
)

// wire builds the kernel's form of rules written as for auditctl.
func wire(t testing.TB, lines ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, l := range lines {
		r, err := flags.Parse(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		wf, err := rule.Build(r)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, wf)
	}
	return out
}

func TestMatches(t *testing.T) {
	rules, err := Parse(wire(t,
		"-a always,exit -F arch=b64 -S openat,open -k file-open",        // 1
		"-a always,exit -F arch=b32 -S open -k file-open",               // 2
		"-w /etc/passwd -p wa -k identity",                              // 3
		"-a always,exit -F arch=b64 -S chmod -F exit=-EACCES -k access", // 4
		"-a always,exit -F arch=b64 -S chmod -F exit=-EPERM -k access",  // 5
		"-a never,exit -F arch=b64 -S all",                              // 6
		"-a always,exit -F arch=b64 -S chdir",                           // 7
		"-a always,exit -S all -F exe=/usr/bin/x -k a -k b",             // 8
		"-a always,exclude -F msgtype=CWD",                              // 9
		"-a always,exit -F arch=b64 -S sethostname -k system-locale",    // 10
		"-w /etc/hosts -p wa -k system-locale",                          // 11
		"-w /usr/bin/passwd -p x -k system-locale",                      // 12
		"-w /etc/shadow -k identity",                                    // 13
		"-a always,exit -F dir=/etc/ssh -F perm=r -k identity",          // 14
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 14 || rules[0].Text != "-a always,exit -F arch=b64 -S open,openat -F key=file-open" {
		t.Fatalf("parsed %d rules, first %q", len(rules), rules[0].Text)
	}
	for _, tc := range []struct {
		name    string
		key     string
		syscall int32
		arch    uint32
		want    []int
	}{
		{"b64 openat", "file-open", 257, archX8664, []int{1}},
		{"b32 open is 5 on i386", "file-open", 5, archI386, []int{2}},
		{"b64 open is 2", "file-open", 2, archX8664, []int{1}},
		{"number 5 under b64 is fstat", "file-open", 5, archX8664, nil},
		{"watch -p wa: rename writes", "identity", 82, archX8664, []int{3, 13}},
		{"watch -p wa: chmod changes attributes", "identity", 90, archX8664, []int{3, 13}},
		{"watch -p wa, perm=r: openat by its flags", "identity", 257, archX8664, []int{3, 13, 14}},
		{"perm=r: getxattr reads", "identity", 191, archX8664, []int{13, 14}},
		{"i386 chown32 changes attributes", "identity", 212, archI386, []int{3, 13}},
		{"watches do not match sethostname", "system-locale", 170, archX8664, []int{10}},
		{"watch -p x: execve", "system-locale", 59, archX8664, []int{12}},
		{"watch: a syscall in no class", "identity", 39, archX8664, nil},
		{"same key and syscall: both named", "access", 90, archX8664, []int{4, 5}},
		{"keyless", "", 80, archX8664, []int{7}},
		{"two keys", "a\x01b", 59, archX8664, []int{8}},
		{"one of two keys does not match", "a", 59, archX8664, nil},
		{"no syscall", "file-open", -1, 0, nil},
		{"unknown key", "nope", 257, archX8664, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Matches(rules, tc.key, tc.syscall, tc.arch)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Matches(%q, %d, %#x) = %v, want %v", tc.key, tc.syscall, tc.arch, got, tc.want)
			}
		})
	}
	if rules[8].List != "exclude" || rules[2].Key != "identity" || rules[7].Key != "a\x01b" {
		t.Errorf("parsed: %+v", rules)
	}
}

func TestNames(t *testing.T) {
	if got := SyscallName(257, archX8664); got != "openat" {
		t.Errorf("SyscallName(257, x86_64) = %q", got)
	}
	if got := SyscallName(5, archI386); got != "open" {
		t.Errorf("SyscallName(5, i386) = %q", got)
	}
	if got := ArchName(archX8664); got != "x86_64" {
		t.Errorf("ArchName = %q", got)
	}
	if SyscallName(-1, archX8664) != "" || ArchName(0) != "" {
		t.Error("no syscall or no arch must give no name")
	}
}

func TestParseRefusesGarbage(t *testing.T) {
	if _, err := Parse([][]byte{{1, 2, 3}}); err == nil {
		t.Error("no error for a truncated rule")
	}
}

// FuzzParse: no wire input panics the reader.
func FuzzParse(f *testing.F) {
	for _, w := range wire(f, "-a always,exit -F arch=b64 -S openat -k k", "-w /etc -p wa") {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, err := Parse([][]byte{b})
		if err == nil {
			Matches(rules, "k", 257, archX8664)
		}
	})
}

func TestJoin(t *testing.T) {
	rules, err := Parse(wire(t,
		"-a always,exit -F arch=b64 -S openat -k file-open",
		"-a always,exit -F arch=b64 -S chdir",
	))
	if err != nil {
		t.Fatal(err)
	}
	p := &profile.Profile{Rules: []profile.Rule{
		{Key: "file-open", Syscall: 257, Arch: "x86_64"},
		{Key: "", Syscall: 80, Arch: "x86_64", Comm: "stress-ng-chdir"},
		{Key: "", Syscall: profile.SyscallNone},
	}}
	Join(p, rules)
	if len(p.LoadedRules) != 2 || p.LoadedRules[1].Text != "-a always,exit -F arch=b64 -S chdir" {
		t.Fatalf("loaded rules %+v", p.LoadedRules)
	}
	got := [][]int{p.Rules[0].Matches, p.Rules[1].Matches, p.Rules[2].Matches}
	if want := [][]int{{1}, {2}, nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("matches %v, want %v", got, want)
	}
}
