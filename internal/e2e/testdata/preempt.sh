# shellcheck shell=sh
# TestPreemptFull and TestPreemptRT: the backlog overloaded at 64 twice on
# a kernel that preempts kernel code, with --attach auto, then with an
# explicit fentry; then, with --attach auto, scenarios (b) and (c) of
# scenarios.sh: the overload with a backlog wait of 5 jiffies, and two
# keyed rules that lose nothing (keyed_rules).
# shellcheck disable=SC2034 # MODE is read by record (prelude.sh)
consumer_quota 20000
MODE=auto
overload auto 0 3
MODE=fentry
overload fentry 0 3
MODE=auto
overload b 5 3
consumer_quota max
settle
keyed_rules
