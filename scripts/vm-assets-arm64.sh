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
#   kernels/6.12/{vmlinuz,config,package,version,release}
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

LAYOUT="auditprof-vm-assets-arm64 v1"

declare -A KERNEL_META=([6.12]=linux-image-6.12-cloud-arm64)
KERNEL_ORDER=(6.12)
GUEST_PKGS=(auditd libaudit1 libauparse0 libcap-ng0 stress-ng libc6 libgcc-s1 busybox-static)
GUEST_BINS=(sbin/auditd sbin/auditctl sbin/ausearch sbin/aureport usr/bin/ausyscall usr/bin/stress-ng)
TRIPLET=aarch64-linux-gnu

step() { printf '[vm-assets-arm64] %s\n' "$*"; }
die() { printf '[vm-assets-arm64] error: %s\n' "$*" >&2; exit 1; }

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
	for k in "${KERNEL_ORDER[@]}"; do [ -s "$DIR/kernels/$k/vmlinuz" ] || ok=0; done
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
apt_arm() { apt-get "${APT_OPTS[@]}" "$@"; }
cache_arm() { apt-cache "${APT_OPTS[@]}" "$@"; }

declare -A CAND=() SECTION=()
resolve() {
	local need=() p v
	for p in "$@"; do [ -n "${CAND[$p]:-}" ] || need+=("$p"); done
	[ ${#need[@]} -eq 0 ] && return 0
	for p in "${need[@]}"; do CAND[$p]="(none)"; done
	while read -r p v; do CAND[${p%:arm64}]=$v; done < <(
		cache_arm policy "${need[@]}" 2>/dev/null |
			awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /^  Candidate:/ {print p, $2}')
	while read -r p v; do SECTION[$p]=$v; done < <(
		cache_arm show --no-all-versions "${need[@]}" 2>/dev/null |
			awk '/^Package:/ {p = $2} /^Section:/ {print p, $2}')
	return 0
}

UPDATED=0
update_lists() {
	[ $UPDATED = 0 ] || return 0
	step "apt-get update (arm64 lists in $APT)"
	apt_arm update -qq 2>&1 | grep -v -e 'Download is performed unsandboxed' -e "doesn't support architecture" || true
	UPDATED=1
	CAND=()
	SECTION=()
}

# The lists are kept between runs: fetch them only when a package is unknown.
for p in "${KERNEL_META[@]}" "${GUEST_PKGS[@]}"; do
	resolve "$p"
	[ "${CAND[$p]}" != "(none)" ] || update_lists
	resolve "$p"
	[ "${CAND[$p]}" != "(none)" ] || die "package $p (arm64) is not available from the configured apt sources"
done

WORK="$DIR/.work"
DEBS="$WORK/debs"
mkdir -p "$DEBS"
deb_of() {
	local v=${CAND[$1]}
	compgen -G "$DEBS/${1}_${v//:/%3a}_arm64.deb" | head -n1 || compgen -G "$DEBS/${1}_${v//:/%3a}_all.deb" | head -n1 || true
}
# download PKG...: the arm64 candidates into $DEBS; on a failure (lists
# older than the archive) the lists are fetched again once.
download() {
	local need=() p
	resolve "$@"
	for p in "$@"; do
		[ "${CAND[$p]}" != "(none)" ] || die "package $p has no candidate version"
		[ -n "$(deb_of "$p")" ] || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	if ! (cd "$DEBS" && apt_arm download -qq "${need[@]}" 2>&1 | grep -v 'Download is performed unsandboxed'; exit "${PIPESTATUS[0]}"); then
		[ $UPDATED = 0 ] || die "download of ${need[*]} failed"
		update_lists
		resolve "${need[@]}"
		(cd "$DEBS" && apt_arm download -qq "${need[@]}" 2>&1 | grep -v 'Download is performed unsandboxed' || true)
	fi
	for p in "${need[@]}"; do [ -n "$(deb_of "$p")" ] || die "download of $p failed"; done
}

# ---------------------------------------------------------------- kernel
for k in "${KERNEL_ORDER[@]}"; do
	meta=${KERNEL_META[$k]}
	img=$(cache_arm depends "$meta" | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {sub(/:arm64$/, "", $2); print $2; exit}')
	[ -n "$img" ] || die "cannot resolve the image package of $meta"
	resolve "$img"
	ver=${CAND[$img]}
	kd="$DIR/kernels/$k"
	if [ -s "$kd/vmlinuz" ] && [ "$(cat "$kd/package" 2>/dev/null)" = "$img" ] &&
		[ "$(cat "$kd/version" 2>/dev/null)" = "$ver" ]; then
		step "kernel $k: $img $ver already present"
		continue
	fi
	step "kernel $k: downloading $img $ver (from $meta)"
	download "$img"
	x="$WORK/kernel-$k"
	rm -rf "$x"
	mkdir -p "$x"
	dpkg-deb --fsys-tarfile "$(deb_of "$img")" | tar -x -C "$x" --wildcards './boot/*'
	vmlinuz=$(compgen -G "$x/boot/vmlinuz-*" | head -n1 || true)
	[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $img"
	# qemu boots an arm64 Image as is: "ARM\x64" at offset 56.
	[ "$(dd if="$vmlinuz" bs=1 skip=56 count=4 2>/dev/null | od -An -tx1 | tr -d ' ')" = 41524d64 ] ||
		die "$vmlinuz is not an uncompressed arm64 Image"
	release=${vmlinuz##*/vmlinuz-}
	rm -rf "$kd.tmp"
	mkdir -p "$kd.tmp"
	cp "$vmlinuz" "$kd.tmp/vmlinuz"
	[ -f "$x/boot/config-$release" ] && cp "$x/boot/config-$release" "$kd.tmp/config"
	echo "$img" >"$kd.tmp/package"
	echo "$ver" >"$kd.tmp/version"
	echo "$release" >"$kd.tmp/release"
	rm -rf "$kd" "$x"
	mv "$kd.tmp" "$kd"
	step "kernel $k: $kd/vmlinuz ($release)"
done

# ------------------------------------------------------- guest user space
STAGE="$WORK/stage"
PKGS="$WORK/pkgs"
ROOT="$DIR/rootfs.tmp"
rm -rf "$STAGE" "$PKGS" "$ROOT"
mkdir -p "$STAGE" "$PKGS" "$ROOT"

declare -A EXTRACTED=()
extract() {
	local p
	for p in "$@"; do
		[ -n "${EXTRACTED[$p]:-}" ] && continue
		mkdir -p "$PKGS/$p"
		dpkg -x "$(deb_of "$p")" "$PKGS/$p"
		cp -a "$PKGS/$p/." "$STAGE/"
		EXTRACTED[$p]=${CAND[$p]}
	done
}
owner_of() {
	local rel=${1#"$STAGE"/} p
	for p in "${!EXTRACTED[@]}"; do
		if [ -e "$PKGS/$p/$rel" ] || [ -L "$PKGS/$p/$rel" ]; then
			echo "$p"
			return 0
		fi
	done
}
lib_deps() {
	local p deps
	mapfile -t deps < <(cache_arm depends --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "$@" 2>/dev/null |
		awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ {sub(/:(any|arm64)$/, "", $2); print $2}' | sort -u)
	[ ${#deps[@]} -eq 0 ] && return 0
	resolve "${deps[@]}"
	for p in "${deps[@]}"; do
		case "${SECTION[$p]:-}" in libs | oldlibs) echo "$p" ;; esac
	done
}

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

round=1
while :; do
	mapfile -t un < <(closure | sort -u)
	[ ${#un[@]} -eq 0 ] && break
	[ $round -le 10 ] || die "libraries still unresolved after $round rounds: ${un[*]}"
	declare -A owners=()
	sonames=()
	for line in "${un[@]}"; do
		sonames+=("${line%% *}")
		o=$(owner_of "${line#* }")
		[ -n "$o" ] && owners[$o]=1
	done
	[ ${#owners[@]} -gt 0 ] || die "cannot tell which package needs: ${sonames[*]}"
	next=()
	while read -r p; do
		[ -n "$p" ] && [ -z "${EXTRACTED[$p]:-}" ] && next+=("$p")
	done < <(lib_deps "${!owners[@]}")
	[ ${#next[@]} -gt 0 ] || die "no package provides $(printf '%s\n' "${sonames[@]}" | sort -u | tr '\n' ' ')(needed by ${!owners[*]})"
	step "guest libraries (round $round): $(printf '%s\n' "${sonames[@]}" | sort -u | wc -l) missing, fetching ${next[*]}"
	download "${next[@]}"
	extract "${next[@]}"
	unset owners
	round=$((round + 1))
done
# closure ran in a subshell above: run it again here to fill LIBS.
closure >/dev/null
step "guest libraries resolved: ${#LIBS[@]} (${#EXTRACTED[@]} packages unpacked)"

for b in "${GUEST_BINS[@]}"; do
	mkdir -p "$ROOT/$(dirname "$b")"
	cp -L "$STAGE/$b" "$ROOT/$b"
done
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
mkdir -p "$ROOT/bin" "$ROOT/sbin" "$ROOT/usr/bin" "$ROOT/usr/sbin"
cp "$bb" "$ROOT/bin/busybox"
hostbb=$(command -v busybox || echo /bin/busybox)
napplets=0
while read -r a; do
	[ -e "$ROOT/$a" ] || [ -L "$ROOT/$a" ] && continue
	mkdir -p "$ROOT/$(dirname "$a")"
	ln -s /bin/busybox "$ROOT/$a"
	napplets=$((napplets + 1))
done < <("$hostbb" --list-full)
step "busybox ${CAND[busybox-static]} (arm64): $napplets applet links (list from the host's $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo busybox))"

# /etc as the amd64 guests have it (passwd, group, auditd.conf, the example
# rule sets), and the directories vm-assets.sh makes.
cp -a "$TOP/rootfs/etc" "$ROOT/etc"
mkdir -p "$ROOT"/{var/run,var/log/audit,var/spool,run,tmp,proc,sys,dev,root,mnt}
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/var/log/audit"

{
	echo "# $LAYOUT"
	for p in "${!EXTRACTED[@]}"; do echo "$p ${EXTRACTED[$p]} arm64"; done | sort
} >"$DIR/rootfs.manifest"
rm -rf "$DIR/rootfs"
mv "$ROOT" "$DIR/rootfs"
step "rootfs: $(du -sh "$DIR/rootfs" | cut -f1), $(find "$DIR/rootfs" | wc -l) entries"

if [ "${VM_ASSETS_KEEP:-0}" != 1 ]; then
	rm -rf "$WORK" "$APT/cache"
fi
echo "$LAYOUT" >"$DIR/.complete"
step "done in $(($(date +%s) - START))s: $DIR"
