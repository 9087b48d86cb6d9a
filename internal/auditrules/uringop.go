package auditrules

// uringOps names the io_uring opcodes (IORING_OP_*, without the prefix, in
// lower case, as audit-userspace's uringop table and `auditctl -a
// always,io_uring -S` spell them), as of Linux 6.12's
// include/uapi/linux/io_uring.h (IORING_OP_LAST 58). Not every opcode is
// audited: io_uring/opdef.c marks the cheap ones audit_skip (read, write,
// nop...), which never make a record.
var uringOps = [...]string{
	"nop", "readv", "writev", "fsync", "read_fixed", "write_fixed", "poll_add", "poll_remove",
	"sync_file_range", "sendmsg", "recvmsg", "timeout", "timeout_remove", "accept", "async_cancel",
	"link_timeout", "connect", "fallocate", "openat", "close", "files_update", "statx", "read", "write",
	"fadvise", "madvise", "send", "recv", "openat2", "epoll_ctl", "splice", "provide_buffers",
	"remove_buffers", "tee", "shutdown", "renameat", "unlinkat", "mkdirat", "symlinkat", "linkat",
	"msg_ring", "fsetxattr", "setxattr", "fgetxattr", "getxattr", "socket", "uring_cmd", "send_zc",
	"sendmsg_zc", "read_multishot", "waitid", "futex_wait", "futex_wake", "futex_waitv",
	"fixed_fd_install", "ftruncate", "bind", "listen",
}

// UringOpName is the io_uring opcode's name ("openat" for
// IORING_OP_OPENAT), or "" when it is newer than the table.
func UringOpName(op int32) string {
	if op < 0 || int(op) >= len(uringOps) {
		return ""
	}
	return uringOps[op]
}
