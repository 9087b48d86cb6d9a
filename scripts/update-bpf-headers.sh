#!/usr/bin/env bash
# Regenerate the BPF C headers under bpf/headers/ (CO-RE, used by bpf2go):
#
#   bpf/headers/vmlinux.h         arch dispatcher (__TARGET_ARCH_x86 / __TARGET_ARCH_arm64)
#   bpf/headers/vmlinux_x86.h     bpftool btf dump of Debian 12's linux-image-cloud-amd64 kernel
#   bpf/headers/vmlinux_arm64.h   bpftool btf dump of Debian 12's linux-image-cloud-arm64 kernel
#   bpf/headers/bpf/*.h           libbpf's BPF-side headers from Debian 12's libbpf-dev
#   bpf/headers/README.md         provenance and versions
#
# The kernel BTF is taken from the vmlinuz in the linux-image .deb (no -dbg package needed):
#   amd64: bzImage -> compressed payload -> ELF vmlinux with a .BTF section
#   arm64: (optionally compressed) raw Image -> the raw BTF blob is cut out by its header
#
# Packages are downloaded from the Debian mirrors configured for apt, using a private
# apt state directory (no dpkg --add-architecture, nothing is installed from them).
# Missing tools (bpftool, lz4, xz, zstd) are installed with apt-get when run as root.
#
# Idempotent: files are only rewritten when their content changes.
# Usage (root, Debian 12): scripts/update-bpf-headers.sh
# Env: META_AMD64 / META_ARM64 override the kernel meta packages
#      (default linux-image-cloud-amd64 / linux-image-cloud-arm64);
#      KEEP_WORKDIR=1 keeps the temporary download directory.
set -euo pipefail
export LC_ALL=C

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$REPO_ROOT/bpf/headers"
META_AMD64=${META_AMD64:-linux-image-cloud-amd64}
META_ARM64=${META_ARM64:-linux-image-cloud-arm64}
LIBBPF_HEADERS=(bpf_helpers.h bpf_helper_defs.h bpf_tracing.h bpf_core_read.h bpf_endian.h)
# Types that must be present in every generated vmlinux_<arch>.h.
REQUIRED_TYPES=(task_struct pt_regs sk_buff sk_buff_head skb_shared_info audit_context audit_buffer)
REQUIRED_TYPES_arm64=(user_pt_regs)

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need CMD PKG: make sure CMD exists, installing Debian package PKG if we are root.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "'$1' not found; install Debian package '$2' (or run as root)"
	log "installing missing tool '$1' (apt-get install $2)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" ||
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2"; }
	command -v "$1" >/dev/null 2>&1 || die "'$1' still not found after installing '$2'"
}

for t in apt-get apt-cache dpkg-deb od dd grep sed awk cmp sha256sum stat; do
	command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found"
done
need bpftool bpftool

WORK=$(mktemp -d /tmp/update-bpf-headers.XXXXXX)
if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
	trap 'log "work directory kept: $WORK"' EXIT
else
	trap 'rm -rf "$WORK"' EXIT
fi

# --- private apt state: amd64 + arm64 package indices, independent of the system's ---
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/debs"
: >"$WORK/apt/status"
APT_OPTS=(
	-o APT::Architecture=amd64
	-o APT::Architectures::=amd64
	-o APT::Architectures::=arm64
	-o Dir::State::Lists="$WORK/apt/lists"
	-o Dir::State::status="$WORK/apt/status"
	-o Dir::Cache="$WORK/apt/cache"
	-o APT::Sandbox::User=root
	-o Acquire::Languages=none
	-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
	-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
	-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
)
log "apt-get update (private state in $WORK/apt, architectures amd64 arm64)"
apt-get -q "${APT_OPTS[@]}" update >"$WORK/apt-update.log" 2>&1 ||
	{ cat "$WORK/apt-update.log" >&2; die "apt-get update failed"; }

# pkg_field PKG:ARCH FIELD -> field of the candidate version
pkg_field() {
	apt-cache "${APT_OPTS[@]}" show --no-all-versions "$1" 2>/dev/null |
		awk -v f="$2:" '$1 == f && !n++ { print $2 }'
}

