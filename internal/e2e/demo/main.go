// Command demo is `make demo`: it boots a real Debian kernel under qemu with
// the real auditd, adds audit rules, overloads the backlog with stress-ng
// while `auditprof record` measures it, lets `auditprof recommend --apply`
// decide and set backlog_limit, runs the same load again, and prints what
// auditprof and the kernel's lost counter said each time.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

// script is what the guest runs: see the file.
//
//go:embed demo.sh
var script string

func main() {
	kernelName := flag.String("kernel", "6.12", "Debian kernel to boot: 6.1 or 6.12")
	flag.Parse()
	if err := run(*kernelName); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(kernelName string) error {
	assets, ok := vmtest.AssetsDir()
	if !ok {
		return fmt.Errorf("AUDITPROF_VM_ASSETS is not set: run `make demo`")
	}
	kernels, err := vmtest.Kernels(assets)
	if err != nil {
		return err
	}
	var k *vmtest.Kernel
	for i := range kernels {
		if kernels[i].Name == kernelName {
			k = &kernels[i]
		}
	}
	if k == nil {
		return fmt.Errorf("no kernel %q in %s", kernelName, assets)
	}
	dir, err := os.MkdirTemp("", "auditprof-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "auditprof")
	build := exec.Command("go", "build", "-o", bin, "./cmd/auditprof")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building auditprof: %w", err)
	}

	fmt.Printf("booting Debian %s under qemu (one vCPU, instruction-counted time) with auditd held to a fifth of it;\nbacklog_limit 256, backlog_wait_time 0; ", kernelName)
	fmt.Printf("rules on openat and chdir; the load is three bursts of stress-ng opening files and changing directories.\n")
	fmt.Printf("auditprof records the load, recommends a backlog_limit and applies it, and the same load runs again...\n\n")
	start := time.Now()
	res, err := vmtest.Run(context.Background(), vmtest.Options{
		Kernel:  *k,
		Assets:  assets,
		Files:   map[string]string{"/bin/auditprof": bin},
		Script:  script,
		Timeout: 5 * time.Minute,
	})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("the guest script failed (exit %d):\n%s", res.ExitCode, res.Console)
	}
	fmt.Printf("$ auditprof status\n%s\n", res.Sections["status"])
	fmt.Printf("$ auditprof record --output before.json   (stopped with Ctrl-C after the load)\n%s\n", res.Sections["before"])
	fmt.Printf("$ auditprof recommend --profile before.json --apply --persist /etc/audit/rules.d/50-backlog.rules\n%s\n", res.Sections["recommend"])
	if rc := strings.TrimSpace(res.Sections["recommend.rc"]); rc != "0" {
		return fmt.Errorf("recommend exited %s: the demo stops here", rc)
	}
	fmt.Printf("$ auditprof record --output after.json   (the same load again)\n%s\n", res.Sections["after"])
	fmt.Printf("$ auditprof status\n%s\n", res.Sections["status-after"])
	fmt.Printf("The kernel's own lost counter (AUDIT_GET) over each run of the load: %s before, %s after.\n",
		strings.TrimSpace(res.Sections["before.lost"]), strings.TrimSpace(res.Sections["after.lost"]))
	fmt.Printf("(demo took %s)\n", time.Since(start).Round(time.Second))
	return nil
}
