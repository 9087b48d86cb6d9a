#!/usr/bin/env bash
# vm-assets-bpftrace.sh DIR
#
# Prepares bpftrace for the benchmark's guests (internal/e2e's
# BenchmarkOverhead, mode bpftrace: the one-liner an engineer would run
# instead of auditprof) in DIR/bpftrace, next to the amd64 assets
# scripts/vm-assets.sh makes in DIR (run it first: the guest's C library is
# the base rootfs's). `make bench` runs it, `make test` does not: the tree
# is about 200 MB (LLVM and clang's libraries), and only the benchmark adds
# it to its initramfs. Debian 12 amd64 hosts; idempotent, and a no-op when
# DIR/bpftrace is already complete.
#
# bpftrace and its libraries come from the host's apt sources through
# `apt-get download` and `dpkg -x`: nothing is installed or run on the host
# (its libraries are only listed, by the base rootfs's loader).
#
# Layout of DIR/bpftrace when complete:
#   rootfs/usr/bin/bpftrace
#   rootfs/usr/lib/x86_64-linux-gnu/   every library bpftrace loads
#                      (transitively), except the C library's (libc6's:
#                      libc, libm, ld.so, ... are the base rootfs's, so the
#                      guest has one glibc); merged over the base rootfs
#   rootfs.manifest    what went into rootfs (packages and versions)
#   .complete          marker; its content is the layout version below
#
# Environment:
#   VM_ASSETS_FORCE=1  rebuild even when the marker is present
#   VM_ASSETS_KEEP=1   keep the downloaded .debs and staging tree (.work)
set -euo pipefail

TAG=vm-assets-bpftrace
# shellcheck source=lib/vm-assets-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/vm-assets-common.sh"

LAYOUT="auditprof-vm-assets-bpftrace v1"

GUEST_PKGS=(bpftrace libc6)
GUEST_BINS=(usr/bin/bpftrace)
LIBDIR=usr/lib/x86_64-linux-gnu

APT_OPTS=()
APT_ARCH=
DEB_ARCHES=('*')

[ $# -eq 1 ] || die "usage: $0 DIR"
BASE=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory (run scripts/vm-assets.sh $1 first)"
DIR=$BASE/bpftrace
START=$(date +%s)

BASE_LIBDIR=$BASE/rootfs/lib/x86_64-linux-gnu
BASE_LDSO=$BASE_LIBDIR/ld-linux-x86-64.so.2
[ -f "$BASE/.complete" ] && [ -x "$BASE_LDSO" ] ||
	die "$BASE is not a complete amd64 asset directory (run scripts/vm-assets.sh $BASE first)"

if [ "${VM_ASSETS_FORCE:-0}" != 1 ] && [ -f "$DIR/.complete" ] &&
	[ "$(cat "$DIR/.complete")" = "$LAYOUT" ] && [ -s "$DIR/rootfs/$GUEST_BINS" ] &&
	[ -s "$DIR/rootfs.manifest" ]; then
	step "$DIR is complete ($LAYOUT), nothing to do"
	exit 0
fi
mkdir -p "$DIR"
rm -f "$DIR/.complete"

resolve "${GUEST_PKGS[@]}"
for p in "${GUEST_PKGS[@]}"; do
	have_pkg "$p" || die "package $p is not available from the configured apt sources (apt-get update?)"
done

make_work
on_download_failure() { :; }
start_stage

step "downloading ${GUEST_PKGS[*]} (bpftrace ${CAND[bpftrace]})"
download "${GUEST_PKGS[@]}"
extract "${GUEST_PKGS[@]}"
fetch_guest_libs unresolved bpftrace
step "libraries resolved (${#EXTRACTED[@]} packages unpacked)"

copy_guest_bins
mkdir -p "$ROOT/$LIBDIR"
nlibs=0
while read -r soname path; do
	case "$path" in
	"$STAGE"/*) ;;
	*) die "library $soname resolved outside the staging tree: $path" ;;
	esac
	[ "$(owner_of "$path")" = libc6 ] && continue
	cp -L "$path" "$ROOT/$LIBDIR/$soname"
	nlibs=$((nlibs + 1))
done < <(LD_LIBRARY_PATH=$(stage_libdirs) ldd "$STAGE/$GUEST_BINS" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u)
step "bpftrace and $nlibs libraries ($(du -sh "$ROOT" | cut -f1))"

# Self-contained with the base rootfs: every library loads from this tree
# or the base's, with the base's loader, and bpftrace runs (--version) so.
libpath=$ROOT/$LIBDIR:$BASE_LIBDIR
out=$("$BASE_LDSO" --library-path "$libpath" --list "$ROOT/$GUEST_BINS" 2>&1) ||
	die "bpftrace does not load from the tree and the base rootfs: $out"
if grep -q 'not found' <<<"$out"; then die "bpftrace: $(grep 'not found' <<<"$out")"; fi
if grep -E '=> /' <<<"$out" | grep -vqE "=> ($ROOT|$BASE/rootfs)/"; then
	die "bpftrace loads libraries from outside the trees: $out"
fi
version=$("$BASE_LDSO" --library-path "$libpath" "$ROOT/$GUEST_BINS" --version 2>&1) ||
	die "bpftrace --version failed: $version"
step "verified with the base rootfs's loader: $version"

{
	echo "# $LAYOUT"
	extracted_list
} >"$DIR/rootfs.manifest"
install_rootfs
if [ "${VM_ASSETS_KEEP:-0}" != 1 ]; then
	rm -rf "$WORK"
fi
finish
