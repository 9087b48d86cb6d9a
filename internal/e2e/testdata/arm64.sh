# shellcheck shell=sh
# TestArm64: HZ first, on a kernel without a config to read; then the
# overloads (a) and (b) of scenarios.sh, recorded with --attach $MODE_A and
# $MODE_B; then (c), keyed_rules as scenarios.sh runs it (auditd free to
# run, the queue settled), recorded with --attach $MODE_A. keyed_rules needs
# no change on arm64: its rules name openat and chdir, both arm64 syscalls
# (arm64 has no open or mkdir, and glibc's open() and stress-ng's are
# openat there), and -F arch=b64 is AUDIT_ARCH_AARCH64 to auditctl.
# This guest has no kernel config (Debian's arm64 cloud kernel is built
# without CONFIG_IKCONFIG, and the initramfs has no /boot).
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
ls /proc/config.gz "/boot/config-$(uname -r)" > /tmp/configs 2>&1; emit configs /tmp/configs
read -r up _ </proc/uptime; echo $up > /tmp/hz.uptime; emit hz.uptime /tmp/hz.uptime
cmd hz status --json
consumer_quota 20000
MODE=$MODE_A
overload a 0 2
MODE=$MODE_B
overload b 5 3
MODE=$MODE_A
consumer_quota max
settle
keyed_rules
