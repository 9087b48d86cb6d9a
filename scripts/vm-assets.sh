#!/usr/bin/env bash
# vm-assets.sh DIR
#
# Prepares everything the VM tests (internal/vmtest) need to boot real Debian
# kernels under qemu (TCG) with a busybox initramfs that contains a real auditd
# and stress-ng. Meant for Debian 12 (bookworm) hosts where it runs as root
# (CI); idempotent, and a no-op when DIR is already complete.
#
# Host packages installed when missing: qemu-system-x86, busybox-static, cpio.
# Guest packages (kernels, auditd, stress-ng and their libraries) are fetched
# with `apt-get download` and unpacked with `dpkg -x`: nothing is installed or
# started on the host, and audit settings on the host are never touched.
#
# Layout of DIR when complete:
#   kernels/6.1/{vmlinuz,config,package,version,release,modules/}
#   kernels/6.12/{...}
#   rt/kernels/6.1/{...}   Debian's PREEMPT_RT builds, kept apart so that
#   rt/kernels/6.12/{...}  vmtest.Kernels(DIR) stays the two cloud kernels
#                      and vmtest.Kernels(DIR/rt) lists these (TestPreemptRT)
#   rootfs/            base tree of the initramfs (busybox, auditd, auditctl,
#                      ausearch, aureport, stress-ng, libraries, /etc ...)
#   rootfs.manifest    what went into rootfs (packages and versions)
#   .complete          marker; its content is the layout version below
#
# Every kernel is a vmlinuz, its config and the few modules of
# KERNEL_MODULES (lib/vm-assets-common.sh: null_blk, the disk of
# TestConsumerFlush, and configfs, which it needs), nothing else: the guests
# boot with no module (initramfs, serial console, no devices; audit, BPF,
# kprobes, debugfs, tracefs and cgroup2 are built in, in the cloud and rt
# flavours alike). A kernel added to this list after DIR was complete, or
# one without those modules, is fetched on the next run, and only it: the
# rootfs is kept.
#
# Environment:
#   VM_ASSETS_FORCE=1  rebuild even when the marker is present
#   VM_ASSETS_KEEP=1   keep the downloaded .debs and staging tree (DIR/.work)
set -euo pipefail

TAG=vm-assets
# shellcheck source=lib/vm-assets-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/vm-assets-common.sh"

LAYOUT="auditprof-vm-assets v2"

# Kernel name -> Debian meta package that depends on the current versioned
# image package. rt/NAME goes to DIR/rt/kernels/NAME (see kernel_dir in
# lib/vm-assets-common.sh).
declare -A KERNEL_META=(
	[6.1]=linux-image-cloud-amd64
	[6.12]=linux-image-6.12-cloud-amd64
	[rt/6.1]=linux-image-rt-amd64
	[rt/6.12]=linux-image-6.12-rt-amd64
)
KERNEL_ORDER=(6.1 6.12 rt/6.1 rt/6.12)

# Guest packages whose binaries go into the initramfs. Their library
# dependencies are resolved below.
GUEST_PKGS=(auditd libaudit1 libauparse0 libcap-ng0 stress-ng)
# Binaries (paths inside the unpacked packages) copied into the rootfs.
GUEST_BINS=(sbin/auditd sbin/auditctl sbin/ausearch sbin/aureport usr/bin/ausyscall usr/bin/stress-ng)

# The host's apt, its architecture, and any .deb architecture (amd64, all).
APT_OPTS=()
APT_ARCH=
DEB_ARCHES=('*')

