// Package btftest builds small kernel BTF specs for tests of code that
// reads a kernel's BTF (which functions it has, with which prototypes).
package btftest

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// Spec returns a BTF spec holding types, as a kernel's vmlinux BTF would
// (marshalled and loaded back). With no types it holds a lone int: a
// kernel without the functions a test looks for.
func Spec(t testing.TB, types ...btf.Type) *btf.Spec {
	t.Helper()
	if len(types) == 0 {
		types = []btf.Type{&btf.Int{Name: "int", Size: 4}}
	}
	var b btf.Builder
	for _, typ := range types {
		if _, err := b.Add(typ); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
