package vmtest

import (
	"bufio"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Guest paths of the files Run adds to every initramfs.
const (
	guestInit   = "/init"
	guestLib    = "/vmtest/lib.sh"
	guestScript = "/vmtest/script.sh"
)

// libSh defines the helpers every script can call (emit, wait_for_file,
// wait_for_pid, wait_for_auditd): see the file.
//
//go:embed lib.sh
var libSh string

// initSh is the guest's /init (busybox sh, PID 1).
//
//go:embed init.sh
var initSh string

// entry is one member of the initramfs.
type entry struct {
	mode   uint32 // cpio mode: type bits and permissions
	host   string // host file to copy (regular files)
	data   string // contents when host is empty (regular files, symlink target)
	devMaj uint32 // device numbers (character devices)
	devMin uint32
	mtime  int64
}

const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

// tree is the set of entries of the initramfs by guest path (no leading
// slash). Adding a path again replaces the earlier entry.
type tree struct {
	m map[string]*entry
}

func (t *tree) add(p string, e *entry) { t.m[p] = e }

// mkdirAll adds the directories leading to p.
func (t *tree) mkdirAll(p string) {
	dir := path.Dir(p)
	if dir == "." || dir == "/" || dir == "" {
		return
	}
	if _, ok := t.m[dir]; ok {
		return // a directory, or a symlink the kernel follows
	}
	t.mkdirAll(dir)
	t.add(dir, &entry{mode: cpioDir | 0o755})
}

// addHost adds host path src (following symlinks, recursing into
// directories) as guest path dst.
func (t *tree) addHost(dst, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	t.mkdirAll(dst)
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file or directory", src)
		}
		t.add(dst, &entry{mode: cpioReg | uint32(fi.Mode().Perm()), host: src, mtime: fi.ModTime().Unix()})
		return nil
	}
	t.add(dst, &entry{mode: cpioDir | uint32(fi.Mode().Perm())})
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := t.addHost(path.Join(dst, e.Name()), filepath.Join(src, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// addRootfs adds the tree under root as is (symlinks kept).
func (t *tree) addRootfs(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		perm := uint32(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSticky != 0 {
			perm |= 0o1000
		}
		switch {
		case fi.IsDir():
			t.add(rel, &entry{mode: cpioDir | perm})
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			t.add(rel, &entry{mode: cpioLink | 0o777, data: target})
		case fi.Mode().IsRegular():
			t.add(rel, &entry{mode: cpioReg | perm, host: p, mtime: fi.ModTime().Unix()})
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, fi.Mode().Type())
		}
		return nil
	})
}

// buildInitramfs writes a gzip-compressed newc cpio archive to out: the tree
// under rootfs, then files (guest path -> host path), /dev/console, the
// helpers, the script and /init. It returns the archive's size.
func buildInitramfs(out, rootfs string, files map[string]string, script string) (int64, error) {
	t := &tree{m: map[string]*entry{}}
	if _, err := os.Stat(rootfs); err != nil {
		return 0, fmt.Errorf("base rootfs: %w", err)
	}
	if err := t.addRootfs(rootfs); err != nil {
		return 0, fmt.Errorf("reading base rootfs: %w", err)
	}
	guests := make([]string, 0, len(files))
	for g := range files {
		guests = append(guests, g)
	}
	sort.Strings(guests)
	for _, g := range guests {
		if !strings.HasPrefix(g, "/") {
			return 0, fmt.Errorf("guest path %q is not absolute", g)
		}
		dst := strings.TrimPrefix(path.Clean(g), "/")
		if dst == "" {
			return 0, fmt.Errorf("guest path %q names the root", g)
		}
		if err := t.addHost(dst, files[g]); err != nil {
			return 0, fmt.Errorf("adding %s: %w", g, err)
		}
	}
	t.mkdirAll("dev/console")
	t.add("dev/console", &entry{mode: cpioChr | 0o600, devMaj: 5, devMin: 1})
	for p, body := range map[string]string{guestLib: libSh, guestScript: script, guestInit: initSh} {
		p = strings.TrimPrefix(p, "/")
		t.mkdirAll(p)
		t.add(p, &entry{mode: cpioReg | 0o755, data: body})
	}

	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	if err := t.write(zw); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// write writes the tree as a newc cpio archive, parents before children.
func (t *tree) write(w io.Writer) error {
	paths := make([]string, 0, len(t.m))
	for p := range t.m {
		paths = append(paths, p)
	}
	// Sorting by path puts every directory before its contents.
	sort.Strings(paths)
	cw := &cpioWriter{w: w}
	for _, p := range paths {
		if err := cw.writeEntry(p, t.m[p]); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return cw.trailer()
}

// cpioWriter writes the "newc" (070701) cpio format the kernel unpacks.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	off int64
}

func (c *cpioWriter) header(name string, mode uint32, size int64, mtime int64, rmaj, rmin uint32) error {
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	if size > 0xffffffff {
		return fmt.Errorf("file too large for cpio: %d bytes", size)
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, uint32(mtime), uint32(size), 0, 0, rmaj, rmin, len(name)+1, 0)
	if err := c.put([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) put(b []byte) error {
	n, err := c.w.Write(b)
	c.off += int64(n)
	return err
}

func (c *cpioWriter) pad() error {
	if r := c.off % 4; r != 0 {
		return c.put(make([]byte, 4-r))
	}
	return nil
}

func (c *cpioWriter) writeEntry(name string, e *entry) error {
	switch e.mode & 0o170000 {
	case cpioReg:
		if e.host == "" {
			if err := c.header(name, e.mode, int64(len(e.data)), e.mtime, 0, 0); err != nil {
				return err
			}
			if err := c.put([]byte(e.data)); err != nil {
				return err
			}
			return c.pad()
		}
		f, err := os.Open(e.host)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := c.header(name, e.mode, fi.Size(), e.mtime, 0, 0); err != nil {
			return err
		}
		n, err := io.Copy(c.w, f)
		c.off += n
		if err != nil {
			return err
		}
		if n != fi.Size() {
			return fmt.Errorf("%s changed size while copying", e.host)
		}
		return c.pad()
	case cpioLink:
		if err := c.header(name, e.mode, int64(len(e.data)), 0, 0, 0); err != nil {
			return err
		}
		if err := c.put([]byte(e.data)); err != nil {
			return err
		}
		return c.pad()
	case cpioChr:
		return c.header(name, e.mode, 0, 0, e.devMaj, e.devMin)
	default:
		return c.header(name, e.mode, 0, 0, 0, 0)
	}
}

func (c *cpioWriter) trailer() error {
	return c.header("TRAILER!!!", 0, 0, 0, 0, 0)
}
