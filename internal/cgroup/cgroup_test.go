package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOwnCgroup finds this test's own cgroup by its inode, the id BPF
// reports, on this machine's real cgroup2 tree.
func TestOwnCgroup(t *testing.T) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	var own string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	if !IsV2(Root) {
		t.Skipf("%s is not a cgroup2 mount here (cgroup v1); the VM tests cover it", Root)
	}
	var st syscall.Stat_t
	if own == "" || syscall.Stat(filepath.Join(Root, own), &st) != nil {
		t.Skipf("no cgroup2 tree at %s for %q", Root, own)
	}
	got := Paths(Root, []uint64{st.Ino, 0, 1 << 62})
	if got[st.Ino] != own {
		t.Errorf("Paths(%d) = %q, want %q (all: %v)", st.Ino, got[st.Ino], own, got)
	}
	if len(got) != 1 {
		t.Errorf("unknown ids named: %v", got)
	}
}

// TestNotCgroup2: a directory of another filesystem names nothing, even
// an id that is one of its inodes.
func TestNotCgroup2(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := Paths(dir, []uint64{st.Ino}); len(got) != 0 {
		t.Errorf("Paths = %v", got)
	}
}

// TestWalk names directories by inode on a tree made here, and stops at
// what it was asked for.
func TestWalk(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"system.slice/sshd.service", "machine.slice/ctr-1", "user.slice"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ino := func(rel string) uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(root, rel), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	got := walk(root, []uint64{ino("machine.slice/ctr-1"), ino("system.slice/sshd.service"), ino("."), 0, 1 << 62})
	want := map[uint64]string{ino("machine.slice/ctr-1"): "/machine.slice/ctr-1", ino("system.slice/sshd.service"): "/system.slice/sshd.service", ino("."): "/"}
	if len(got) != len(want) {
		t.Fatalf("walk = %v, want %v", got, want)
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("id %d: %q, want %q", id, got[id], p)
		}
	}
}
