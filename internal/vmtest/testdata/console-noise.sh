# shellcheck shell=sh
# TestConsoleNoise: sections emitted while another process floods the
# console with kernel messages.
dd if=/dev/urandom of=/tmp/r bs=1k count=96 2>/dev/null
sha256sum /tmp/r | cut -d' ' -f1 >/tmp/sum
( i=0; while :; do i=$((i+1)); echo "<3>vmtest noise $i" >/dev/kmsg; done ) &
noise=$!
sleep 0.2
emit random /tmp/r
echo "=== BEGIN plain ==="
seq 1 2000
echo "=== END plain ==="
kill $noise
emit sum /tmp/sum
