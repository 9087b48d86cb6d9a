#!/usr/bin/env bash
# Installs the host packages `make generate`, `make test` and `make demo`
# need, when missing. Debian 12 (the CI and dev machines); run as root.
# auditd is deliberately NOT installed on the host: the tests run it inside
# the VM, and its package would start it (and enable audit) here.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang-14 || need+=(clang-14)
have llvm-strip-14 || need+=(llvm-14)
# chromium: the report package's browser test (AUDITPROF_REQUIRE_BROWSER=1)
# renders the HTML report headless at this exact path.
[ -x /usr/bin/chromium ] || need+=(chromium)
# qemu-system-arm: the arm64 guest (internal/e2e's TestArm64). Installing it
# may upgrade qemu-system-x86 to the same version.
have qemu-system-aarch64 || need+=(qemu-system-arm)
# mkfs.ext4: internal/e2e's TestPowerCut makes an ext4 disk for the guest.
have mkfs.ext4 || [ -x /sbin/mkfs.ext4 ] || need+=(e2fsprogs)
# `make lint-sh` runs shellcheck on the guest scripts and these.
have shellcheck || need+=(shellcheck)
if [ ${#need[@]} -gt 0 ]; then
	echo "install-deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
echo "install-deps: clang-14, llvm-14, chromium, qemu-system-arm, e2fsprogs, shellcheck present"