[ $# -eq 1 ] || die "usage: $0 DIR"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
START=$(date +%s)

[ "$(uname -m)" = x86_64 ] || die "only x86_64 hosts are supported"
command -v apt-get >/dev/null || die "apt-get not found: a Debian 12 host is required"

SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi

# ---------------------------------------------------------------- host packages
APT_UPDATED=0
apt_update_once() {
	if [ $APT_UPDATED = 0 ]; then
		step "apt-get update"
		$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
		APT_UPDATED=1
		CAND=()
		SECTION=()
	fi
}

missing=()
for p in qemu-system-x86 busybox-static cpio; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	resolve "${missing[@]}"
	if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
		die "not root and no sudo: cannot install ${missing[*]}"
	fi
	for p in "${missing[@]}"; do have_pkg "$p" || apt_update_once; done
	step "installing host packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 \
		install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	step "host packages present: qemu-system-x86 busybox-static cpio"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after install"

# rootfs_ok: the rootfs of a completed run is there (only kernels are
# missing, e.g. ones added to KERNEL_ORDER since): it is kept.
rootfs_ok=0
if [ "${VM_ASSETS_FORCE:-0}" != 1 ] && [ -f "$DIR/.complete" ] &&
	[ "$(cat "$DIR/.complete")" = "$LAYOUT" ]; then
	ok=1
	kernels_present || ok=0
	[ -x "$DIR/rootfs/bin/busybox" ] && [ -s "$DIR/rootfs.manifest" ] && rootfs_ok=1 || ok=0
	if [ $ok = 1 ]; then
		step "$DIR is complete ($LAYOUT), nothing to do"
		exit 0
	fi
	if [ $rootfs_ok = 1 ]; then
		step "marker present but kernels missing: fetching them, keeping the rootfs"
	else
		step "marker present but files missing, rebuilding"
	fi
fi
rm -f "$DIR/.complete"

resolve "${KERNEL_META[@]}" "${GUEST_PKGS[@]}" libc6 libgcc-s1
for p in "${KERNEL_META[@]}" "${GUEST_PKGS[@]}"; do
	have_pkg "$p" || apt_update_once
	have_pkg "$p" || die "package $p is not available from the configured apt sources"
done

make_work

# A failed apt-get download is not retried: the lists were updated above
# when a package was unknown; download says which .deb is missing.
on_download_failure() { :; }

# ---------------------------------------------------------------------- kernels
fetch_kernels

if [ $rootfs_ok = 1 ]; then
	[ "${VM_ASSETS_KEEP:-0}" = 1 ] || rm -rf "$WORK"
	finish "(rootfs kept)"
	exit 0
fi

# ----------------------------------------------------------- guest user space
start_stage

step "guest packages: downloading ${GUEST_PKGS[*]} libc6 libgcc-s1"
download "${GUEST_PKGS[@]}" libc6 libgcc-s1
extract "${GUEST_PKGS[@]}" libc6 libgcc-s1

# Resolve library dependencies precisely: for each library that is missing,
# fetch the library dependencies of the package owning the object that needs
# it, until nothing is missing. (stress-ng's full dependency closure contains
# mesa and X11 libraries it never links; following only what ldd needs keeps
# the download small.)
fetch_guest_libs unresolved packages
step "guest libraries resolved (${#EXTRACTED[@]} packages unpacked)"

# Binaries.
copy_guest_bins

# Libraries: every object ldd lists, copied (dereferenced) into
# /lib/x86_64-linux-gnu, which the guest's ld.so searches by default.
mkdir -p "$ROOT/lib/x86_64-linux-gnu" "$ROOT/lib64" "$ROOT/usr/lib/x86_64-linux-gnu"
nlibs=0
for b in "${GUEST_BINS[@]}"; do
	LD_LIBRARY_PATH=$(stage_libdirs) ldd "$STAGE/$b" |
		awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r soname path; do
	case "$path" in
	"$STAGE"/*) ;;
	*) die "library $soname resolved outside the staging tree: $path" ;;
	esac
	cp -L "$path" "$ROOT/lib/x86_64-linux-gnu/$soname"
done
ldso=$(compgen -G "$STAGE/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" || compgen -G "$STAGE/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" || true)
[ -n "$ldso" ] || die "ld-linux-x86-64.so.2 not found in libc6"
cp -L "$ldso" "$ROOT/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/lib64/ld-linux-x86-64.so.2"
nlibs=$(find "$ROOT/lib/x86_64-linux-gnu" -type f | wc -l)
step "guest binaries: ${#GUEST_BINS[@]}, libraries: $nlibs"

# Check that the rootfs is self-contained: every binary must resolve all its
# libraries from the rootfs alone, with the rootfs's own loader.
for b in "${GUEST_BINS[@]}"; do
	out=$("$ROOT/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$ROOT/lib/x86_64-linux-gnu" --list "$ROOT/$b" 2>&1) ||
		die "$b does not load from the rootfs: $out"
	if grep -q 'not found' <<<"$out"; then die "$b: $(grep 'not found' <<<"$out")"; fi
	if grep -E '=> /' <<<"$out" | grep -vq "=> $ROOT/"; then
		die "$b loads libraries from outside the rootfs: $out"
	fi
done
step "rootfs libraries verified with the rootfs loader"

# Busybox (static) and its applet links; real binaries above win.
bb=$(dpkg -L busybox-static 2>/dev/null | grep -E '/busybox$' | head -n1)
[ -n "$bb" ] && [ -x "$bb" ] || die "busybox-static binary not found"
if LD_TRACE_LOADED_OBJECTS=1 "$bb" 2>/dev/null | grep -q '=>'; then die "$bb is not static"; fi
install_busybox "$bb" "$ROOT/bin/busybox"
step "busybox $(dpkg-query -W -f='${Version}' busybox-static): $NAPPLETS applet links"

# /etc, audit configuration and directories.
mkdir -p "$ROOT"/etc/audit/{plugins.d,rules.d,examples}
make_guest_dirs
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
adm:x:4:
nogroup:x:65534:
EOF
cat >"$ROOT/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files
EOF
echo "127.0.0.1 localhost" >"$ROOT/etc/hosts"
echo vmtest >"$ROOT/etc/hostname"

# auditd.conf: the guest root is in RAM. Keys are those of the Debian default
# file (auditd 3.0.9 rejects unknown keys); every disk and queue action only
# logs to syslog or does nothing, so auditd never suspends, halts or stops.
cat >"$ROOT/etc/audit/auditd.conf" <<'EOF'
# auditprof VM tests: RAM-backed root, auditd must never suspend or halt.
local_events = yes
write_logs = yes
log_file = /var/log/audit/audit.log
log_group = adm
log_format = RAW
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 4096
num_logs = 2
priority_boost = 4
name_format = NONE
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
verify_email = no
action_mail_acct = root
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
use_libwrap = no
tcp_listen_queue = 5
tcp_max_per_addr = 1
tcp_client_max_idle = 0
transport = TCP
distribute_network = no
q_depth = 2000
overflow_action = IGNORE
max_restarts = 10
plugin_dir = /etc/audit/plugins.d
end_of_event_timeout = 2
EOF
chmod 0640 "$ROOT/etc/audit/auditd.conf"
# Plugins shipped by the package (all inactive by default).
if [ -d "$STAGE/etc/audit/plugins.d" ]; then
	cp "$STAGE"/etc/audit/plugins.d/*.conf "$ROOT/etc/audit/plugins.d/" 2>/dev/null || true
fi
: >"$ROOT/etc/audit/audit.rules"
# Example rule sets (STIG, OSPP, PCI-DSS, ...).
nrules=0
for f in "$STAGE"/usr/share/doc/auditd/examples/rules/*; do
	[ -f "$f" ] || continue
	case "$f" in
	*.gz) gunzip -c "$f" >"$ROOT/etc/audit/examples/$(basename "${f%.gz}")" ;;
	*) cp "$f" "$ROOT/etc/audit/examples/" ;;
	esac
	nrules=$((nrules + 1))
done
[ $nrules -gt 0 ] || die "no example rules in the auditd package"
# The kernel refuses a watch (-w PATH, -F path=PATH) whose parent directory
# does not exist, and a -F dir= rule on a missing directory: create them so
# that the example rule sets load in the minimal guest.
ndirs=0
while read -r kind p; do
	case "$p" in /*) ;; *) continue ;; esac
	case "$kind$p" in
	dir=* | */) d=$p ;;
	*) d=$(dirname "$p") ;;
	esac
	if [ ! -d "$ROOT$d" ]; then
		mkdir -p "$ROOT$d"
		ndirs=$((ndirs + 1))
	fi
done < <(grep -hoE -- '(-w |path=|dir=)/[^ ]*' "$ROOT"/etc/audit/examples/*.rules |
	sed -E 's/^(-w |path=|dir=)/\1 /; s/^-w /w /' | sort -u)
step "etc: passwd, group (root, adm), auditd.conf, $nrules example rule files ($ndirs directories for their watches)"

{
	echo "# $LAYOUT"
	echo "busybox-static $(dpkg-query -W -f='${Version}' busybox-static)"
	extracted_list
} >"$DIR/rootfs.manifest"

install_rootfs

if [ "${VM_ASSETS_KEEP:-0}" != 1 ]; then
	rm -rf "$WORK"
fi
finish
