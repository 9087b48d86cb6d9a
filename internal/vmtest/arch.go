package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Arch is a guest's architecture (Options.Arch): which qemu runs it, on
// which machine and CPU, and where its console is. The zero value is
// AMD64.
type Arch string

const (
	// AMD64: qemu-system-x86_64 (or AUDITPROF_QEMU), -cpu max, console
	// ttyS0. Its assets are the directory scripts/vm-assets.sh makes.
	AMD64 Arch = "amd64"
	// ARM64: qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on
	// (without pauth-impdef qemu emulates pointer authentication's QARMA
	// cipher, and a boot takes about twice as long), console ttyAMA0;
	// the kernel is the uncompressed Image Debian ships as vmlinuz. Its
	// assets are DIR/arm64, made by scripts/vm-assets-arm64.sh (see
	// ArchAssets).
	ARM64 Arch = "arm64"
)

type archSpec struct {
	qemu    string   // qemu binary
	machine []string // qemu arguments: machine and CPU
	console string   // the serial console's device
	notArgs []string // BaseKernelArgs that do not apply
	subdir  string   // its assets, under the amd64 assets directory
	script  string   // what makes them
}

var archSpecs = map[Arch]archSpec{
	AMD64: {qemu: "qemu-system-x86_64", machine: []string{"-cpu", "max"}, console: "ttyS0"},
	ARM64: {qemu: "qemu-system-aarch64", machine: []string{"-M", "virt", "-cpu", "max,pauth-impdef=on"},
		console: "ttyAMA0", notArgs: []string{"tsc=reliable"}, subdir: "arm64",
		script: "scripts/vm-assets-arm64.sh"},
}

func (a Arch) spec() (archSpec, error) {
	if a == "" {
		a = AMD64
	}
	s, ok := archSpecs[a]
	if !ok {
		return archSpec{}, fmt.Errorf("unknown arch %q", string(a))
	}
	return s, nil
}

// qemuBinary is the qemu a guest of arch a runs in: AUDITPROF_QEMU, when
// set, replaces the amd64 one only.
func (a Arch) qemuBinary() (string, error) {
	s, err := a.spec()
	if err != nil {
		return "", err
	}
	if q := os.Getenv(EnvQemu); q != "" && (a == "" || a == AMD64) {
		return q, nil
	}
	return s.qemu, nil
}

// kernelArgs is BaseKernelArgs for this arch: its console, without the
// arguments that concern only x86 (tsc=).
func (s archSpec) kernelArgs(base []string) []string {
	var out []string
	for _, a := range base {
		switch {
		case slices.Contains(s.notArgs, a):
		case a == "console=ttyS0":
			out = append(out, "console="+s.console)
		default:
			out = append(out, a)
		}
	}
	return out
}

// ArchAssets returns the assets of guests of arch a, given the directory
// scripts/vm-assets.sh made (AUDITPROF_VM_ASSETS): that directory itself
// for amd64, its arm64 subdirectory (scripts/vm-assets-arm64.sh) for arm64.
// It is an error when they are not complete. Kernels and Options.Assets
// take the directory it returns.
func ArchAssets(dir string, a Arch) (string, error) {
	s, err := a.spec()
	if err != nil {
		return "", err
	}
	if s.subdir == "" {
		if err := checkAssets(dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	d := filepath.Join(dir, s.subdir)
	for _, f := range []string{".complete", "rootfs/bin/busybox"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			return "", fmt.Errorf("%s assets incomplete (`make vm-assets`, or %s %s, makes them): %w", a, s.script, dir, err)
		}
	}
	return d, nil
}
