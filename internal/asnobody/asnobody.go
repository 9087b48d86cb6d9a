// Package asnobody lets a test run its own binary as user nobody, to see
// the real kernel refuse a user without capabilities. Tests only.
package asnobody

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// ID is nobody's uid and gid.
const ID = 65534

// Copy copies the running test binary where nobody can execute it (the
// go tool's build directory and t.TempDir's parent are 0700) and returns
// its path; the copy is removed when the test ends.
func Copy(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "asnobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, filepath.Base(self))
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// Command runs exe (a Copy) as nobody.
func Command(exe string, args ...string) *exec.Cmd {
	c := exec.Command(exe, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: ID, Gid: ID}}
	return c
}
