# shellcheck shell=bash
# scripts/lib/vm-assets-common.sh: sourced, not run.
#
# The parts scripts/vm-assets.sh (amd64 guests, the host's apt) and
# scripts/vm-assets-arm64.sh (arm64 guest, a private arm64 apt state) share:
# apt look-ups, .deb download and unpacking, kernel fetching, the rounds that
# fetch missing guest libraries, and the rootfs's last steps. What differs
# between the two (updating the apt lists, finding the libraries a binary
# needs) stays in each script.
#
# The sourcing script sets, before calling anything here:
#   TAG           prefix of its messages ([TAG] ...)
#   DIR           the directory it fills
#   LAYOUT        the content of DIR/.complete (finish writes it)
#   START         when it started (date +%s; finish says how long it took)
#   APT_OPTS      array of options for every apt-get and apt-cache call
#                 (empty: the host's apt)
#   APT_ARCH      architecture apt may append to package names (name:ARCH)
#                 and that is stripped; empty for the host's apt, whose names
#                 come unqualified
#   DEB_ARCHES    array of .deb architecture fields (globs) that deb_of
#                 accepts, in order of preference
#   KERNEL_META, KERNEL_ORDER  kernel name -> Debian meta package, and the
#                 kernels in order
#   GUEST_BINS    binaries (paths inside the unpacked packages) copied into
#                 the rootfs
# and defines:
#   on_download_failure PKG...  called when apt-get download fails; the
#                 packages still missing afterwards are an error

step() { printf '[%s] %s\n' "$TAG" "$*"; }
die() { printf '[%s] error: %s\n' "$TAG" "$*" >&2; exit 1; }

apt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

# kernel_dir NAME: where kernel NAME goes (DIR/kernels/6.1, DIR/rt/kernels/6.1).
kernel_dir() {
	case $1 in
	*/*) echo "$DIR/${1%%/*}/kernels/${1#*/}" ;;
	*) echo "$DIR/kernels/$1" ;;
	esac
}

# Kernel modules the guests load (insmod), by their path under
# lib/modules/RELEASE/kernel/: null_blk is a block device whose I/O
# completes on the guest's own timer (irqmode=2, completion_nsec), a disk
# with a latency that instruction counting keeps the same from run to run
# (TestConsumer's auditd writes its log there); it needs configfs, a module
# too in Debian's builds. Each goes into kernel_dir/modules/, uncompressed
# (busybox insmod reads no .ko.xz), to be loaded in this order.
KERNEL_MODULES=(fs/configfs/configfs.ko drivers/block/null_blk/null_blk.ko)

# kernels_present: every kernel of KERNEL_ORDER has its vmlinuz and modules.
kernels_present() {
	local k m
	for k in "${KERNEL_ORDER[@]}"; do
		[ -s "$(kernel_dir "$k")/vmlinuz" ] || return 1
		for m in "${KERNEL_MODULES[@]}"; do
			[ -s "$(kernel_dir "$k")/modules/${m##*/}" ] || return 1
		done
	done
}

# ------------------------------------------------------------------ apt
# apt-cache is slow on hosts with many sources (~0.6 s a call): query in
# batches and remember the answers. Whoever updates the lists empties both.
declare -A CAND=()     # package -> candidate version
declare -A SECTION=()  # package -> archive section