# download PKG:ARCH -> prints the path of the downloaded .deb (candidate version)
download() {
	local spec=$1 ver
	ver=$(pkg_field "$spec" Version)
	[ -n "$ver" ] || die "no candidate version for $spec"
	(cd "$WORK/debs" && apt-get -q "${APT_OPTS[@]}" download "$spec=$ver" >&2) ||
		die "apt-get download $spec=$ver failed"
	local pkg=${spec%%:*} arch=${spec##*:}
	local debs=("$WORK/debs/${pkg}_"*"_${arch}.deb")
	[ -f "${debs[0]}" ] || die "downloaded .deb for $spec not found"
	printf '%s\n' "${debs[0]}"
}

# resolve_kernel META ARCH -> versioned linux-image package name (e.g. linux-image-6.1.0-NN-cloud-amd64)
resolve_kernel() {
	local meta=$1 arch=$2 deps
	deps=$(apt-cache "${APT_OPTS[@]}" depends "$meta:$arch" |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { sub(/:.*/, "", $2); print $2 }' | sort -u)
	[ "$(printf '%s\n' "$deps" | grep -c .)" = 1 ] ||
		die "cannot resolve a single kernel package from '$meta:$arch' (got: ${deps:-nothing})"
	printf '%s\n' "$deps"
}

# --- binary helpers ---
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' \n'; }
u32le() { od -An -tu4 --endian=little -j "$2" -N4 "$1" | tr -d ' \n'; }
hexat() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
# cut_bytes FILE OFFSET LENGTH: copy LENGTH bytes of FILE starting at OFFSET to stdout
cut_bytes() { dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }

# decompress IN OUT TRAILER: decompress IN by its magic into OUT. TRAILER=1 drops the 4-byte
# uncompressed-size trailer the x86 kernel build appends to non-gzip payloads.
decompress() {
	local in=$1 out=$2 trailer=$3 m size
	m=$(hexat "$in" 0 6)
	size=$(stat -c %s "$in")
	case "$m" in
	1f8b*) need gzip gzip; gzip -dc <"$in" >"$out" 2>/dev/null || [ -s "$out" ] ;;
	fd377a585a00) need xz xz-utils; cut_bytes "$in" 0 $((size - 4 * trailer)) | xz -dc >"$out" ;;
	28b52ffd*) need zstd zstd; cut_bytes "$in" 0 $((size - 4 * trailer)) | zstd -dcq >"$out" ;;
	02214c18*) need lz4 lz4; cut_bytes "$in" 0 $((size - 4 * trailer)) | lz4 -dcq >"$out" ;;
	*) die "unsupported compression (magic $m) in $in" ;;
	esac
}

# amd64: bzImage -> ELF vmlinux (boot protocol >= 2.08 header: payload_offset/payload_length)
bzimage_to_elf() {
	local bz=$1 out=$2 setup_sects poff plen start
	[ "$(hexat "$bz" $((0x202)) 4)" = 48647253 ] || die "$bz: not a bzImage (no HdrS)"
	setup_sects=$(u8 "$bz" $((0x1f1)))
	[ "$setup_sects" != 0 ] || setup_sects=4
	poff=$(u32le "$bz" $((0x248)))
	plen=$(u32le "$bz" $((0x24c)))
	start=$(((setup_sects + 1) * 512 + poff))
	cut_bytes "$bz" "$start" "$plen" >"$out.payload"
	decompress "$out.payload" "$out" 1
	rm -f "$out.payload"
	[ "$(hexat "$out" 0 4)" = 7f454c46 ] || die "$bz: decompressed payload is not an ELF vmlinux"
}

