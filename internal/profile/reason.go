package profile

import "strings"

// Loss classes: every string the kernel passes to audit_log_lost, grouped
// (kernel/audit.c and auditsc.c, 4.18 to 6.18).
const (
	ClassBacklog    = "backlog limit exceeded"
	ClassRate       = "rate limit exceeded"
	ClassMemory     = "out of memory"
	ClassHoldQueue  = "kauditd hold queue overflow"
	ClassRetryQueue = "kauditd retry queue overflow"
	ClassOther      = "other"
)

// ReasonClass maps a reason string of audit_log_lost to its class. "out of
// memory in audit_expand" is a truncated record, not a dropped one, but the
// kernel counts it lost all the same.
func ReasonClass(reason string) string {
	switch {
	case reason == ClassBacklog, reason == ClassRate, reason == ClassHoldQueue, reason == ClassRetryQueue:
		return reason
	case strings.HasPrefix(reason, "out of memory"):
		return ClassMemory
	}
	return ClassOther
}

// LostByClass sums lost_by_reason by class.
func LostByClass(byReason map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for r, n := range byReason {
		out[ReasonClass(r)] += n
	}
	return out
}
