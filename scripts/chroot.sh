#!/usr/bin/env bash
# shellcheck disable=SC2016  # the single-quoted scripts expand in their own shell
# Run a command in a Debian chroot made with debootstrap (cached), with this checkout
# copied to /src. scripts/test.sh uses it to run the suite on the other Debian release
# (trixie: Python 3.13); it also proves the armhf builds under qemu-user.
#
#   scripts/chroot.sh [--arch ARCH] [--bare] SUITE CMD...   (root; SUITE: bookworm or trixie)
#
# --bare: a chroot with nothing but debootstrap's minbase, ca-certificates and git (to
# run install.sh in, which must then install all it needs itself).
#
# ARCH defaults to the host's (dpkg --print-architecture). A foreign ARCH (armhf, arm64)
# runs under qemu-user-static through binfmt_misc, which this script registers (mounting
# /proc/sys/fs/binfmt_misc if needed). The chroot is cached in $HERALD_CHROOT_CACHE
# (default ~/.cache/herald-chroot) under a name with a hash of this script, so changing
# the recipe makes a new one. Whatever CMD leaves under /root (venvs, pip's cache) stays
# for the next run; /src is copied afresh each time (tracked and untracked files, as in
# the work tree, without .venv and other ignored files).
set -euo pipefail

ARCH=""
BARE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH="$2"; shift 2 ;;
        --bare) BARE=1; shift ;;
        *) break ;;
    esac
done
SUITE="${1:?usage: scripts/chroot.sh [--arch ARCH] SUITE CMD...}"
shift
[ $# -gt 0 ] || { echo "chroot.sh: no command" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "chroot.sh: needs root (debootstrap, chroot, mount)" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
HOST_ARCH="$(dpkg --print-architecture)"
ARCH="${ARCH:-$HOST_ARCH}"
MIRROR="${HERALD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What scripts/test.sh and install.sh would install anyway, plus git; baked in so that a
# run does not start with minutes of apt.
PACKAGES=python3,python3-venv,python3-dev,python3-pip,gcc,g++,make,cmake,ninja-build,pkg-config
PACKAGES+=,libasound2-dev,alsa-utils,mosquitto,mosquitto-clients,shellcheck,systemd,openssl
PACKAGES+=,git,ca-certificates,procps,iproute2
[ "$BARE" -eq 0 ] || PACKAGES=ca-certificates,git

CACHE="${HERALD_CHROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-chroot}"
# Bump when the way the chroot is made changes (the package list is hashed anyway).
BUILD_STEPS="debootstrap --variant=minbase v1"
RECIPE="$(echo "$SUITE $ARCH $PACKAGES $BUILD_STEPS" | sha256sum | cut -c1-12)"
DIR="$CACHE/$SUITE-$ARCH$([ "$BARE" -eq 0 ] || echo -bare)-$RECIPE"

install_tools() {
    local need=() tool
    for tool in "$@"; do command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}"); done
    ((${#need[@]})) || return 0
    echo "==> installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

foreign=0
if [ "$ARCH" != "$HOST_ARCH" ]; then
    foreign=1
    qemu="qemu-arm-static"
    [ "$ARCH" != arm64 ] || qemu="qemu-aarch64-static"
    install_tools debootstrap:debootstrap "$qemu:qemu-user-static" update-binfmts:binfmt-support
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
            || { echo "chroot.sh: cannot mount binfmt_misc (needed for $ARCH)" >&2; exit 1; }
    fi
    update-binfmts --enable "${qemu%-static}" 2>/dev/null || true
    [ -e "/proc/sys/fs/binfmt_misc/${qemu%-static}" ] \
        || { echo "chroot.sh: binfmt_misc has no ${qemu%-static} entry" >&2; exit 1; }
else
    install_tools debootstrap:debootstrap
fi

if [ ! -f "$DIR/.herald-done" ]; then
    echo "==> debootstrap $SUITE $ARCH into $DIR (once)" >&2
    rm -rf "$DIR"
    mkdir -p "$CACHE"
    start=$SECONDS
    # debootstrap runs the foreign second stage through binfmt_misc and qemu-user itself.
    if ! debootstrap --arch="$ARCH" --variant=minbase --include="$PACKAGES" \
            "$SUITE" "$DIR" "$MIRROR" >"$CACHE/$SUITE-$ARCH.log" 2>&1; then
        tail -30 "$CACHE/$SUITE-$ARCH.log" >&2
        exit 1
    fi
    rm -f "$DIR"/var/cache/apt/archives/*.deb
    echo "==> debootstrap took $((SECONDS - start)) s" >&2
    touch "$DIR/.herald-done"
fi
((foreign == 0)) || [ -x "$DIR/usr/bin/$qemu" ] || cp "/usr/bin/$qemu" "$DIR/usr/bin/"

# A fresh copy of the work tree (what git would commit plus untracked files).
rm -rf "$DIR/src"
mkdir -p "$DIR/src"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -xf - -C "$DIR/src"
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf"
# Trust what the host trusts (a network may intercept TLS with its own CA); pip is told
# too, because a pip upgraded from PyPI uses its own CA list otherwise.
cp -L /etc/ssl/certs/ca-certificates.crt "$DIR/etc/ssl/certs/ca-certificates.crt"

# Private mounts that vanish with the process; a clean environment (the host's pip
# settings point at host-only mirrors).
exec unshare --mount --propagation private -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" DIR="$DIR" \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    bash -c '
    mount -t proc proc "$DIR/proc"
    mount --rbind /sys "$DIR/sys"
    mount --rbind /dev "$DIR/dev"
    mount -t tmpfs tmpfs "$DIR/tmp"
    mount -t tmpfs tmpfs "$DIR/run"
    cd "$DIR/src"
    exec chroot "$DIR" /bin/bash -c "cd /src && exec \"\$@\"" chroot "$@"
' chroot-outer "$@"
