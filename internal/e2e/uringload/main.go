// Command uringload is TestUring's guest helper: it loads an io_uring audit
// rule, which Debian 12's auditctl (3.0.9) cannot (the io_uring filter came
// in audit-userspace 3.1), and makes a known number of io_uring openat
// operations.
//
//	uringload rule KEY OPCODE...  add `-a always,io_uring -S OPCODE... -k KEY`
//	uringload open N async|inline  N IORING_OP_OPENAT of /etc/passwd, one
//	                               io_uring_enter each, each fd closed with
//	                               close(2); async sets IOSQE_ASYNC, so that an
//	                               io-wq worker runs the operation
//	                               (AUDIT_CTX_URING), inline lets
//	                               io_uring_enter run it where it can
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "uringload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) >= 3 && args[0] == "rule":
		var ops []int
		for _, a := range args[2:] {
			op, err := strconv.Atoi(a)
			if err != nil {
				return fmt.Errorf("parsing opcode %q: %w", a, err)
			}
			ops = append(ops, op)
		}
		return addRule(args[1], ops)
	case len(args) == 3 && args[0] == "open":
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("parsing count %q: %w", args[1], err)
		}
		return open(n, args[2] == "async")
	}
	return errors.New("usage: uringload rule KEY OPCODE... | uringload open N async|inline")
}

// Constants of include/uapi/linux/audit.h.
const (
	auditAddRule      = 1011
	auditFilterUring  = 0x07 // AUDIT_FILTER_URING_EXIT, 5.16+
	auditAlways       = 2
	auditFilterkey    = 210
	auditEqual        = 0x40000000
	auditBitmaskSize  = 64
	auditMaxFields    = 64
	ruleDataFixedSize = 4*3 + 4*auditBitmaskSize + 3*4*auditMaxFields + 4
)

// addRule sends AUDIT_ADD_RULE with a struct audit_rule_data for the
// io_uring list: the opcodes in the mask (audit_filter_uring tests
// ctx->uring_op against it), the key as the one field.
func addRule(key string, ops []int) error {
	b := make([]byte, ruleDataFixedSize+len(key))
	le := binary.LittleEndian
	le.PutUint32(b[0:], auditFilterUring)
	le.PutUint32(b[4:], auditAlways)
	le.PutUint32(b[8:], 1)
	for _, op := range ops {
		w := 12 + 4*(op/32)
		le.PutUint32(b[w:], le.Uint32(b[w:])|1<<(op%32))
	}
	fields := 12 + 4*auditBitmaskSize
	values := fields + 4*auditMaxFields
	fieldflags := values + 4*auditMaxFields
	le.PutUint32(b[fields:], auditFilterkey)
	le.PutUint32(b[values:], uint32(len(key)))
	le.PutUint32(b[fieldflags:], auditEqual)
	le.PutUint32(b[fieldflags+4*auditMaxFields:], uint32(len(key)))
	copy(b[ruleDataFixedSize:], key)

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT)
	if err != nil {
		return fmt.Errorf("opening the audit socket: %w", err)
	}
	defer unix.Close(fd)
	msg := make([]byte, unix.NLMSG_HDRLEN+len(b))
	le.PutUint32(msg[0:], uint32(len(msg)))
	le.PutUint16(msg[4:], auditAddRule)
	le.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	le.PutUint32(msg[8:], 1)
	copy(msg[unix.NLMSG_HDRLEN:], b)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending the rule: %w", err)
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if n < unix.NLMSG_HDRLEN+4 || le.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("reading the answer: unexpected message type %d", le.Uint16(buf[4:]))
	}
	if e := int32(le.Uint32(buf[unix.NLMSG_HDRLEN:])); e != 0 {
		return fmt.Errorf("adding the rule: %w", unix.Errno(-e))
	}
	return nil
}

// Constants of include/uapi/linux/io_uring.h.
const (
	ioringOpOpenat      = 18
	iosqeAsync          = 1 << 4
	ioringEnterGetevts  = 1
	ioringOffSqRing     = 0
	ioringOffCqRing     = 0x8000000
	ioringOffSqes       = 0x10000000
	ioringFeatSingleMap = 1
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr (u64)
	cqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, user_addr (u64)
}

var path = []byte("/etc/passwd\x00")

func u32(m []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }

func open(n int, async bool) error {
	var p params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return fmt.Errorf("setting up the ring: %w", errno)
	}
	defer unix.Close(int(fd))
	if p.features&ioringFeatSingleMap == 0 {
		return errors.New("setting up the ring: no IORING_FEAT_SINGLE_MMAP (kernel before 5.4)")
	}
	sqSize := p.sqOff[6] + p.sqEntries*4
	if cq := p.cqOff[5] + p.cqEntries*16; cq > sqSize {
		sqSize = cq
	}
	ring, err := unix.Mmap(int(fd), ioringOffSqRing, int(sqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mapping the rings: %w", err)
	}
	sqes, err := unix.Mmap(int(fd), ioringOffSqes, int(p.sqEntries*64), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mapping the submission entries: %w", err)
	}
	sqTail, sqMask, sqArray := u32(ring, p.sqOff[1]), *u32(ring, p.sqOff[2]), p.sqOff[6]
	cqHead, cqTail, cqMask, cqes := u32(ring, p.cqOff[0]), u32(ring, p.cqOff[1]), *u32(ring, p.cqOff[2]), p.cqOff[5]
	var flags byte
	if async {
		flags = iosqeAsync
	}
	le := binary.LittleEndian
	failed := 0
	for i := 0; i < n; i++ {
		tail := atomic.LoadUint32(sqTail)
		idx := tail & sqMask
		sqe := sqes[idx*64 : idx*64+64]
		clear(sqe)
		sqe[0] = ioringOpOpenat
		sqe[1] = flags
		fdcwd := int32(unix.AT_FDCWD)
		le.PutUint32(sqe[4:], uint32(fdcwd))
		le.PutUint64(sqe[16:], uint64(uintptr(unsafe.Pointer(&path[0]))))
		le.PutUint32(sqe[28:], unix.O_RDONLY|unix.O_CLOEXEC)
		le.PutUint64(sqe[32:], uint64(i))
		*u32(ring, sqArray+4*idx) = idx
		atomic.StoreUint32(sqTail, tail+1)
		if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, fd, 1, 1, ioringEnterGetevts, 0, 0); errno != 0 {
			return fmt.Errorf("entering the ring: %w", errno)
		}
		head := atomic.LoadUint32(cqHead)
		if head == atomic.LoadUint32(cqTail) {
			return fmt.Errorf("operation %d: no completion", i)
		}
		res := int32(le.Uint32(ring[cqes+(head&cqMask)*16+8:]))
		atomic.StoreUint32(cqHead, head+1)
		if res < 0 {
			failed++
			continue
		}
		unix.Close(int(res))
	}
	runtime.KeepAlive(path)
	if failed > 0 {
		return fmt.Errorf("%d of %d opens failed", failed, n)
	}
	return nil
}
