#!/usr/bin/env bash
# vm-assets-arm64.sh DIR
#
# Prepares the arm64 guest of the VM tests (internal/e2e's TestArm64) in
# DIR/arm64, next to the amd64 assets scripts/vm-assets.sh makes in DIR (run
# it first: the guest's /etc is copied from DIR/rootfs/etc). Debian 12 amd64
# hosts; idempotent, and a no-op when DIR/arm64 is already complete.
#
# Everything arm64 comes from Debian's arm64 archive through apt-get with a
# private state directory (DIR/arm64/.apt: its own package lists, cache and
# an empty dpkg status), unpacked with `dpkg -x`: the host's dpkg, its
# architectures and its apt lists are untouched, and nothing is installed or
# run on the host. Binaries cannot run here, so libraries are resolved from
# the ELF headers (readelf: DT_NEEDED and PT_INTERP), not with ldd.
#
# Layout of DIR/arm64 when complete (vmtest.Kernels(DIR/arm64) lists it):
#   kernels/6.12/{vmlinuz,config,package,version,release,modules/}
#                      vmlinuz is Debian's arm64 image, an uncompressed
#                      Image qemu-system-aarch64 boots as is
#   rootfs/            busybox (static), auditd, auditctl, ausearch,
#                      aureport, ausyscall, stress-ng, their libraries in
#                      /lib/aarch64-linux-gnu, /etc as the amd64 tree's
#   rootfs.manifest    what went into rootfs (packages and versions)
#   .complete          marker; its content is the layout version below
#
# Environment:
#   VM_ASSETS_FORCE=1  rebuild even when the marker is present
#   VM_ASSETS_KEEP=1   keep the downloaded .debs and staging tree (.work)
set -euo pipefail

TAG=vm-assets-arm64
# shellcheck source=lib/vm-assets-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/vm-assets-common.sh"

LAYOUT="auditprof-vm-assets-arm64 v1"

declare -A KERNEL_META=([6.12]=linux-image-6.12-cloud-arm64)
KERNEL_ORDER=(6.12)
GUEST_PKGS=(auditd libaudit1 libauparse0 libcap-ng0 stress-ng libc6 libgcc-s1 busybox-static)
GUEST_BINS=(sbin/auditd sbin/auditctl sbin/ausearch sbin/aureport usr/bin/ausyscall usr/bin/stress-ng)
TRIPLET=aarch64-linux-gnu

[ $# -eq 1 ] || die "usage: $0 DIR (the amd64 assets directory; arm64 goes to DIR/arm64)"
[ -d "$1/rootfs/etc" ] || die "$1/rootfs/etc missing: run scripts/vm-assets.sh $1 first"
TOP=$(cd "$1" && pwd)
DIR="$TOP/arm64"
mkdir -p "$DIR"
START=$(date +%s)
command -v apt-get >/dev/null || die "apt-get not found: a Debian 12 host is required"
command -v readelf >/dev/null || die "readelf not found (binutils)"
command -v busybox >/dev/null || [ -x /bin/busybox ] || die "no host busybox (scripts/vm-assets.sh installs busybox-static)"

if [ "${VM_ASSETS_FORCE:-0}" != 1 ] && [ "$(cat "$DIR/.complete" 2>/dev/null)" = "$LAYOUT" ]; then
	ok=1
	kernels_present || ok=0
	[ -x "$DIR/rootfs/bin/busybox" ] || ok=0
	if [ $ok = 1 ]; then
		step "$DIR is complete ($LAYOUT), nothing to do"
		exit 0
	fi
	step "marker present but files missing, rebuilding"
fi
rm -f "$DIR/.complete"

# ------------------------------------------------------------ private apt
APT="$DIR/.apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
[ -f "$APT/status" ] || : >"$APT/status"
APT_OPTS=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
	-o Dir::State::Lists="$APT/lists" -o Dir::State::status="$APT/status"
	-o Dir::Cache="$APT/cache" -o Debug::NoLocking=1)
# apt may name packages name:arm64; the .debs are arm64 or all.
APT_ARCH=arm64
DEB_ARCHES=(arm64 all)

UPDATED=0
update_lists() {
	[ $UPDATED = 0 ] || return 0
	step "apt-get update (arm64 lists in $APT)"
	apt-get "${APT_OPTS[@]}" update -qq 2>&1 | grep -v -e 'Download is performed unsandboxed' -e "doesn't support architecture" || true
	UPDATED=1
	CAND=()
	SECTION=()
}

# The lists are kept between runs: fetch them only when a package is unknown.
for p in "${KERNEL_META[@]}" "${GUEST_PKGS[@]}"; do
	have_pkg "$p" || update_lists
	have_pkg "$p" || die "package $p (arm64) is not available from the configured apt sources"
done

make_work
# A failed download (lists older than the archive): the lists are fetched
# again once, and the download retried.
on_download_failure() {
	[ $UPDATED = 0 ] || die "download of $* failed"
	update_lists
	resolve "$@"
	apt_download "$@" || true
}

