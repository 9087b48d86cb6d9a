package netlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reader reads audit records from the multicast socket.
type reader struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
}

// errSocketEmpty is read's answer when the socket holds no record and
// its wait function says not to wait for one.
var errSocketEmpty = errors.New("no record in the socket")

// read returns the next record the kernel sent: its type and payload
// (valid until the next read). When the socket is empty it blocks while
// wait returns true, and returns errSocketEmpty otherwise; a read deadline
// ends a blocked read with os.ErrDeadlineExceeded. An overflow of the
// socket's buffer is returned as unix.ENOBUFS.
func (r *reader) read(wait func() bool) (uint16, []byte, error) {
	for {
		var n int
		var from unix.Sockaddr
		var opErr error
		err := r.rc.Read(func(fd uintptr) bool {
			for {
				n, from, opErr = unix.Recvfrom(int(fd), r.buf, unix.MSG_DONTWAIT)
				if opErr != unix.EINTR {
					break
				}
			}
			return opErr != unix.EAGAIN || !wait()
		})
		switch {
		case err != nil:
			return 0, nil, err
		case opErr == unix.EAGAIN:
			return 0, nil, errSocketEmpty
		case opErr != nil:
			return 0, nil, opErr
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		if n < unix.NLMSG_HDRLEN {
			continue
		}
		typ := binary.NativeEndian.Uint16(r.buf[4:])
		if typ < unix.NLMSG_MIN_TYPE {
			continue // netlink control message, not a record
		}
		// In multicast copies nlmsg_len covers the whole skb; the
		// datagram's length is the truth either way.
		return typ, r.buf[unix.NLMSG_HDRLEN:n], nil
	}
}

func alwaysWait() bool { return true }

// receive reads records until ctx is done. ctx ending sets a read deadline
// in the past, which wakes the blocked read.
func receive(ctx context.Context, r *reader, t *tally) error {
	stop := context.AfterFunc(ctx, func() { _ = r.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		typ, payload, err := r.read(alwaysWait)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ctx.Err() != nil {
				return nil
			}
			continue
		case errors.Is(err, unix.ENOBUFS):
			t.overrun()
			continue
		case err != nil:
			return fmt.Errorf("receiving audit records: %w", err)
		}
		t.addRecord(time.Now(), typ, payload, time.Time{})
	}
}
