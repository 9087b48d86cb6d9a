package auditrules

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/auditprof/auditprof/internal/profile"
)

// uringWire is the kernel's form of `-a ACTION,io_uring -S OPS -k KEY`, as
// TestUring's guest helper sends it.
func uringWire(action uint32, key string, ops ...int32) []byte {
	le := binary.LittleEndian
	b := make([]byte, wireFixed+len(key))
	le.PutUint32(b[0:], filterUring)
	le.PutUint32(b[4:], action)
	for _, op := range ops {
		w := 12 + 4*int(op/32)
		le.PutUint32(b[w:], le.Uint32(b[w:])|1<<(op%32))
	}
	if key == "" {
		return b
	}
	le.PutUint32(b[8:], 1)
	le.PutUint32(b[12+4*wireSlots:], fieldFilterkey)
	le.PutUint32(b[12+8*wireSlots:], uint32(len(key)))
	le.PutUint32(b[12+12*wireSlots:], 0x40000000)
	le.PutUint32(b[12+16*wireSlots:], uint32(len(key)))
	copy(b[wireFixed:], key)
	return b
}

func TestUringRules(t *testing.T) {
	w := wire(t, "-a always,exit -F arch=b64 -S openat -k uring") // 1
	w = append(w, uringWire(2, "uring", 18, 19), uringWire(0, "off", 18), uringWire(2, "", 36))
	rules, err := Parse(w)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, r := range rules {
		texts = append(texts, r.Text)
	}
	want := []string{"-a always,exit -F arch=b64 -S openat -F key=uring", "-a always,io_uring -S openat,close -F key=uring",
		"-a never,io_uring -S openat -F key=off", "-a always,io_uring -S unlinkat"}
	if !reflect.DeepEqual(texts, want) {
		t.Fatalf("texts %q, want %q", texts, want)
	}
	for _, tc := range []struct {
		key  string
		op   int32
		want []int
	}{
		{"uring", 18, []int{2}},
		{"uring", 19, []int{2}},
		{"uring", 17, nil},
		{"off", 18, nil}, // never
		{"", 36, []int{4}},
	} {
		if got := MatchesUring(rules, tc.key, tc.op); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("MatchesUring(%q, %d) = %v, want %v", tc.key, tc.op, got, tc.want)
		}
	}
	// The syscall openat is the exit rule's only; io_uring_enter, which an
	// operation run inline leaves recording, the io_uring rule's.
	if got := Matches(rules, "uring", 257, archX8664); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("Matches(uring, openat) = %v, want [1]", got)
	}
	if got := Matches(rules, "uring", 426, archX8664); !reflect.DeepEqual(got, []int{2}) {
		t.Errorf("Matches(uring, io_uring_enter) = %v, want [2]", got)
	}

	op := int32(18)
	p := &profile.Profile{Rules: []profile.Rule{
		{Key: "uring", Syscall: profile.SyscallUring, UringOp: &op, UringOpName: "openat"},
		{Key: "uring", Syscall: 257, Arch: "x86_64"},
	}}
	Join(p, rules)
	if !reflect.DeepEqual(p.Rules[0].Matches, []int{2}) || !reflect.DeepEqual(p.Rules[1].Matches, []int{1}) {
		t.Errorf("joined %v and %v, want [2] and [1]", p.Rules[0].Matches, p.Rules[1].Matches)
	}
	if l := p.Rules[0].SyscallLabel(); l != "io_uring openat" {
		t.Errorf("label %q, want io_uring openat", l)
	}
}
