package kernel

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf/btf"
)

// KauditdSendTimeout is how long kauditd waits on a send to an auditd that
// does not read before it gives the record up to its retry queue: HZ/10
// jiffies, a tenth of a second (audit_net_init sets the audit socket's
// sk_sndtimeo to HZ / 10). Every tree read whose kauditd_hold_skb takes
// the error as a second argument does so (5.10.198, 5.15.24, Debian 6.1
// and 6.12, 6.18); the one-argument design (RHEL 8.3 and older 4.18)
// sets MAX_SCHEDULE_TIMEOUT: kauditd waits until auditd reads, and all a
// stall brings stays in audit_queue. See shared/research/kernel_audit.md
// 1.4 and 1.5.
const KauditdSendTimeout = 100 * time.Millisecond

// KauditdGivesUp says whether this kernel's kauditd gives up a send to a
// stopped auditd after KauditdSendTimeout, known from its BTF: the
// prototype of kauditd_hold_skb, which takes the error as a second
// argument in every tree read that does. A kernel whose BTF lacks the
// function (inlined, or no BTF) is an error: the caller must not assume
// either way.
func KauditdGivesUp() (bool, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false, fmt.Errorf("loading kernel BTF: %w", err)
	}
	return kauditdGivesUp(spec)
}

func kauditdGivesUp(spec *btf.Spec) (bool, error) {
	var fn *btf.Func
	if err := spec.TypeByName("kauditd_hold_skb", &fn); err != nil {
		return false, fmt.Errorf("finding kauditd_hold_skb in kernel BTF: %w", err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return false, fmt.Errorf("kauditd_hold_skb in kernel BTF is a %T, not a function prototype", fn.Type)
	}
	return len(proto.Params) == 2, nil
}