# arm64: Image (raw or compressed) -> raw BTF blob, located by its header:
# magic 0xeb9f (LE), version 1, flags 0, hdr_len 24, type_off 0, type_len, str_off == type_len, str_len
image_to_btf() {
	local img=$1 out=$2 raw="$2.image" off tl so sl len best_off="" best_len=0 size
	case "$(hexat "$img" 56 4)" in
	41524d64) raw=$img ;; # "ARM\x64" at offset 56: uncompressed Image
	*) decompress "$img" "$raw" 0 ;;
	esac
	[ "$(hexat "$raw" 56 4)" = 41524d64 ] || die "$img: not an arm64 Image"
	size=$(stat -c %s "$raw")
	for off in $(grep -obUaP '\x9f\xeb\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00' "$raw" | cut -d: -f1); do
		tl=$(u32le "$raw" $((off + 12)))
		so=$(u32le "$raw" $((off + 16)))
		sl=$(u32le "$raw" $((off + 20)))
		len=$((24 + tl + sl))
		if [ "$tl" -gt 0 ] && [ "$so" = "$tl" ] && [ "$sl" -gt 0 ] &&
			[ $((off + len)) -le "$size" ] && [ "$len" -gt "$best_len" ]; then
			best_off=$off best_len=$len
		fi
	done
	[ -n "$best_off" ] || die "$img: no BTF blob found"
	cut_bytes "$raw" "$best_off" "$best_len" >"$out"
	[ "$raw" = "$img" ] || rm -f "$raw"
	log "  BTF blob at offset $best_off, $best_len bytes"
}

# install_file TMP DEST: move TMP to DEST only if the content differs; report.
install_file() {
	local tmp=$1 dest=$2 rel=${2#"$REPO_ROOT"/}
	if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
		rm -f "$tmp"
		printf '    unchanged  %s\n' "$rel"
	else
		local what=created
		[ -f "$dest" ] && what=updated
		chmod 0644 "$tmp"
		mv -f "$tmp" "$dest"
		printf '    %-9s  %s (%s bytes)\n' "$what" "$rel" "$(stat -c %s "$dest")"
	fi
}

mkdir -p "$OUT/bpf"
BPFTOOL_VERSION=$(bpftool version 2>/dev/null | sed -n 1p)

# gen_vmlinux DEBARCH HEADERARCH META
declare -A KPKG KVER
gen_vmlinux() {
	local arch=$1 harch=$2 meta=$3 pkg ver sha deb x btf hdr t
	pkg=$(resolve_kernel "$meta" "$arch")
	ver=$(pkg_field "$pkg:$arch" Version)
	sha=$(pkg_field "$pkg:$arch" SHA256)
	log "$meta:$arch -> $pkg $ver"
	deb=$(download "$pkg:$arch")
	[ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sha" ] || die "$deb: SHA256 mismatch"
	x="$WORK/x-$arch"
	mkdir -p "$x"
	dpkg-deb -x "$deb" "$x"
	local vmlinuzes=("$x"/boot/vmlinuz-*)
	local vmlinuz=${vmlinuzes[0]}
	[ -f "$vmlinuz" ] || die "$deb: no /boot/vmlinuz-*"
	case "$arch" in
	amd64) btf="$WORK/vmlinux-$arch"; bzimage_to_elf "$vmlinuz" "$btf" ;;
	arm64) btf="$WORK/vmlinux-$arch.btf"; image_to_btf "$vmlinuz" "$btf" ;;
	esac
	hdr="$WORK/vmlinux_$harch.h"
	{
		printf '/* Generated by scripts/update-bpf-headers.sh -- DO NOT EDIT.\n'
		printf ' *\n'
		printf ' * Kernel types of Debian package %s version %s (%s),\n' "$pkg" "$ver" "$arch"
		printf ' * .deb SHA256 %s.\n' "$sha"
		printf ' * BTF taken from %s in that package, dumped with\n' "${vmlinuz#"$x"}"
		printf ' * "bpftool btf dump file <btf> format c" (%s).\n' "$BPFTOOL_VERSION"
		printf ' */\n'
		bpftool btf dump file "$btf" format c
	} >"$hdr"
	local types=("${REQUIRED_TYPES[@]}")
	[ "$arch" != arm64 ] || types+=("${REQUIRED_TYPES_arm64[@]}")
	for t in "${types[@]}"; do
		grep -q "^struct $t {" "$hdr" || die "vmlinux_$harch.h: struct $t missing"
	done
	install_file "$hdr" "$OUT/vmlinux_$harch.h"
	KPKG[$arch]=$pkg
	KVER[$arch]=$ver
	rm -rf "$x" "$btf" "$deb"
}