# ---------------------------------------------------------------- kernel
# qemu boots an arm64 Image as is: "ARM\x64" at offset 56.
check_arm64_image() {
	[ "$(dd if="$1" bs=1 skip=56 count=4 2>/dev/null | od -An -tx1 | tr -d ' ')" = 41524d64 ] ||
		die "$1 is not an uncompressed arm64 Image"
}
fetch_kernels check_arm64_image

# ------------------------------------------------------- guest user space
start_stage

# find_lib SONAME: the staged file of that name in the directories the
# guest's ld.so searches (Debian's multiarch directories first).
find_lib() {
	local d
	for d in lib/$TRIPLET usr/lib/$TRIPLET lib usr/lib; do
		if [ -e "$STAGE/$d/$1" ]; then
			echo "$STAGE/$d/$1"
			return 0
		fi
	done
}
needed() { readelf -dW "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# closure: fills LIBS (soname -> staged path) from GUEST_BINS and prints
# "SONAME NEEDER" for every library no staged file provides.
declare -A LIBS=()
closure() {
	local queue=() obj so path
	LIBS=()
	for obj in "${GUEST_BINS[@]}"; do queue+=("$STAGE/$obj"); done
	while [ ${#queue[@]} -gt 0 ]; do
		obj=${queue[0]}
		queue=("${queue[@]:1}")
		while read -r so; do
			[ -n "$so" ] && [ -z "${LIBS[$so]:-}" ] || continue
			path=$(find_lib "$so")
			if [ -z "$path" ]; then
				echo "$so $obj"
				continue
			fi
			LIBS[$so]=$path
			queue+=("$path")
		done < <(needed "$obj")
	done
}

step "guest packages: downloading ${GUEST_PKGS[*]}"
download "${GUEST_PKGS[@]}"
extract "${GUEST_PKGS[@]}"

unresolved() { closure | sort -u; }
fetch_guest_libs unresolved
# closure ran in a subshell above: run it again here to fill LIBS.
closure >/dev/null
step "guest libraries resolved: ${#LIBS[@]} (${#EXTRACTED[@]} packages unpacked)"

copy_guest_bins
mkdir -p "$ROOT/lib/$TRIPLET"
for so in "${!LIBS[@]}"; do cp -L "${LIBS[$so]}" "$ROOT/lib/$TRIPLET/$so"; done
# The program interpreter, at the path the binaries name.
interp=$(readelf -lW "$STAGE/${GUEST_BINS[0]}" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
[ -n "$interp" ] || die "no program interpreter in ${GUEST_BINS[0]}"
for b in "${GUEST_BINS[@]}"; do
	i=$(readelf -lW "$STAGE/$b" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
	[ "$i" = "$interp" ] || die "$b asks for interpreter $i, not $interp"
done
ldso=$(find_lib "$(basename "$interp")")
[ -n "$ldso" ] || die "$interp not found in libc6"
mkdir -p "$ROOT/$(dirname "$interp")"
cp -L "$ldso" "$ROOT/lib/$TRIPLET/$(basename "$interp")"
[ -e "$ROOT$interp" ] || ln -s "$TRIPLET/$(basename "$interp")" "$ROOT$interp"

# Check the rootfs on its own: every object's DT_NEEDED is in it, and every
# object is an aarch64 ELF.
for f in "${GUEST_BINS[@]/#/$ROOT/}" "$ROOT/lib/$TRIPLET"/*; do
	readelf -hW "$f" | grep -q 'Machine:.*AArch64' || die "$f is not an AArch64 ELF"
	while read -r so; do
		[ -e "$ROOT/lib/$TRIPLET/$so" ] || die "$f needs $so, not in the rootfs"
	done < <(needed "$f")
done
step "guest binaries: ${#GUEST_BINS[@]}, libraries: $(find "$ROOT/lib/$TRIPLET" -type f | wc -l), interpreter $interp (checked from the ELF headers)"

# busybox: the arm64 static binary. It cannot run here to list its applets:
# the host's busybox-static of the same Debian release lists them.
bb="$STAGE/bin/busybox"
[ -f "$bb" ] || die "no bin/busybox in busybox-static (arm64)"
readelf -lW "$bb" | grep -q 'program interpreter' && die "arm64 busybox is not static"
hostbb=$(command -v busybox || echo /bin/busybox)
install_busybox "$bb" "$hostbb"
step "busybox ${CAND[busybox-static]} (arm64): $NAPPLETS applet links (list from the host's $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo busybox))"

# /etc as the amd64 guests have it (passwd, group, auditd.conf, the example
# rule sets), and the directories vm-assets.sh makes.
cp -a "$TOP/rootfs/etc" "$ROOT/etc"
make_guest_dirs

{
	echo "# $LAYOUT"
	extracted_list arm64
} >"$DIR/rootfs.manifest"
install_rootfs

if [ "${VM_ASSETS_KEEP:-0}" != 1 ]; then
	rm -rf "$WORK" "$APT/cache"
fi
finish
