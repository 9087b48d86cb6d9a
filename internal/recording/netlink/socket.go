package netlink

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/auditnl"
)

// rcvBuf is the socket receive buffer asked for: room for thousands
// of records while this process is descheduled. Memory is used only
// when records wait.
const rcvBuf = 16 << 20

// joinReadlog opens a netlink audit socket bound to AUDIT_NLGRP_READLOG.
// The socket is built here rather than with go-libaudit's
// NewMulticastAuditClient because that client hides its descriptor: a
// blocked Receive could then be ended only by a record arriving, and on a
// quiet system none may ever come. Here the descriptor is non-blocking and
// registered with Go's poller, so a read deadline ends the wait.
func joinReadlog() (*os.File, syscall.RawConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil, nil, fmt.Errorf("opening audit netlink socket: kernel built without CONFIG_AUDIT: there is no audit backlog to profile; use a kernel with audit support: %w", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening audit netlink socket: %w", err)
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without
	// it, take what SO_RCVBUF allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.AUDIT_NLGRP_READLOG - 1)}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			return nil, nil, auditnl.Hint("joining the audit multicast group: permission denied: run as root or grant CAP_AUDIT_READ", err)
		}
		return nil, nil, fmt.Errorf("joining the audit multicast group: %w", err)
	}
	f := os.NewFile(uintptr(fd), "audit-readlog")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("joining the audit multicast group: %w", err)
	}
	return f, rc, nil
}
