#!/usr/bin/env bash
# Build (once) the system test's VM image: a fresh Debian 13 (trixie, the default) or 12
# (bookworm) amd64 made with
# debootstrap, booted by qemu with its own kernel and initrd, systemd as PID 1, snd-aloop
# loaded at boot, reachable over ssh through qemu's user-mode network. Nothing of herald
# is in it: the system test clones the repo inside the VM and installs from there.
#
#   scripts/vm/image.sh [trixie|bookworm]   print the image directory, building it if
#                                           needed (root)
#
# The image is cached in $HERALD_VM_CACHE (default ~/.cache/herald-vm), in a directory
# named by the suite and a hash of this script (its package list and every setup step), so
# a changed recipe builds a new image and an unchanged one is reused. Each boot runs on
# a throwaway qcow2 overlay; the cached image itself is never written after the build.
set -euo pipefail

SUITE="${1:-trixie}"
case "$SUITE" in
    trixie | bookworm) ;;
    *) echo "image.sh: SUITE is trixie or bookworm, not $SUITE" >&2; exit 2 ;;
esac
MIRROR="${HERALD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# A Debian server as a user would have it before following herald's README: the
# kernel, systemd, ssh (how we get in), sudo and git (to clone the repo). Nothing that
# install.sh is meant to install (python3-venv, alsa-utils, mosquitto, ...).
PACKAGES=linux-image-amd64,systemd-sysv,dbus,udev,kmod,openssh-server,sudo,git,ca-certificates,iproute2,procps
SIZE=8G

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${HERALD_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-vm}"
RECIPE="$(sha256sum "$HERE/image.sh" | cut -c1-16)"
OUT="$CACHE/$SUITE-$RECIPE"

if [ -f "$OUT/done" ]; then
    echo "$OUT"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "image.sh: building the image needs root (debootstrap)" >&2; exit 1; }

need=()
for tool in debootstrap:debootstrap mkfs.ext4:e2fsprogs qemu-system-x86_64:qemu-system-x86 \
            qemu-img:qemu-utils ssh:openssh-client ssh-keygen:openssh-client; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
    echo "==> installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$CACHE"
WORK="$CACHE/.build-$SUITE-$RECIPE"
rm -rf "$WORK" "$OUT"
mkdir -p "$WORK"
ROOTFS="$WORK/rootfs"
start=$SECONDS

echo "==> debootstrap $SUITE into $ROOTFS" >&2
debootstrap --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
echo "debootstrap: $((SECONDS - start)) s" >"$WORK/timings"

echo "==> configuring the image" >&2
echo herald-vm >"$ROOTFS/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 herald-vm\n::1 localhost ip6-localhost\n' >"$ROOTFS/etc/hosts"
echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" >"$ROOTFS/etc/fstab"
mkdir -p "$ROOTFS/etc/systemd/network"
printf '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n' >"$ROOTFS/etc/systemd/network/10-dhcp.network"
chroot "$ROOTFS" systemctl enable systemd-networkd.service >/dev/null 2>&1
echo "nameserver 10.0.2.3" >"$ROOTFS/etc/resolv.conf"  # qemu's user-mode DNS
echo snd-aloop >"$ROOTFS/etc/modules-load.d/snd-aloop.conf"
# Root logs in over ssh with the key made here; no passwords anywhere.
ssh-keygen -q -t ed25519 -N '' -C herald-vm -f "$WORK/id_ed25519"
install -d -m 0700 "$ROOTFS/root/.ssh"
install -m 0600 "$WORK/id_ed25519.pub" "$ROOTFS/root/.ssh/authorized_keys"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
    >"$ROOTFS/etc/ssh/sshd_config.d/herald-vm.conf"
# The serial console shows the boot for debugging; no getty needed there.
chroot "$ROOTFS" systemctl mask serial-getty@ttyS0.service >/dev/null 2>&1
# Under TCG a boot is slow; do not wait for a network that is already up.
chroot "$ROOTFS" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1 || true
rm -f "$ROOTFS"/var/cache/apt/archives/*.deb
cp -L "$ROOTFS/vmlinuz" "$WORK/vmlinuz"
cp -L "$ROOTFS/initrd.img" "$WORK/initrd.img"
chmod 0644 "$WORK/vmlinuz" "$WORK/initrd.img"

echo "==> making the ext4 image" >&2
# stdout carries only the image path: mkfs.ext4 -q still says "Creating regular file".
mkfs.ext4 -q -F -L root -d "$ROOTFS" "$WORK/root.img" "$SIZE" >&2
rm -rf "$ROOTFS"
echo "image total: $((SECONDS - start)) s" >>"$WORK/timings"
touch "$WORK/done"
mv "$WORK" "$OUT"
cat "$OUT/timings" >&2
echo "$OUT"
