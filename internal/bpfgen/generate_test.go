package bpfgen

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	generateLine = regexp.MustCompile(`(?m)^//go:generate go tool bpf2go (.*)$`)
	packageLine  = regexp.MustCompile(`(?m)^package (\w+)`)
)

// TestGeneratedFilesUpToDate regenerates, for every gen.go in the module
// with a bpf2go line, the output into a temporary directory and compares it
// with the committed files. It needs clang-14: `make test` installs it and
// sets AUDITPROF_REQUIRE_CLANG=1 so that a missing clang fails instead of
// skipping.
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
	var gens []string
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".cache") {
			return filepath.SkipDir
		}
		if d.Name() == "gen.go" {
			gens = append(gens, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, gen := range gens {
		src, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		m := generateLine.FindSubmatch(src)
		if m == nil {
			continue
		}
		n++
		pkg := packageLine.FindSubmatch(src)
		if pkg == nil {
			t.Fatalf("%s: no package line", gen)
		}
		t.Run(filepath.Dir(gen), func(t *testing.T) {
			checkGenerated(t, filepath.Dir(gen), string(pkg[1]), strings.Fields(string(m[1])), cc)
		})
	}
	if n < 2 {
		t.Fatalf("found %d bpf2go lines, want internal/probe's and internal/e2e/floor's", n)
	}
}

func checkGenerated(t *testing.T, dir, pkg string, args []string, cc string) {
	out := t.TempDir()
	cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", out, "-go-package", pkg}, args...)...)
	cmd.Dir = dir
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
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil {
			t.Errorf("%s is not committed: run `make generate`", filepath.Join(dir, filepath.Base(f)))
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make generate` and commit the result", filepath.Join(dir, filepath.Base(f)))
		}
	}
}
