// Package cgroup names cgroup v2 ids: the id bpf_get_current_cgroup_id()
// returns is the kernfs id of the cgroup's directory, which on 64-bit
// kernels is also its inode number under the cgroup2 mount (kernel
// commit 67c0496e87d1, 5.5: kernfs ids are inode numbers).
package cgroup

import (
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Root is where cgroup2 is mounted on systemd hosts and in the test VMs.
const Root = "/sys/fs/cgroup"

// IsV2 reports whether root is a cgroup2 mount.
func IsV2(root string) bool {
	var st unix.Statfs_t
	return unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// Paths returns the path (relative to root, with a leading "/", as
// /proc/PID/cgroup prints it) of each id it finds under root. It walks
// directories only and stops once every id is found; ids of cgroups
// removed since are simply absent. Unreadable parts of the tree are
// skipped: the names are a convenience, never a reason to fail.
func Paths(root string, ids []uint64) map[uint64]string {
	if !IsV2(root) {
		// Inode numbers of another filesystem (cgroup v1 hierarchies on
		// a tmpfs) would name the wrong directories.
		return map[uint64]string{}
	}
	return walk(root, ids)
}

// walk names the ids among the inode numbers of the directories under root.
func walk(root string, ids []uint64) map[uint64]string {
	want := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		if id != 0 {
			want[id] = true
		}
	}
	out := make(map[uint64]string, len(want))
	if len(want) == 0 {
		return out
	}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fs.SkipDir
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || !want[st.Ino] {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return nil
		}
		if rel == "." {
			rel = ""
		}
		out[st.Ino] = "/" + rel
		if len(out) == len(want) {
			return fs.SkipAll
		}
		return nil
	})
	return out
}
