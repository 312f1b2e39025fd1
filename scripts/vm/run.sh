#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup runs from the EXIT trap
# Run a command inside the system test's VM (Debian 13, systemd PID 1, snd-aloop, see
# scripts/vm/image.sh), with this work tree cloned to /root/herald, and print its output.
#
#   sudo scripts/vm/run.sh [--suite trixie|bookworm] [--base] [--keep] [--] CMD...
#
# By default the VM is the state the last passing `scripts/systemtest.sh` left after
# installing herald (README's install command, config pointed at the Cartesia emulator
# that runs in the VM as cartesia-emulator.service, audio.device on the snd-aloop card:
# hw:Loopback,0,0 plays, hw:Loopback,1,0 captures); --base (or no such state yet) boots
# the fresh image instead. CMD runs as root in /root/herald through `bash -lc`; its exit
# status is this script's. Every boot is on a throwaway overlay, so nothing CMD does is
# kept, unless --keep (then the overlay stays, and the path is printed).
# Example (issue 17):  sudo scripts/vm/run.sh 'bench/latency_aloop.sh'
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=scripts/vm/lib.sh
. "$HERE/lib.sh"

BASE=0
KEEP=0
DISK=""
SUITE=trixie
while [ $# -gt 0 ]; do
    case "$1" in
        --suite) SUITE="$2"; shift ;;
        --base) BASE=1 ;;
        --disk) DISK="$2"; shift ;;  # boot this qcow2 itself (debugging a kept disk)
        --keep) KEEP=1 ;;
        --) shift; break ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -gt 0 ] || { echo "usage: scripts/vm/run.sh [--base] [--keep] CMD..." >&2; exit 2; }

IMAGE="$(bash "$HERE/image.sh" "$SUITE")"
backing="$IMAGE/root.img"
backing_fmt=raw
if [ "$BASE" -eq 0 ] && [ -f "$IMAGE/installed.qcow2" ]; then
    backing="$IMAGE/installed.qcow2"
    backing_fmt=qcow2
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/herald-vm.XXXXXX")"
disk="$work/disk.qcow2"
if [ -n "$DISK" ]; then
    disk="$DISK"
    KEEP=1
else
    qemu-img create -q -f qcow2 -b "$backing" -F "$backing_fmt" "$disk"
fi
cleanup() {
    vm_poweroff
    if [ "$KEEP" -eq 1 ]; then echo "kept the VM's disk: $disk" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
echo "==> booting the VM ($(basename "$backing"))" >&2
vm_boot "$IMAGE" "$disk"
echo "==> up after ${VM_BOOT_SECONDS} s ($VM_ACCEL_USED)" >&2
vm_bundle "$REPO" "$work/herald.bundle"
vm_scp_to "$work/herald.bundle" /root/herald.bundle
vm_ssh 'rm -rf /root/herald && git clone -q -b main /root/herald.bundle /root/herald'
set +e
vm_ssh "cd /root/herald && bash -lc $(printf '%q' "$*")"
rc=$?
set -e
exit "$rc"
