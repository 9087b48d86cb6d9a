// Package durable makes a file replaced by rename survive a power cut.
//
// renameio syncs the new file before renaming it over the old one, which
// keeps a reader from ever seeing half a file, but the rename itself is a
// change to the directory: until the directory is synced too, a power cut
// may bring back the old file (ext4 commits its journal every 5 s by
// default, later with commit=). fsync(2): "Calling fsync() does not
// necessarily ensure that the entry in the directory containing the file
// has also reached disk. For that an explicit fsync() on a file
// descriptor for the directory is also needed."
package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// SyncDir syncs the directory that holds path, after path was renamed
// into it. A filesystem that cannot sync a directory (EINVAL, ENOTSUP:
// some FUSE and network filesystems) is not an error: there is nothing
// more to do there.
func SyncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("opening the directory of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing the directory of %s: %w", path, err)
	}
	return nil
}
