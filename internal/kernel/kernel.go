// Package kernel reads facts about the running Linux kernel that auditprof
// needs before it attaches anything: the release, the tick rate (HZ), the
// addresses of a few symbols, the capabilities of this process, and how
// kauditd treats a stopped auditd.
//
// Everything here only reads: /proc, /boot, the kernel's BTF and the
// capget and uname system calls. Nothing changes kernel state.
package kernel

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Release returns the running kernel's release string (uname -r), which
// names its /boot/config-* file and tells readers of a profile which kernel
// produced it.
func Release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("reading kernel release: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
