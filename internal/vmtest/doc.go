// Package vmtest boots real Debian kernels under qemu (TCG, no KVM needed)
// with a busybox initramfs and runs a shell script inside, so that tests can
// do what must not, or cannot, happen on the host: enable audit, load rules,
// run auditd, attach fentry and kprobe programs to audit functions.
//
// A test takes the assets directory from [AssetsOrSkip] (it skips when
// AUDITPROF_VM_ASSETS is unset), a kernel from [Kernels], and calls [Run]:
//
//	assets := vmtest.AssetsOrSkip(t)
//	kernels, err := vmtest.Kernels(assets)
//	...
//	res, err := vmtest.Run(ctx, vmtest.Options{
//		Kernel: kernels[0],
//		Assets: assets,
//		Files:  map[string]string{"/bin/auditprof": bin},
//		Vars:   map[string]string{"DURATION": "5s"},
//		Script: `auditd && wait_for_auditd 10
//	auditprof record --duration $DURATION --output /tmp/p.json
//	emit profile /tmp/p.json`,
//	})
//	// res.ExitCode, res.Sections["profile"], res.Console
//
// The guest's /init is init.sh: it mounts what the tests use (proc, sysfs,
// tracefs, bpffs, cgroup2, tmpfs on /tmp and /var/log/audit), then runs
// lib.sh and the script in one busybox sh from /tmp, and powers off. lib.sh
// holds the helpers a script can call: emit (a file or stdin as a section of
// Result.Sections, checked by its sha256), wait_for_file, wait_for_pid and
// wait_for_auditd. The root is all in RAM; what the test needs back, the
// script emits. The base tree (scripts/vm-assets.sh) has busybox, auditd,
// auditctl, ausearch, aureport, ausyscall and stress-ng, and auditd's
// example rule sets in /etc/audit/examples.
//
// Every guest runs in instruction-counted time (qemu -icount, one TCG
// thread): its clocks follow the instructions it executes, not the host's
// speed or load (docs/testing.md, "Guest time"). Timeouts are host wall
// time and must leave room for a slow host. Options.Arch = ARM64 boots an
// arm64 kernel from ArchAssets(DIR, ARM64) (scripts/vm-assets-arm64.sh).
//
// Environment: AUDITPROF_VM_ASSETS names the assets directory
// (scripts/vm-assets.sh DIR; `make test` sets it), AUDITPROF_QEMU a qemu to
// use instead of qemu-system-x86_64 from PATH.
package vmtest