# resolve PKG...: fills CAND (and SECTION) for the packages with one
# apt-cache call each; unknown packages get the version "(none)".
resolve() {
	local need=() p v
	for p in "$@"; do [ -n "${CAND[$p]:-}" ] || need+=("$p"); done
	[ ${#need[@]} -eq 0 ] && return 0
	for p in "${need[@]}"; do CAND[$p]="(none)"; done
	while read -r p v; do
		[ -z "$APT_ARCH" ] || p=${p%:"$APT_ARCH"}
		CAND[$p]=$v
	done < <(
		apt_cache policy "${need[@]}" 2>/dev/null |
			awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /^  Candidate:/ {print p, $2}')
	while read -r p v; do SECTION[$p]=$v; done < <(
		apt_cache show --no-all-versions "${need[@]}" 2>/dev/null |
			awk '/^Package:/ {p = $2} /^Section:/ {print p, $2}')
	return 0
}

# have_pkg NAME: the package is known to apt (has a candidate version).
have_pkg() {
	resolve "$1"
	[ "${CAND[$1]}" != "(none)" ]
}

# make_work: DIR/.work, and the .debs in DIR/.work/debs.
make_work() {
	WORK="$DIR/.work"
	DEBS="$WORK/debs"
	mkdir -p "$DEBS"
}

# deb_of PKG: path of the downloaded .deb of PKG's candidate version (empty
# when not downloaded yet).
deb_of() {
	local v=${CAND[$1]} a
	for a in "${DEB_ARCHES[@]}"; do
		compgen -G "$DEBS/${1}_${v//:/%3a}_$a.deb" | head -n1 && return 0
	done
	true
}

# apt_download PKG...: apt-get download into $DEBS; fails when apt-get
# does. (apt-get warns that it downloads unsandboxed as root: harmless,
# hidden.)
apt_download() {
	(cd "$DEBS" && apt-get "${APT_OPTS[@]}" download -qq "$@" 2>&1 | grep -v 'Download is performed unsandboxed'; exit "${PIPESTATUS[0]}")
}

# download PKG...: the candidate versions into $DEBS, skipping packages
# whose candidate version is already there.
download() {
	local need=() p
	resolve "$@"
	for p in "$@"; do
		[ "${CAND[$p]}" != "(none)" ] || die "package $p has no candidate version"
		[ -n "$(deb_of "$p")" ] || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	if ! apt_download "${need[@]}"; then
		on_download_failure "${need[@]}"
	fi
	for p in "${need[@]}"; do
		[ -n "$(deb_of "$p")" ] || die "download of $p failed"
	done
}

# -------------------------------------------------------------- kernels
# fetch_kernels [CHECK]: each kernel of KERNEL_ORDER into kernel_dir NAME
# (vmlinuz, config, package, version, release), unless the candidate
# version is there already. CHECK, a function, gets the unpacked vmlinuz
# and dies if it is not what the guests can boot.
fetch_kernels() {
	local check=${1:-} k meta img ver kd x vmlinuz release m ko have patterns
	for k in "${KERNEL_ORDER[@]}"; do
		meta=${KERNEL_META[$k]}
		img=$(apt_cache depends "$meta" | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
		[ -z "$APT_ARCH" ] || img=${img%:"$APT_ARCH"}
		[ -n "$img" ] || die "cannot resolve the image package of $meta"
		resolve "$img"
		ver=${CAND[$img]}
		kd=$(kernel_dir "$k")
		have=1
		for m in "${KERNEL_MODULES[@]}"; do [ -s "$kd/modules/${m##*/}" ] || have=0; done
		if [ -s "$kd/vmlinuz" ] && [ "$(cat "$kd/package" 2>/dev/null)" = "$img" ] &&
			[ "$(cat "$kd/version" 2>/dev/null)" = "$ver" ] && [ $have = 1 ]; then
			step "kernel $k: $img $ver already present"
			continue
		fi
		step "kernel $k: downloading $img $ver (from $meta)"
		download "$img"
		x="$WORK/kernel-${k//\//-}"
		rm -rf "$x"
		mkdir -p "$x"
		# boot/ and KERNEL_MODULES only; skip writing the module tree.
		patterns=('./boot/*')
		for m in "${KERNEL_MODULES[@]}"; do patterns+=("./lib/modules/*/kernel/$m*"); done
		dpkg-deb --fsys-tarfile "$(deb_of "$img")" | tar -x -C "$x" --wildcards "${patterns[@]}"
		vmlinuz=$(compgen -G "$x/boot/vmlinuz-*" | head -n1 || true)
		[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $img"
		[ -z "$check" ] || "$check" "$vmlinuz"
		release=${vmlinuz##*/vmlinuz-}
		rm -rf "$kd.tmp"
		mkdir -p "$kd.tmp"
		cp "$vmlinuz" "$kd.tmp/vmlinuz"
		[ -f "$x/boot/config-$release" ] && cp "$x/boot/config-$release" "$kd.tmp/config"
		mkdir -p "$kd.tmp/modules"
		for m in "${KERNEL_MODULES[@]}"; do
			ko=$(compgen -G "$x/lib/modules/$release/kernel/$m*" | head -n1 || true)
			[ -n "$ko" ] || die "no $m in $img"
			case $ko in
			*.xz) xz -dc "$ko" >"$kd.tmp/modules/${m##*/}" ;;
			*.zst) zstd -qdc "$ko" >"$kd.tmp/modules/${m##*/}" ;;
			*) cp "$ko" "$kd.tmp/modules/${m##*/}" ;;
			esac
		done
		echo "$img" >"$kd.tmp/package"
		echo "$ver" >"$kd.tmp/version"
		echo "$release" >"$kd.tmp/release"
		rm -rf "$kd" "$x"
		mkdir -p "$(dirname "$kd")"
		mv "$kd.tmp" "$kd"
		step "kernel $k: $kd/vmlinuz ($release)"
	done
}

# ----------------------------------------------------- guest user space
# start_stage: empty STAGE (all unpacked guest packages, merged), PKGS
# (each unpacked guest package on its own: file owners) and ROOT (the
# rootfs being built, DIR/rootfs.tmp).
start_stage() {
	STAGE="$WORK/stage"
	PKGS="$WORK/pkgs"
	ROOT="$DIR/rootfs.tmp"
	rm -rf "$STAGE" "$PKGS" "$ROOT"
	mkdir -p "$STAGE" "$PKGS" "$ROOT"
}

declare -A EXTRACTED=()  # package -> version

# extract PKG...: unpacks the downloaded packages into PKGS/PKG and STAGE.
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

# owner_of PATH: the unpacked package that ships PATH (a path in $STAGE).
owner_of() {
	local rel=${1#"$STAGE"/} p
	for p in "${!EXTRACTED[@]}"; do
		if [ -e "$PKGS/$p/$rel" ] || [ -L "$PKGS/$p/$rel" ]; then
			echo "$p"
			return 0
		fi
	done
}

# lib_deps PKG...: the packages of section libs that PKG Depends or
# Pre-Depends on (alternatives included, virtual packages skipped).
lib_deps() {
	local p deps
	mapfile -t deps < <(apt_cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "$@" 2>/dev/null |
		awk -v arch="$APT_ARCH" '
			BEGIN { qual = arch == "" ? ":any$" : ":(any|" arch ")$" }
			$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ {sub(qual, "", $2); print $2}' | sort -u)
	[ ${#deps[@]} -eq 0 ] && return 0
	resolve "${deps[@]}"
	for p in "${deps[@]}"; do
		case "${SECTION[$p]:-}" in libs | oldlibs) echo "$p" ;; esac
	done
}

# fetch_guest_libs UNRESOLVED [WORD]: fetches library packages until the
# function UNRESOLVED prints nothing. It prints "SONAME NEEDER" for each
# library no staged file provides, NEEDER being the staged object that
# needs it; the library dependencies of the package owning NEEDER are
# fetched, ten rounds at the most. WORD goes before the owners' names in
# the error when no package is left to fetch ("needed by WORD auditd").
fetch_guest_libs() {
	local unresolved=$1 word=${2:-} round=1 un line o p sonames next
	local -A owners
	while :; do
		mapfile -t un < <("$unresolved")
		[ ${#un[@]} -eq 0 ] && break
		[ $round -le 10 ] || die "libraries still unresolved after $round rounds: ${un[*]}"
		owners=()
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
		[ ${#next[@]} -gt 0 ] || die "no package provides $(printf '%s\n' "${sonames[@]}" | sort -u | tr '\n' ' ')(needed by ${word:+$word }${!owners[*]})"
		step "guest libraries (round $round): $(printf '%s\n' "${sonames[@]}" | sort -u | wc -l) missing, fetching ${next[*]}"
		download "${next[@]}"
		extract "${next[@]}"
		round=$((round + 1))
	done
}

# copy_guest_bins: GUEST_BINS from STAGE into ROOT, dereferenced.
copy_guest_bins() {
	local b
	for b in "${GUEST_BINS[@]}"; do
		mkdir -p "$ROOT/$(dirname "$b")"
		cp -L "$STAGE/$b" "$ROOT/$b"
	done
}

# install_busybox BUSYBOX LIST: BUSYBOX as ROOT/bin/busybox, and a link to
# it for every applet `LIST --list-full` names, unless ROOT has that path
# already (real binaries win). Sets NAPPLETS to the number of links.
install_busybox() {
	local a
	mkdir -p "$ROOT/bin" "$ROOT/sbin" "$ROOT/usr/bin" "$ROOT/usr/sbin"
	cp "$1" "$ROOT/bin/busybox"
	NAPPLETS=0
	while read -r a; do
		[ -e "$ROOT/$a" ] || [ -L "$ROOT/$a" ] && continue
		mkdir -p "$ROOT/$(dirname "$a")"
		ln -s /bin/busybox "$ROOT/$a"
		NAPPLETS=$((NAPPLETS + 1))
	done < <("$2" --list-full)
}

# make_guest_dirs: the directories the guest writes to or mounts on.
make_guest_dirs() {
	mkdir -p "$ROOT"/{var/run,var/log/audit,var/spool,run,tmp,proc,sys,dev,root,mnt}
	chmod 1777 "$ROOT/tmp"
	chmod 0700 "$ROOT/var/log/audit"
}

# extracted_list [SUFFIX]: "PKG VERSION[ SUFFIX]" for every unpacked
# package, sorted (the manifest's package lines).
extracted_list() {
	local p
	for p in "${!EXTRACTED[@]}"; do echo "$p ${EXTRACTED[$p]}${1:+ $1}"; done | sort
}

# install_rootfs: ROOT becomes DIR/rootfs.
install_rootfs() {
	rm -rf "$DIR/rootfs"
	mv "$ROOT" "$DIR/rootfs"
	step "rootfs: $(du -sh "$DIR/rootfs" | cut -f1), $(find "$DIR/rootfs" | wc -l) entries"
}

# finish [NOTE]: writes the marker (LAYOUT) and says how long it took
# (since START).
finish() {
	echo "$LAYOUT" >"$DIR/.complete"
	step "done in $(($(date +%s) - START))s: $DIR${1:+ $1}"
}

# ------------------------------------- amd64: the libraries a binary needs
# (vm-assets.sh and vm-assets-bpftrace.sh; the arm64 script, which cannot run
# the guest's loader, reads the ELF files instead)

# stage_libdirs: the staged library directories, for LD_LIBRARY_PATH.
stage_libdirs() {
	local d out=
	for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib lib64; do
		[ -d "$STAGE/$d" ] && out="$out${out:+:}$STAGE/$d"
	done
	echo "$out"
}

# unresolved: "SONAME NEEDER" lines for the libraries of the guest binaries
# (GUEST_BINS) that ldd (staging library directories first) cannot find or
# finds only on the host, with the staged objects that need them (from
# LD_DEBUG=files).
unresolved() {
	local b
	for b in "${GUEST_BINS[@]}"; do
		LD_DEBUG=files LD_LIBRARY_PATH=$(stage_libdirs) ldd "$STAGE/$b" 2>&1 |
			awk -v stage="$STAGE/" '
				/needed by/ {
					so = $0; sub(/.*file=/, "", so); sub(/ .*/, "", so)
					by = $0; sub(/.*needed by /, "", by); sub(/ .*/, "", by)
					if (index(by, stage) == 1) needers[so] = needers[so] " " by
					next
				}
				$2 == "=>" && ($3 == "not" || index($3, stage) != 1) { bad[$1] = 1 }
				END { for (so in bad) { n = split(needers[so], a, " "); for (i = 1; i <= n; i++) print so, a[i] } }'
	done | sort -u
}
