package auditnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditprof/auditprof/internal/profile"
)

// Sizes of struct audit_status (include/uapi/linux/audit.h), the AUDIT_GET
// reply payload. The kernel sends sizeof(s), so the length tells which
// fields exist.
const (
	// statusLenMin ends with `backlog`, the last field every kernel since
	// 2.6 sends.
	statusLenMin = 8 * 4
	// statusLenFeature adds feature_bitmap (called version before 3.19).
	statusLenFeature = 9 * 4
	// statusLenWaitTime adds backlog_wait_time (Linux 3.14).
	statusLenWaitTime = 10 * 4
	// statusLenActual adds backlog_wait_time_actual: Linux 5.9, commit
	// b43870c74f3f ("audit: report audit wait metric in audit status
	// reply"), merged through audit-pr-20200803 for v5.9.
	statusLenActual = 11 * 4
)

// replyTimeout bounds the wait for the kernel's reply in this process. The
// reply comes from a kernel thread (audit_send_reply) in microseconds; the
// long sleep this package guards against happens inside sendmsg, before
// any receive, and no socket timeout can cut it short.
const replyTimeout = 5 * time.Second

// GetInProcess sends AUDIT_GET from this process and returns the reply.
//
// It can sleep uninterruptibly for up to backlog_wait_time (60 s by
// default) inside sendmsg when the audit queue is over backlog_limit: since
// Linux 5.17, commit 8f110f530635 ("audit: ensure userspace is penalized
// the same as the kernel when under pressure"), also in 5.10 and 5.15
// stable, audit_receive() penalises every sender, AUDIT_GET included. A
// thread in that sleep keeps the whole process from exiting. Use Get,
// which does this in a child process, unless blocking is acceptable.
//
// The request is built here with x/sys/unix rather than through
// go-libaudit's GetStatus, because go-libaudit zero-fills a 40-byte reply
// to its 44-byte struct: it hides whether the kernel sent
// backlog_wait_time_actual or a real 0.
func GetInProcess() (*profile.AuditStatus, error) {
	st, _, err := request()
	return st, err
}

// request does AUDIT_GET and also returns the reply's payload length.
func request() (*profile.AuditStatus, int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, 0, statusError(fmt.Errorf("opening audit netlink socket: %w", err))
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, 0, statusError(fmt.Errorf("binding audit netlink socket: %w", err))
	}
	tv := unix.NsecToTimeval(replyTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, 0, statusError(fmt.Errorf("setting receive timeout: %w", err))
	}

	const seq = 1
	req := make([]byte, unix.NLMSG_HDRLEN)
	binary.NativeEndian.PutUint32(req[0:], unix.NLMSG_HDRLEN)
	binary.NativeEndian.PutUint16(req[4:], unix.AUDIT_GET)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(req[8:], seq)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, 0, statusError(fmt.Errorf("sending AUDIT_GET: %w", err))
	}

	// The kernel sends the ack (NLMSG_ERROR 0) from netlink_rcv_skb and the
	// status from a kernel thread; accept them in either order.
	buf := make([]byte, 1<<16)
	for range 16 {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return nil, 0, statusError(fmt.Errorf("receiving AUDIT_GET reply: no answer within %v", replyTimeout))
		}
		if err != nil {
			return nil, 0, statusError(fmt.Errorf("receiving AUDIT_GET reply: %w", err))
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		st, n, done, err := parseReply(buf[:n], seq)
		if err != nil {
			return nil, 0, statusError(err)
		}
		if done {
			return st, n, nil
		}
	}
	return nil, 0, statusError(errors.New("receiving AUDIT_GET reply: no status among the kernel's messages"))
}

// parseReply looks through one datagram for the answer to request seq. It
// returns done when the status was found, an error when the kernel
// refused (the errno is wrapped), and neither for an ack or an unrelated
// message.
func parseReply(b []byte, seq uint32) (st *profile.AuditStatus, payloadLen int, done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		typ := binary.NativeEndian.Uint16(b[4:])
		s := binary.NativeEndian.Uint32(b[8:])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, 0, false, fmt.Errorf("parsing AUDIT_GET reply: message length %d in a %d-byte datagram", l, len(b))
		}
		payload := b[unix.NLMSG_HDRLEN:l]
		if s == seq {
			switch typ {
			case unix.NLMSG_ERROR:
				if len(payload) < 4 {
					return nil, 0, false, errors.New("parsing AUDIT_GET reply: short netlink error")
				}
				if e := int32(binary.NativeEndian.Uint32(payload)); e != 0 {
					return nil, 0, false, fmt.Errorf("AUDIT_GET: %w", unix.Errno(-e))
				}
			case unix.AUDIT_GET:
				st, err := parseStatus(payload)
				if err != nil {
					return nil, 0, false, err
				}
				return st, len(payload), true, nil
			}
		}
		next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return nil, 0, false, nil
}

// parseStatus decodes struct audit_status. BacklogWaitTimeActual stays nil
// when the kernel's reply is too short to carry it (before 5.9); so do
// fields older kernels lack, as zero.
func parseStatus(p []byte) (*profile.AuditStatus, error) {
	if len(p) < statusLenMin {
		return nil, fmt.Errorf("parsing AUDIT_GET reply: %d bytes, want at least %d", len(p), statusLenMin)
	}
	u := func(i int) uint32 { return binary.NativeEndian.Uint32(p[i*4:]) }
	st := &profile.AuditStatus{
		// u(0) is the mask, meaningless in a reply.
		Enabled:      u(1),
		Failure:      u(2),
		PID:          u(3),
		RateLimit:    u(4),
		BacklogLimit: u(5),
		Lost:         u(6),
		Backlog:      u(7),
	}
	if len(p) >= statusLenFeature {
		st.FeatureBitmap = u(8)
	}
	if len(p) >= statusLenWaitTime {
		st.BacklogWaitTime = u(9)
	}
	if len(p) >= statusLenActual {
		v := u(10)
		st.BacklogWaitTimeActual = &v
	}
	return st, nil
}

// statusError turns a failure into an error that says what to do, keeping
// the errno reachable through errors.Is.
func statusError(err error) error {
	if h := hint("reading audit status", err); h != nil {
		return h
	}
	return fmt.Errorf("reading audit status: %w", err)
}

// hint returns the instruction for the errors a user can fix, or nil.
func hint(what string, err error) error {
	var msg string
	switch {
	case errors.Is(err, unix.EPERM):
		msg = what + ": permission denied: run as root or grant CAP_AUDIT_CONTROL"
	case errors.Is(err, unix.ECONNREFUSED):
		msg = what + ": the audit netlink socket refuses requests from this user or pid namespace: run in the initial namespaces (on the host, not in a container)"
	case errors.Is(err, unix.EPROTONOSUPPORT):
		msg = what + ": kernel built without CONFIG_AUDIT: there is no audit backlog to profile; use a kernel with audit support"
	default:
		return nil
	}
	return Hint(msg, err)
}

// Hint returns an error whose message, msg, is a complete instruction for
// the user (what failed and what to do), with err kept for errors.Is and
// errors.As. Other packages that talk to the audit netlink socket use it
// for the errors a user can fix, so that every such message reads alike.
func Hint(msg string, err error) error { return &hintError{msg: msg, err: err} }

// hintError is Hint's error.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }
