package kernel

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// specWith is a BTF spec holding one function, kauditd_hold_skb, with the
// given number of pointer parameters (none: no such function).
func specWith(t *testing.T, params int) *btf.Spec {
	t.Helper()
	var b btf.Builder
	if params > 0 {
		ptr := &btf.Pointer{Target: &btf.Void{}}
		proto := &btf.FuncProto{Return: &btf.Void{}}
		for range params {
			proto.Params = append(proto.Params, btf.FuncParam{Name: "p", Type: ptr})
		}
		if _, err := b.Add(&btf.Func{Name: "kauditd_hold_skb", Type: proto, Linkage: btf.StaticFunc}); err != nil {
			t.Fatal(err)
		}
	} else if _, err := b.Add(&btf.Int{Name: "int", Size: 4}); err != nil {
		t.Fatal(err)
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

func TestKauditdGivesUp(t *testing.T) {
	for _, tc := range []struct {
		params  int
		want    bool
		wantErr bool
	}{
		{params: 1, want: false}, // 4.18-el8: kauditd_hold_skb(skb)
		{params: 2, want: true},  // 5.10.198+, 6.x: kauditd_hold_skb(skb, error)
		{params: 0, wantErr: true},
	} {
		got, err := kauditdGivesUp(specWith(t, tc.params))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%d params: %v, %v; want %v (error %v)", tc.params, got, err, tc.want, tc.wantErr)
		}
	}
}
