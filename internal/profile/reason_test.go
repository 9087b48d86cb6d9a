package profile

import "testing"

func TestReasonClass(t *testing.T) {
	for in, want := range map[string]string{
		"backlog limit exceeded":                    ClassBacklog,
		"rate limit exceeded":                       ClassRate,
		"out of memory in audit_log_start":          ClassMemory,
		"out of memory in audit_expand":             ClassMemory,
		"out of memory in audit_alloc":              ClassMemory,
		"out of memory in __audit_log_kern_module":  ClassMemory,
		"kauditd hold queue overflow":               ClassHoldQueue,
		"kauditd retry queue overflow":              ClassRetryQueue,
		"printk limit exceeded":                     ClassOther,
		"":                                          ClassOther,
		"backlog limit exceeded and something else": ClassOther,
	} {
		if got := ReasonClass(in); got != want {
			t.Errorf("ReasonClass(%q) = %q, want %q", in, got, want)
		}
	}
	got := LostByClass(map[string]uint64{"out of memory in audit_expand": 2, "out of memory in audit_log_start": 3, "x": 1})
	if got[ClassMemory] != 5 || got[ClassOther] != 1 || len(got) != 2 {
		t.Errorf("LostByClass: %v", got)
	}
}
