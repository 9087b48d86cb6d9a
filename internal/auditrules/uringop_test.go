package auditrules

import "testing"

// TestUringOpName checks the table against opcodes whose numbers are fixed
// by the uapi header (6.1's IORING_OP_LAST is 49, 6.12's 58).
func TestUringOpName(t *testing.T) {
	for op, want := range map[int32]string{0: "nop", 17: "fallocate", 18: "openat", 19: "close", 28: "openat2",
		36: "unlinkat", 48: "sendmsg_zc", 57: "listen", 58: "", -1: ""} {
		if got := UringOpName(op); got != want {
			t.Errorf("UringOpName(%d) = %q, want %q", op, got, want)
		}
	}
	if len(uringOps) != 58 {
		t.Errorf("%d opcodes, want 58 (IORING_OP_LAST in 6.12)", len(uringOps))
	}
}
