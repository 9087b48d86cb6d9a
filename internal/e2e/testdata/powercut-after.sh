# shellcheck shell=sh
# TestPowerCut, the boot after the power cut: the disk mounted again (ext4
# replays its journal) and what the recording left read as a user would.
mkdir -p /mnt/out
mount -t ext4 /dev/nvme0n1 /mnt/out || { echo "mounting the disk failed"; exit 1; }
emit p.json /mnt/out/p.json
cmd rec recommend --profile /mnt/out/p.json
