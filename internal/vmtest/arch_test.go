package vmtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestArchKernelArgs(t *testing.T) {
	for _, c := range []struct {
		arch Arch
		want string
	}{
		{"", "console=ttyS0 audit=1 panic=-1 quiet loglevel=4 printk.time=1 tsc=reliable x=1"},
		{AMD64, "console=ttyS0 audit=1 panic=-1 quiet loglevel=4 printk.time=1 tsc=reliable x=1"},
		{ARM64, "console=ttyAMA0 audit=1 panic=-1 quiet loglevel=4 printk.time=1 x=1"},
	} {
		got := strings.Join(kernelArgs(Options{Arch: c.arch, KernelArgs: []string{"x=1"}}), " ")
		if got != c.want {
			t.Errorf("%q: kernel args %q, want %q", c.arch, got, c.want)
		}
	}
	s, err := ARM64.spec()
	if err != nil || !slices.Equal(s.machine, []string{"-M", "virt", "-cpu", "max,pauth-impdef=on"}) {
		t.Errorf("arm64 machine %v, %v", s.machine, err)
	}
	if _, err := Arch("riscv64").qemuBinary(); err == nil {
		t.Error("no error for an unknown arch")
	}
}

func TestArchQemu(t *testing.T) {
	t.Setenv(EnvQemu, "/opt/qemu-x86")
	for a, want := range map[Arch]string{"": "/opt/qemu-x86", AMD64: "/opt/qemu-x86", ARM64: "qemu-system-aarch64"} {
		if got, err := a.qemuBinary(); err != nil || got != want {
			t.Errorf("%q: qemu %q, %v; want %q", a, got, err, want)
		}
	}
}

func TestArchAssets(t *testing.T) {
	dir := t.TempDir()
	if _, err := ArchAssets(dir, ARM64); err == nil || !strings.Contains(err.Error(), "make vm-assets") {
		t.Errorf("incomplete arm64 assets: %v", err)
	}
	arm := filepath.Join(dir, "arm64")
	for _, f := range []string{".complete", "rootfs/bin/busybox"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(arm, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(arm, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := ArchAssets(dir, ARM64); err != nil || got != arm {
		t.Errorf("arm64 assets %q, %v; want %q", got, err, arm)
	}
	if _, err := ArchAssets(dir, AMD64); err == nil {
		t.Error("amd64 assets found in a directory without them")
	}
}
