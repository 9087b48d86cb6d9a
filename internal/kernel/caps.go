package kernel

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Cap is one Linux capability.
type Cap struct {
	Name string
	Bit  int
}

// The capabilities auditprof asks about. Kernels older than the one that
// introduced a capability neither grant nor check its bit, so requirements
// list the older alternative as well (see Missing).
var (
	// CapSysAdmin allows BPF and perf before CAP_BPF and CAP_PERFMON.
	CapSysAdmin = Cap{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}
	// CapBPF loads BPF programs and maps; Linux 5.8, commit a17b53c4a4b5
	// ("bpf, capability: Introduce CAP_BPF").
	CapBPF = Cap{"CAP_BPF", unix.CAP_BPF}
	// CapPerfmon attaches tracing programs; Linux 5.8, commit 980737282232
	// ("capabilities: introduce CAP_PERFMON to kernel and user space").
	CapPerfmon = Cap{"CAP_PERFMON", unix.CAP_PERFMON}
	// CapAuditControl allows AUDIT_GET.
	CapAuditControl = Cap{"CAP_AUDIT_CONTROL", unix.CAP_AUDIT_CONTROL}
	// CapAuditRead joins the read-only audit multicast group; Linux 3.16,
	// commit 3a101b8de0d3 ("audit: add netlink audit protocol bind to check
	// capabilities on multicast join").
	CapAuditRead = Cap{"CAP_AUDIT_READ", unix.CAP_AUDIT_READ}
	// CapSyslog shows kernel addresses in /proc/kallsyms.
	CapSyslog = Cap{"CAP_SYSLOG", unix.CAP_SYSLOG}
	// CapSysResource raises RLIMIT_MEMLOCK for BPF maps on kernels before
	// memcg accounting of BPF memory (5.11).
	CapSysResource = Cap{"CAP_SYS_RESOURCE", unix.CAP_SYS_RESOURCE}
)

// EffectiveCaps returns this thread's effective capability set as a bitmask
// (bit n is capability n). It uses capget with _LINUX_CAPABILITY_VERSION_3,
// which returns two 32-bit words (Linux 2.6.26 and later).
func EffectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// Has reports whether the capability's bit is set in eff.
func (c Cap) Has(eff uint64) bool {
	return c.Bit >= 0 && c.Bit < 64 && eff&(1<<uint(c.Bit)) != 0
}

// Missing returns the requirements in need that eff does not meet. Each
// requirement is a set of alternatives, any one of which is enough (for
// example {CapBPF, CapSysAdmin}); an unmet one is named "CAP_BPF (or
// CAP_SYS_ADMIN)". Empty requirements are always met. The result is nil
// when nothing is missing.
func Missing(eff uint64, need ...[]Cap) []string {
	var out []string
	for _, alts := range need {
		if len(alts) == 0 {
			continue
		}
		met := false
		for _, c := range alts {
			if c.Has(eff) {
				met = true
				break
			}
		}
		if met {
			continue
		}
		name := alts[0].Name
		if len(alts) > 1 {
			rest := make([]string, 0, len(alts)-1)
			for _, c := range alts[1:] {
				rest = append(rest, c.Name)
			}
			name += " (or " + strings.Join(rest, " or ") + ")"
		}
		out = append(out, name)
	}
	return out
}
