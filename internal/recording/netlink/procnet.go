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

// socketDrops is the drop counter of the netlink socket f (sk_drops, which
// netlink_overrun increments for every record the socket had no room for),
// read from /proc/net/netlink by the socket's inode.
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

// parseNetlinkDrops reads the Drops column of the /proc/net/netlink row
// whose Inode is ino. The columns are found by the header's names
// (sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode since 3.x).
func parseNetlinkDrops(r io.Reader, ino uint64) (uint64, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, errors.New("reading netlink sockets: /proc/net/netlink is empty")
	}
	drops, inode := -1, -1
	for i, name := range strings.Fields(sc.Text()) {
		switch name {
		case "Drops":
			drops = i
		case "Inode":
			inode = i
		}
	}
	if drops < 0 || inode < 0 {
		return 0, errors.New("reading netlink sockets: /proc/net/netlink has no Drops and Inode columns")
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) <= max(drops, inode) {
			continue
		}
		if n, err := strconv.ParseUint(f[inode], 10, 64); err != nil || n != ino {
			continue
		}
		d, err := strconv.ParseUint(f[drops], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading netlink sockets: drops %q: %w", f[drops], err)
		}
		return d, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading netlink sockets: %w", err)
	}
	return 0, fmt.Errorf("reading netlink sockets: no socket with inode %d", ino)
}
