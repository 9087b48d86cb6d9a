package netlink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Socket is one row of /proc/net/netlink.
type Socket struct {
	Protocol uint32 // Eth: NETLINK_AUDIT is 9
	Portid   uint32 // Pid
	Rmem     uint64 // bytes queued, unread
	Drops    uint64 // sk_drops: netlink_overrun counts every record it had no room for
	Inode    uint64
}

// socketDrops is the drop counter of the netlink socket f, read from
// /proc/net/netlink by the socket's inode.
func socketDrops(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("reading the socket's inode: %w", err)
	}
	pf, err := os.Open("/proc/net/netlink")
	if err != nil {
		return 0, fmt.Errorf("reading netlink sockets: %w", err)
	}
	defer pf.Close()
	return parseNetlinkDrops(pf, st.Ino)
}

// AuditSocket is the audit netlink socket (NETLINK_AUDIT) bound to portid
// in this network namespace: auditd's, when portid is the one kauditd
// sends to.
func AuditSocket(portid uint32) (Socket, error) {
	pf, err := os.Open("/proc/net/netlink")
	if err != nil {
		return Socket{}, fmt.Errorf("reading netlink sockets: %w", err)
	}
	defer pf.Close()
	socks, err := parseNetlinkSockets(pf)
	if err != nil {
		return Socket{}, err
	}
	for _, s := range socks {
		if s.Protocol == unix.NETLINK_AUDIT && s.Portid == portid {
			return s, nil
		}
	}
	return Socket{}, fmt.Errorf("reading netlink sockets: no audit socket with portid %d", portid)
}

// parseNetlinkDrops reads the Drops column of the /proc/net/netlink row
// whose Inode is ino.
func parseNetlinkDrops(r io.Reader, ino uint64) (uint64, error) {
	socks, err := parseNetlinkSockets(r)
	if err != nil {
		return 0, err
	}
	for _, s := range socks {
		if s.Inode == ino {
			return s.Drops, nil
		}
	}
	return 0, fmt.Errorf("reading netlink sockets: no socket with inode %d", ino)
}

// parseNetlinkSockets reads /proc/net/netlink. The columns are found by
// the header's names (sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
// since 3.x); Drops and Inode are required, the others read as 0 when
// absent. Rows too short or with a malformed inode are skipped.
func parseNetlinkSockets(r io.Reader) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return nil, errors.New("reading netlink sockets: /proc/net/netlink is empty")
	}
	col := map[string]int{}
	for i, name := range strings.Fields(sc.Text()) {
		col[name] = i
	}
	drops, okD := col["Drops"]
	inode, okI := col["Inode"]
	if !okD || !okI {
		return nil, errors.New("reading netlink sockets: /proc/net/netlink has no Drops and Inode columns")
	}
	var out []Socket
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) <= max(drops, inode) {
			continue
		}
		var s Socket
		var err error
		if s.Inode, err = strconv.ParseUint(f[inode], 10, 64); err != nil {
			continue
		}
		if s.Drops, err = strconv.ParseUint(f[drops], 10, 64); err != nil {
			return nil, fmt.Errorf("reading netlink sockets: drops %q: %w", f[drops], err)
		}
		num := func(name string, bits int) uint64 {
			i, ok := col[name]
			if !ok || i >= len(f) {
				return 0
			}
			n, _ := strconv.ParseUint(f[i], 10, bits)
			return n
		}
		s.Protocol = uint32(num("Eth", 32))
		s.Portid = uint32(num("Pid", 32))
		s.Rmem = num("Rmem", 64)
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading netlink sockets: %w", err)
	}
	return out, nil
}
