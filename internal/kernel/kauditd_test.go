package kernel

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/auditprof/auditprof/internal/btftest"
)

// specWith is a BTF spec holding one function, kauditd_hold_skb, with the
// given number of pointer parameters (none: no such function).
func specWith(t *testing.T, params int) *btf.Spec {
	t.Helper()
	if params == 0 {
		return btftest.Spec(t)
	}
	ptr := &btf.Pointer{Target: &btf.Void{}}
	proto := &btf.FuncProto{Return: &btf.Void{}}
	for range params {
		proto.Params = append(proto.Params, btf.FuncParam{Name: "p", Type: ptr})
	}
	return btftest.Spec(t, &btf.Func{Name: "kauditd_hold_skb", Type: proto, Linkage: btf.StaticFunc})
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
