// Command demo is `make demo`: it boots a real Debian kernel under qemu with
// the real auditd, adds an audit rule, overloads the backlog with stress-ng
// while `auditprof record` measures it, and prints what auditprof printed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

const script = `
auditd || { echo "auditd failed to start"; exit 1; }
while [ "$(auditctl -s | awk '$1=="pid"{print $2}')" = "0" ]; do sleep 0.1; done
# A small backlog, as many hosts still have, and a rule on every openat.
auditctl -b 256 --backlog_wait_time 0 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -k file-open >/dev/null
auditctl -a always,exit -F arch=b64 -S chdir -k dir-change >/dev/null
auditprof status > /tmp/status.txt 2>&1; emit status /tmp/status.txt
auditprof record --ready-file /tmp/ready --output /tmp/profile.json > /tmp/summary.txt 2>&1 &
AP=$!
wait_for_file /tmp/ready 60 || { cat /tmp/summary.txt; exit 1; }
stress-ng --open 2 --chdir 1 --timeout 8s --quiet
sleep 1
kill -INT $AP; wait $AP
emit summary /tmp/summary.txt
auditprof status > /tmp/status2.txt 2>&1; emit status-after /tmp/status2.txt
`

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

	fmt.Printf("booting Debian %s under qemu with auditd; backlog_limit 256, backlog_wait_time 0;\n", kernelName)
	fmt.Printf("stress-ng opens files for 8 s while `auditprof record` measures...\n\n")
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
	fmt.Printf("$ auditprof record   (stopped with Ctrl-C after the load)\n%s\n", res.Sections["summary"])
	fmt.Printf("$ auditprof status\n%s\n", res.Sections["status-after"])
	fmt.Printf("(demo took %s)\n", time.Since(start).Round(time.Second))
	return nil
}
