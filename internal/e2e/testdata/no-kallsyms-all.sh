# shellcheck shell=sh
# TestNoKallsymsAll: the overload of (a) twice: with the kernel's kallsyms,
# then with its data symbols hidden, as on a kernel built without
# CONFIG_KALLSYMS_ALL (COS, Talos): a copy without them bind-mounted over
# /proc/kallsyms.
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
consumer_quota 20000
MODE=auto
overload syms 0 2
grep -v ' [bBdD] ' /proc/kallsyms > /tmp/kallsyms
mount --bind /tmp/kallsyms /proc/kallsyms
grep -c ' audit_queue$' /proc/kallsyms > /tmp/hidden; emit hidden /tmp/hidden
overload hidden 0 2
