# shellcheck shell=bash disable=SC2016,SC2034  # single-quoted scripts run in their own shell; variables are for the sourcing script
# Boot the system test's VM (scripts/vm/image.sh) and talk to it over ssh. Sourced by
# scripts/vm/run.sh and scripts/systemtest.sh.
#
# KVM is used when it works; on a machine where /dev/kvm exists but fails every guest
# ("KVM internal error ... emulation failure"), the boot is retried under TCG (software
# emulation, ~12x slower). HERALD_VM_ACCEL=tcg or =kvm skips the probe.


VM_MEM="${HERALD_VM_MEM:-2048}"
VM_CPUS="${HERALD_VM_CPUS:-2}"
VM_PID=""
VM_PORT=""
VM_LOG=""
VM_ACCEL_USED=""

vm_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# vm_start IMAGE_DIR DISK ACCEL: qemu in the background; DISK is a qcow2 overlay.
vm_start() {
    local image="$1" disk="$2" accel="$3"
    VM_PORT="$(vm_free_port)"
    VM_LOG="${disk%.*}.console.log"
    : >"$VM_LOG"
    # TCG's default CPU (qemu64) lacks AVX and more: onnxruntime (Piper) dies with
    # SIGILL there. "max" is every feature TCG emulates (AVX2 since QEMU 7.2).
    local cpu=(-cpu max)
    [ "$accel" = kvm ] && cpu=(-cpu host)
    qemu-system-x86_64 -accel "$accel" "${cpu[@]}" -m "$VM_MEM" -smp "$VM_CPUS" \
        -nographic -no-reboot -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet" \
        -drive "file=$disk,if=virtio,format=qcow2,cache=unsafe" \
        -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$VM_PORT-:22" \
        -serial "file:$VM_LOG" -monitor none -display none </dev/null >>"$VM_LOG.qemu" 2>&1 &
    VM_PID=$!
    VM_ACCEL_USED="$accel"
}

VM_SSH_OPTS=(-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
             -o LogLevel=ERROR -o ConnectTimeout=10 -o ServerAliveInterval=15
             -o ServerAliveCountMax=8)

vm_ssh() {
    ssh "${VM_SSH_OPTS[@]}" -i "$VM_IMAGE/id_ed25519" -p "$VM_PORT" root@127.0.0.1 "$@"
}

vm_scp_to() {  # vm_scp_to LOCAL REMOTE
    scp -q "${VM_SSH_OPTS[@]}" -i "$VM_IMAGE/id_ed25519" -P "$VM_PORT" "$1" "root@127.0.0.1:$2"
}

# vm_wait_ssh SECONDS: until sshd answers; 1 if qemu died, KVM failed or time ran out.
vm_wait_ssh() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        kill -0 "$VM_PID" 2>/dev/null || return 1
        if [ "$VM_ACCEL_USED" = kvm ] && grep -q "KVM internal error" "$VM_LOG.qemu" "$VM_LOG" 2>/dev/null; then
            return 1
        fi
        # Seen once in ~10 TCG boots with -cpu max: an oops in the timer code of the
        # second vCPU during boot. The caller boots again.
        grep -q "Kernel panic" "$VM_LOG" 2>/dev/null && return 1
        vm_ssh true 2>/dev/null && return 0
        sleep 3
    done
    return 1
}

vm_kill() {
    [ -n "$VM_PID" ] || return 0
    kill "$VM_PID" 2>/dev/null || true
    wait "$VM_PID" 2>/dev/null || true
    VM_PID=""
}

# vm_boot IMAGE_DIR DISK: start and wait for ssh, KVM first when it may work.
vm_boot() {
    VM_IMAGE="$1"
    local disk="$2" accel="${HERALD_VM_ACCEL:-auto}" start=$SECONDS
    if [ "$accel" = auto ]; then
        accel=tcg
        if [ -w /dev/kvm ]; then
            vm_start "$VM_IMAGE" "$disk" kvm
            if vm_wait_ssh 90; then
                VM_BOOT_SECONDS=$((SECONDS - start))
                return 0
            fi
            echo "vm: KVM does not run this guest here ($(grep -m1 -o 'KVM internal error.*' "$VM_LOG.qemu" "$VM_LOG" 2>/dev/null | head -1 || echo 'no ssh')); using TCG" >&2
            vm_kill
        fi
    fi
    local try
    for try in 1 2 3; do
        vm_start "$VM_IMAGE" "$disk" "$accel"
        vm_wait_ssh "${HERALD_VM_BOOT_TIMEOUT:-900}" && break
        vm_kill
        if [ "$try" -eq 3 ] || ! grep -q "Kernel panic" "$VM_LOG"; then
            echo "vm: no ssh after boot; console log: $VM_LOG" >&2
            tail -20 "$VM_LOG" >&2
            return 1
        fi
        echo "vm: the guest kernel panicked while booting (TCG); booting again" >&2
        cp "$VM_LOG" "$VM_LOG.panic$try"
    done
    VM_BOOT_SECONDS=$((SECONDS - start))
}

# vm_reboot: reboot the guest (-no-reboot makes qemu exit), then boot the same disk.
vm_poweroff() {
    vm_ssh systemctl poweroff >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 300))
    while kill -0 "$VM_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 2; done
    vm_kill
}

# The work tree as a git bundle of one commit, branch "main": HEAD plus every change on
# disk, untracked files included (not ignored ones), so what is tested is what is there.
vm_bundle() {  # vm_bundle REPO OUT
    local repo="$1" out="$2" tmp
    tmp="$(mktemp -d)"
    git clone -q "$repo" "$tmp/r"
    git -C "$tmp/r" checkout -q -B main
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
        | tar --null -T - -cf -) | tar -xf - -C "$tmp/r"
    git -C "$tmp/r" add -A
    git -C "$tmp/r" -c user.name=systemtest -c user.email=systemtest@localhost \
        commit -q --allow-empty -m "work tree for the system test"
    git -C "$tmp/r" bundle create -q "$out" main
    rm -rf "$tmp"
}