gen_vmlinux amd64 x86 "$META_AMD64"
gen_vmlinux arm64 arm64 "$META_ARM64"
if [ "${KVER[amd64]}" != "${KVER[arm64]}" ]; then
	printf 'warning: kernel versions differ: amd64 %s, arm64 %s\n' "${KVER[amd64]}" "${KVER[arm64]}" >&2
fi

log "vmlinux.h dispatcher"
cat >"$WORK/vmlinux.h" <<'EOF'
/* Generated by scripts/update-bpf-headers.sh -- DO NOT EDIT.
 * Selects the kernel type definitions for the BPF target architecture
 * (bpf2go passes -D__TARGET_ARCH_x86 for amd64 and -D__TARGET_ARCH_arm64 for arm64).
 */
#if defined(__TARGET_ARCH_x86)
#include "vmlinux_x86.h"
#elif defined(__TARGET_ARCH_arm64)
#include "vmlinux_arm64.h"
#else
#error "vmlinux.h: unsupported architecture; define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif
EOF
install_file "$WORK/vmlinux.h" "$OUT/vmlinux.h"

log "libbpf headers"
LIBBPF_VER=$(pkg_field libbpf-dev:amd64 Version)
log "libbpf-dev:amd64 -> $LIBBPF_VER"
deb=$(download libbpf-dev:amd64)
[ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$(pkg_field libbpf-dev:amd64 SHA256)" ] || die "$deb: SHA256 mismatch"
dpkg-deb -x "$deb" "$WORK/x-libbpf"
for h in "${LIBBPF_HEADERS[@]}"; do
	[ -f "$WORK/x-libbpf/usr/include/bpf/$h" ] || die "libbpf-dev $LIBBPF_VER: no usr/include/bpf/$h"
	cp "$WORK/x-libbpf/usr/include/bpf/$h" "$WORK/$h"
	install_file "$WORK/$h" "$OUT/bpf/$h"
done

log "README.md"
cat >"$WORK/README.md" <<EOF
# BPF headers (generated by \`scripts/update-bpf-headers.sh\`; do not edit by hand)

- \`vmlinux.h\`: dispatcher, includes \`vmlinux_x86.h\` (\`__TARGET_ARCH_x86\`) or \`vmlinux_arm64.h\` (\`__TARGET_ARCH_arm64\`); bpf2go sets these for \`-target amd64\` / \`arm64\`.
- \`vmlinux_x86.h\`: kernel types (CO-RE) from the BTF in the vmlinuz of Debian 12 \`${KPKG[amd64]}\` ${KVER[amd64]} (bzImage payload -> ELF vmlinux -> \`.BTF\`).
- \`vmlinux_arm64.h\`: the same from Debian 12 \`${KPKG[arm64]}\` ${KVER[arm64]} (raw BTF blob cut out of the arm64 Image).
- Both dumped with \`bpftool btf dump file <btf> format c\` (${BPFTOOL_VERSION}); the types come from Linux (GPL-2.0).
- \`bpf/\`: $(printf '`%s` ' "${LIBBPF_HEADERS[@]}")copied unmodified from Debian 12 \`libbpf-dev\` ${LIBBPF_VER} (\`/usr/include/bpf/\`; libbpf, LGPL-2.1 OR BSD-2-Clause).
- Regenerate: \`scripts/update-bpf-headers.sh\` as root on Debian 12: it downloads the current packages from the configured Debian mirror (private apt state, no foreign dpkg architecture) and rewrites only files whose content changed.
EOF
install_file "$WORK/README.md" "$OUT/README.md"

log "done: kernel amd64 ${KPKG[amd64]} ${KVER[amd64]}, arm64 ${KPKG[arm64]} ${KVER[arm64]}, libbpf-dev ${LIBBPF_VER}"
