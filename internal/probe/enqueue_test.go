package probe

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/auditprof/auditprof/internal/btftest"
)

// logEndSpec is a kernel BTF holding audit_log_end(struct audit_buffer *)
// with the given audit_buffer members (no members: the function takes a
// void *; nil: no audit_log_end at all).
func logEndSpec(t *testing.T, members []string) *btf.Spec {
	t.Helper()
	if members == nil {
		return btftest.Spec(t)
	}
	var target btf.Type = &btf.Void{}
	if len(members) > 0 {
		st := &btf.Struct{Name: "audit_buffer", Size: uint32(8 * len(members))}
		for i, m := range members {
			st.Members = append(st.Members, btf.Member{Name: m, Type: &btf.Pointer{Target: &btf.Void{}}, Offset: btf.Bits(64 * i)})
		}
		target = st
	}
	proto := &btf.FuncProto{Return: &btf.Void{}, Params: []btf.FuncParam{{Name: "ab", Type: &btf.Pointer{Target: target}}}}
	return btftest.Spec(t, &btf.Func{Name: "audit_log_end", Type: proto, Linkage: btf.GlobalFunc})
}

// TestChooseEnqueue: audit_log_end only where every condition for exact
// counts at its entry holds; skb_queue_tail on each kernel shape that
// breaks one.
func TestChooseEnqueue(t *testing.T) {
	all := map[string]uint64{"audit_log_end": 0xffffffff81236000, "audit_queue": 0xffffffff82000000,
		"audit_retry_queue": 0xffffffff82000020, "audit_hold_queue": 0xffffffff82000040}
	without := func(name string) map[string]uint64 {
		m := map[string]uint64{}
		for k, v := range all {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	old := []string{"skb", "ctx", "gfp_mask"}
	for _, tc := range []struct {
		name    string
		members []string
		syms    map[string]uint64
		clones  map[string]bool
		want    enqueueHook
	}{
		{"Debian 6.1/6.12: audit_buffer {skb, ctx, gfp_mask}", old, all, nil, enqueueLogEnd},
		{"6.18: skb_list", []string{"skb", "skb_list", "ctx", "stamp", "gfp_mask"}, all, nil, enqueueQueueTail},
		{"Ubuntu 5.19-6.8: audit_log_end.part.0", old, all, map[string]bool{"audit_log_end": true}, enqueueQueueTail},
		{"no CONFIG_KALLSYMS_ALL", old, without("audit_queue"), nil, enqueueQueueTail},
		{"no retry queue symbol", old, without("audit_retry_queue"), nil, enqueueQueueTail},
		{"no hold queue symbol", old, without("audit_hold_queue"), nil, enqueueQueueTail},
		{"audit_log_end not in kallsyms", old, without("audit_log_end"), nil, enqueueQueueTail},
		{"audit_log_end not in BTF", nil, all, nil, enqueueQueueTail},
		{"first argument not an audit_buffer", []string{}, all, nil, enqueueQueueTail},
		{"audit_buffer without skb", []string{"ctx", "gfp_mask"}, all, nil, enqueueQueueTail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chooseEnqueue(logEndSpec(t, tc.members), tc.syms, tc.clones); got != tc.want {
				t.Errorf("enqueue at %s, want %s", enqueueName(got), enqueueName(tc.want))
			}
		})
	}
}
