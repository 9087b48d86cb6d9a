package probe

import (
	"slices"
	"testing"
)

func TestStaleKprobeEvents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"r4096:auditprof_08aa0865c7f995a0/audit_log_start audit_log_start\n" +
			"p:kprobes/my_probe do_sys_open\n" +
			"r:auditprof_f39f/schedule_timeout schedule_timeout\n" +
			"r4096:floor_11/audit_log_start audit_log_start\n",
			[]string{"auditprof_08aa0865c7f995a0/audit_log_start", "auditprof_f39f/schedule_timeout"}},
		{"p:auditprofx/a a\nr:auditprof_/b b\ngarbage\n", []string{"auditprof_/b"}},
	} {
		if got := staleKprobeEvents(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("staleKprobeEvents(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
