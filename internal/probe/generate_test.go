package probe

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGeneratedFilesUpToDate regenerates the bpf2go output into a temporary
// directory with the go:generate line of gen.go and compares it with the
// committed files. It needs clang-14: `make test` installs it and sets
// AUDITPROF_REQUIRE_CLANG=1 so that a missing clang fails instead of skipping.
func TestGeneratedFilesUpToDate(t *testing.T) {
	cc := os.Getenv("BPF2GO_CC")
	if cc == "" {
		cc = "clang-14"
	}
	if _, err := exec.LookPath(cc); err != nil {
		if os.Getenv("AUDITPROF_REQUIRE_CLANG") != "" {
			t.Fatalf("%s not found: run `make deps`", cc)
		}
		t.Skipf("%s not found; `make test` installs it", cc)
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate go tool bpf2go (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no bpf2go line in gen.go")
	}
	out := t.TempDir()
	args := append([]string{"tool", "bpf2go", "-output-dir", out, "-go-package", "probe"}, strings.Fields(string(m[1]))...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "BPF2GO_CC="+cc)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(files) == 0 {
		t.Fatal("bpf2go wrote nothing")
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Base(f))
		if err != nil {
			t.Errorf("%s is not committed: run `make generate`", filepath.Base(f))
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make generate` and commit the result", filepath.Base(f))
		}
	}
}
