# shellcheck shell=sh
# The helpers of every vmtest guest script: /init sources this file, then
# Options.Script, in one busybox sh.

# emit NAME [FILE]: print FILE (default: stdin) as section NAME, base64
# encoded with its sha256, for Run to decode into Result.Sections[NAME].
emit() {
	_emit_name=$1
	_emit_file=${2:--}
	if [ -z "$_emit_name" ]; then
		echo "emit: usage: emit NAME [FILE]" >&2
		return 2
	fi
	if [ "$_emit_file" = - ]; then
		_emit_file=/tmp/.vmtest-emit.$$
		cat >"$_emit_file"
	elif [ ! -r "$_emit_file" ]; then
		echo "emit: cannot read $_emit_file" >&2
		return 1
	fi
	_emit_sum=$(sha256sum <"$_emit_file")
	echo "=== BEGIN $_emit_name ==="
	echo "=== BASE64 sha256=${_emit_sum%% *} ==="
	base64 "$_emit_file"
	echo "=== END $_emit_name ==="
	[ "$_emit_file" != /tmp/.vmtest-emit.$$ ] || rm -f "$_emit_file"
}

# _vmtest_wait SECONDS CMD...: run CMD every 0.1 s until it succeeds (status
# 0) or SECONDS have passed (status 1).
_vmtest_wait() {
	_w_n=$(($1 * 10))
	shift
	while ! "$@"; do
		_w_n=$((_w_n - 1))
		[ $_w_n -gt 0 ] || return 1
		sleep 0.1
	done
}

_vmtest_exists() { [ -e "$1" ]; }
_vmtest_gone() { ! kill -0 "$1" 2>/dev/null; }
# The registered pid must be the running auditd's: after a restart the
# kernel keeps the old pid until a send to it fails.
_vmtest_auditd() {
	_a_pid=$(auditctl -s 2>/dev/null | sed -n 's/^pid \([0-9]*\).*/\1/p')
	[ -n "$_a_pid" ] && [ "$_a_pid" != 0 ] && [ "$_a_pid" = "$(pidof auditd)" ]
}

# wait_for_file PATH [SECONDS]: wait until PATH exists (default 10 s).
wait_for_file() { _vmtest_wait "${2:-10}" _vmtest_exists "$1"; }

# wait_for_pid PID [SECONDS]: wait until process PID has exited (default 10 s).
wait_for_pid() { _vmtest_wait "${2:-10}" _vmtest_gone "$1"; }

# wait_for_auditd [SECONDS]: wait until the running auditd is registered as
# the audit daemon, i.e. auditctl -s shows its pid (default 10 s).
wait_for_auditd() { _vmtest_wait "${1:-10}" _vmtest_auditd; }

# power_cut: once the script exits, end the guest as a power cut would:
# no sync, no unmount (/init reboots with sysrq b instead of powering
# off). What the guest had not flushed to its disks (Options.Disks) is not
# on them.
power_cut() { : >/tmp/.vmtest-power-cut; }
