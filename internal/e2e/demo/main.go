// Command demo is `make demo`: it boots a real Debian kernel under qemu with
// the real auditd, adds audit rules, overloads the backlog with stress-ng
// while `auditprof record` measures it, lets `auditprof recommend --apply`
// decide and set backlog_limit, runs the same load again, and prints what
// auditprof and the kernel's lost counter said each time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditprof/auditprof/internal/vmtest"
)

const script = `
auditd || { echo "auditd failed to start"; exit 1; }
wait_for_auditd 10 || { echo "auditd did not register"; exit 1; }
# A consumer that falls behind during bursts: auditd held to a fifth of the
# guest's one CPU (cgroup v2 cpu.max), as a disk-bound auditd is held by its
# disk; it catches up between bursts.
mkdir -p /sys/fs/cgroup/consumer
echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
echo "20000 100000" > /sys/fs/cgroup/consumer/cpu.max
echo $(pidof auditd) > /sys/fs/cgroup/consumer/cgroup.procs
# A small backlog, as many hosts still have, and rules on openat and chdir.
auditctl -b 256 --backlog_wait_time 0 >/dev/null
auditctl -a always,exit -F arch=b64 -S openat -k file-open >/dev/null
auditctl -a always,exit -F arch=b64 -S chdir -k dir-change >/dev/null
mkdir -p /etc/audit/rules.d
# The load: three bursts of a fixed amount of work, 5 s apart.
load() { for i in 1 2 3; do stress-ng --open 2 --open-ops 1500 --chdir 1 --chdir-dirs 64 --chdir-ops 20 --quiet; sleep 5; done; }
lost() { auditctl -s | awk '$1=="lost"{print $2}'; }
# measure NAME: record the load with auditprof, and the kernel's lost counter around it.
measure() {
	rm -f /tmp/ready
	L0=$(lost)
	auditprof record --ready-file /tmp/ready --output /tmp/$1.json > /tmp/$1.txt 2>&1 &
	AP=$!
	wait_for_file /tmp/ready 60 || { cat /tmp/$1.txt; exit 1; }
	load
	kill -INT $AP; wait $AP
	echo $(( $(lost) - L0 )) > /tmp/$1.lost
	emit $1 /tmp/$1.txt; emit $1.lost /tmp/$1.lost
}
auditprof status > /tmp/status.txt 2>&1; emit status /tmp/status.txt
measure before
auditprof recommend --profile /tmp/before.json --apply --persist /etc/audit/rules.d/50-backlog.rules > /tmp/rec.txt 2>&1
echo $? > /tmp/rec.rc; emit recommend /tmp/rec.txt; emit recommend.rc /tmp/rec.rc
measure after
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
