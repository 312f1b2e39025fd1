#!/usr/bin/env bash
# The system test: herald installed by the README's command on a fresh Debian 13 VM (or
# 12: --suite bookworm) (debootstrap + qemu; systemd 257 / 252 as PID 1; snd-aloop as the
# sound card) and checked
# under real systemd, one line per check. Needs root (debootstrap, qemu) and the network
# (Debian's mirror and PyPI, from inside the VM).
#
#   sudo scripts/systemtest.sh [--suite trixie|bookworm]
#
# Phases (scripts/systemtest-guest.sh does the checks inside the VM):
#   1. the image (scripts/vm/image.sh; cached by its recipe, so only the first run pays)
#   2. boot (KVM if it works, else TCG), clone this work tree in the VM
#   3. install: `sudo ./install.sh --api-key-file ~/cartesia-key.txt` as the README says,
#      the README's first say; herald on PATH; no gpio group needed
#   4. checks, with the project's Cartesia emulator running in the VM (a systemd unit,
#      cartesia-emulator.service, plain ws/http on 127.0.0.1:8300) and audio.device on
#      the snd-aloop card: READY, speech captured bit-exact from the loopback's capture
#      side, snd_pcm_rewind on the real driver through herald's sink and player
#      (scripts/vm/rewind_check.py), events, credentials, reload and broken-config reload, a restart that loses no
#      queued say, the watchdog restarting a SIGSTOPped herald, the online security score,
#      a bad config at start, herald doctor / config check / say / journalctl as the README
#      runs them, Piper's real-time factor in the sandbox and outside, a second install.sh
#      that restarts nothing
#   5. reboot (the VM is powered off and booted again), herald comes back and speaks; the
#      disk at this point is kept as the VM for scripts/vm/run.sh
#   6. --uninstall, then --uninstall --purge, and what is left on the file system
# Prints PASS/FAIL lines, INFO lines and TIME lines (seconds per phase); exits 1 if any
# check failed. The whole log is also written to $HERALD_VM_CACHE/systemtest-SUITE.log.
# HERALD_SYSTEMTEST_KEEP=1 keeps the VM's disk (its path is printed) when a check fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=scripts/vm/lib.sh
. "$HERE/vm/lib.sh"
# All in one function, so that editing this file while it runs cannot change the run.
main() {
    [ "$(id -u)" -eq 0 ] || { echo "systemtest.sh: needs root (sudo scripts/systemtest.sh)" >&2; exit 1; }

    SUITE=trixie
    if [ "${1:-}" = --suite ]; then SUITE="${2:?--suite trixie|bookworm}"; shift 2; fi
    CACHE="${HERALD_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-vm}"
    mkdir -p "$CACHE"
    LOG="$CACHE/systemtest-$SUITE.log"
    exec > >(tee "$LOG") 2>&1
    total=$SECONDS
    FAILED=0

    phase() { echo "==> $*"; }
    t0=$SECONDS
    IMAGE="$(bash "$HERE/vm/image.sh" "$SUITE")"
    echo "TIME image: $((SECONDS - t0)) s ($IMAGE)"

    work="$(mktemp -d "${TMPDIR:-/tmp}/herald-systemtest.XXXXXX")"
    disk="$work/disk.qcow2"
    qemu-img create -q -f qcow2 -b "$IMAGE/root.img" -F raw "$disk"
    cleanup() {
        vm_kill
        if [ "$FAILED" -ne 0 ] && [ "${HERALD_SYSTEMTEST_KEEP:-0}" = 1 ]; then
            echo "kept the VM's disk: $disk (backing file $IMAGE/root.img)"
        else
            rm -rf "$work"
        fi
    }
    trap cleanup EXIT

    boot() {
        local t=$SECONDS
        phase "booting the VM"
        vm_boot "$IMAGE" "$disk"
        echo "TIME boot: $((SECONDS - t)) s ($VM_ACCEL_USED)"
    }

    # guest PHASE: run one phase of the checks; count its failures.
    guest() {
        local t=$SECONDS rc=0
        phase "$1"
        vm_ssh "bash /root/herald/scripts/systemtest-guest.sh $1" || rc=$?
        echo "TIME $1: $((SECONDS - t)) s"
        FAILED=$((FAILED + rc))
        return 0
    }

    # The VM trusts what this host trusts: where the network intercepts TLS with its own CA,
    # the fresh image would not reach PyPI. Only certificates the guest lacks are added.
    trust_host_cas() {
        vm_ssh cat /etc/ssl/certs/ca-certificates.crt >"$work/guest-cas.pem"
        python3 - /etc/ssl/certs/ca-certificates.crt "$work/guest-cas.pem" >"$work/extra.pem" <<'PY'
import re, sys
pem = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
guest = set(pem.findall(open(sys.argv[2]).read()))
print("\n".join(c for c in pem.findall(open(sys.argv[1]).read()) if c not in guest))
PY
        if [ -s "$work/extra.pem" ] && grep -q BEGIN "$work/extra.pem"; then
            echo "INFO network: the VM is given $(grep -c BEGIN "$work/extra.pem") CA certificate(s) this host trusts"
            # Appended to the bundle directly (update-ca-certificates takes minutes under
            # TCG); the copy in /usr/local/share keeps them if a package rebuilds the bundle.
            # pip is pointed at the bundle, as a pip upgraded from PyPI has its own CA list.
            vm_scp_to "$work/extra.pem" /usr/local/share/ca-certificates/host-extra.crt
            vm_ssh 'cat /usr/local/share/ca-certificates/host-extra.crt >>/etc/ssl/certs/ca-certificates.crt
                    printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" >/etc/pip.conf'
        fi
    }

    boot
    trust_host_cas
    phase "cloning this work tree in the VM"
    vm_bundle "$REPO" "$work/herald.bundle"
    vm_scp_to "$work/herald.bundle" /root/herald.bundle
    vm_ssh 'git clone -q -b main /root/herald.bundle /root/herald'

    guest install
    if [ "$FAILED" -eq 0 ]; then
        guest checks
        phase "reboot"
        vm_poweroff
        cp --sparse=always "$disk" "$work/installed.qcow2"
        boot
        guest after-reboot
        # The installed VM, for scripts/vm/run.sh (the lead's latency runs, issue 17).
        mv "$work/installed.qcow2" "$IMAGE/installed.qcow2"
        guest uninstall
    fi
    vm_poweroff
    echo "TIME total: $((SECONDS - total)) s"
    echo "summary: $(grep -c '^PASS' "$LOG") passed, $(grep -c '^FAIL' "$LOG") failed"
    [ "$FAILED" -eq 0 ]
}

main "$@"
