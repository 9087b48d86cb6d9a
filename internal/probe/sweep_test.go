package probe

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestStaleKprobeEvents(t *testing.T) {
	alive := func(pid int) bool { return pid == 1234 }
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
		{"p:auditprofx/a a\nr:auditprof_/b b\ngarbage\nr:auditprof_99/c c\n", []string{"auditprof_/b", "auditprof_99/c"}},
		// A live process's events are not stale, even before it opens them.
		{"r4096:auditprof_1234_08aa0865c7f995a0/audit_log_start audit_log_start\n" +
			"r4096:auditprof_4321_08aa0865c7f995a0/audit_log_start audit_log_start\n" +
			"r4096:auditprof_0_08aa0865c7f995a0/audit_log_start audit_log_start\n",
			[]string{"auditprof_4321_08aa0865c7f995a0/audit_log_start", "auditprof_0_08aa0865c7f995a0/audit_log_start"}},
	} {
		if got := staleKprobeEvents(tc.in, alive); !slices.Equal(got, tc.want) {
			t.Errorf("staleKprobeEvents(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestKprobeGroupPID: the group attach names (via cilium/ebpf's
// RandomGroup, prefix_<16 hex>) carries this process's pid, which
// processAlive finds, and a process that exited is not alive.
func TestKprobeGroupPID(t *testing.T) {
	group := kprobeTraceFSPrefix() + "_08aa0865c7f995a0"
	pid, ok := groupPID(group)
	if !ok || pid != os.Getpid() {
		t.Fatalf("groupPID(%q) = %d, %v; want %d", group, pid, ok, os.Getpid())
	}
	if !processAlive(pid) {
		t.Errorf("processAlive(%d), this process: false", pid)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("running true: %v", err)
	}
	if processAlive(cmd.Process.Pid) {
		t.Errorf("processAlive(%d), a process that exited and was reaped: true", cmd.Process.Pid)
	}
}
