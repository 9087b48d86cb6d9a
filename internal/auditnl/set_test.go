package auditnl

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// TestSetError: the kernel's refusals of AUDIT_SET say what to do and keep
// their errno, which the command line turns into exit codes.
func TestSetError(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		want  string
	}{
		{syscall.EPERM, "setting backlog_limit: operation not permitted: AUDIT_SET needs CAP_AUDIT_CONTROL in the initial user namespace (run as root); if you are root, audit may be locked (enabled 2)"},
		{syscall.EINVAL, "setting backlog_limit: invalid argument: the kernel refused the value (backlog_wait_time may be at most 600 s)"},
		{syscall.EBUSY, "setting backlog_limit: device or resource busy"},
	} {
		err := setError(fmt.Errorf("setting backlog_limit: %w", tc.errno))
		if err.Error() != tc.want || !errors.Is(err, tc.errno) {
			t.Errorf("%v: %q (errors.Is %v), want %q", tc.errno, err, errors.Is(err, tc.errno), tc.want)
		}
	}
}
