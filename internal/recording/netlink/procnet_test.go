package netlink

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// /proc/net/netlink as 6.12 prints it (trimmed).
const procNetlink = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
ffff8c3a41b0c000 0   1          00000550 0        0        0     2        0        1093
ffff8c3a4243b800 9   0          00000001 212992   0        0     2        5755     31337
ffff8c3a4243a000 9   0          00000000 0        0        0     2        0        21
`

func TestParseNetlinkDrops(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		ino        uint64
		want       uint64
		err        bool
	}{
		{name: "our socket", text: procNetlink, ino: 31337, want: 5755},
		{name: "another", text: procNetlink, ino: 21, want: 0},
		{name: "not there", text: procNetlink, ino: 7, err: true},
		{name: "empty", text: "", ino: 7, err: true},
		{name: "no drops column", text: "sk Eth Inode\nffff 9 7\n", ino: 7, err: true},
		{name: "bad number", text: "sk Drops Inode\nffff x 7\n", ino: 7, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetlinkDrops(strings.NewReader(tc.text), tc.ino)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("got %d, %v; want %d, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// The real /proc/net/netlink of this machine names a socket just opened,
// with no drops.
func TestSocketDrops(t *testing.T) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Skipf("no netlink socket here: %v", err)
	}
	f := os.NewFile(uintptr(fd), "netlink")
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	if d, err := socketDrops(f); err != nil || d != 0 {
		t.Fatalf("drops %d, %v", d, err)
	}
}

func TestParseNetlinkSockets(t *testing.T) {
	socks, err := parseNetlinkSockets(strings.NewReader(procNetlink))
	if err != nil || len(socks) != 3 {
		t.Fatalf("%v, %v", socks, err)
	}
	want := Socket{Protocol: 9, Portid: 0, Rmem: 212992, Drops: 5755, Inode: 31337}
	if socks[1] != want {
		t.Fatalf("got %+v, want %+v", socks[1], want)
	}
}
