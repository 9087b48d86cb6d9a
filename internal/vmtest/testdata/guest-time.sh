# shellcheck shell=sh
# TestGuestTime: a fixed amount of work, timed on the guest's own clock.
read -r a _ </proc/uptime
i=0; while [ $i -lt 150000 ]; do i=$((i + 1)); done
read -r b _ </proc/uptime
echo "$a $b" | emit uptime
