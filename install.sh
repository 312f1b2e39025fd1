#!/usr/bin/env bash
# Install herald on Debian 12 / 13 or Raspberry Pi OS bookworm / trixie (arm64, armhf or
# amd64): apt packages, the system user, a venv in /opt/herald/venv built from this
# checkout (with the local Piper voice where onnxruntime has a wheel: not on armhf), the
# `herald` command in /usr/local/bin, /etc/herald/config.toml (first install only),
# credentials, the systemd unit and, when no broker is given, a local mosquitto. Safe to
# run again: a second run places nothing new and restarts nothing whose files are unchanged.
#
#   sudo ./install.sh [--broker HOST[:PORT]] [--api-key-file FILE]
#                     [--mqtt-password-file FILE] [--audio-device PCM] [--force]
#   sudo ./install.sh --uninstall [--purge]
#   ./install.sh --root DIR [--with-venv] ...   (testing: every file under DIR; no apt,
#                                               useradd, chown or systemctl, only listed)
#
# Environment (for unattended installs; flags win): HERALD_BROKER, HERALD_API_KEY_FILE,
# HERALD_MQTT_PASSWORD_FILE, HERALD_AUDIO_DEVICE. The script never prompts.
set -euo pipefail
umask 022

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT=""
WITH_VENV=0
FORCE=0
UNINSTALL=0
PURGE=0
BROKER="${HERALD_BROKER:-}"
API_KEY_FILE="${HERALD_API_KEY_FILE:-}"
MQTT_PASSWORD_FILE="${HERALD_MQTT_PASSWORD_FILE:-}"
AUDIO_DEVICE="${HERALD_AUDIO_DEVICE:-}"
# Tests point these elsewhere.
OS_RELEASE="${HERALD_OS_RELEASE:-/etc/os-release}"
ASOUND_CARDS="${HERALD_ASOUND_CARDS:-}"
ARCH="${HERALD_ARCH:-}"

# python3-dev, gcc and libasound2-dev build pyalsaaudio (an sdist only, on every arch);
# mosquitto-clients gives the mosquitto_pub/_sub the README uses.
APT_PACKAGES=(python3 python3-venv python3-dev gcc libc6-dev libasound2-dev alsa-utils
              mosquitto-clients)
# armhf: PyPI has no armv7l wheels for msgspec, soxr or numpy (soxr's), so pip builds
# them: soxr with CMake and a C++ compiler (scikit-build-core), msgspec with gcc. numpy
# would take an hour or more to compile on a Pi Zero 2 W, so it comes from Debian
# (python3-numpy) and the venv sees the system's packages there (--system-site-packages).
APT_PACKAGES_ARMHF=(g++ cmake ninja-build python3-numpy)
MOSQUITTO_SNIPPET=/etc/mosquitto/conf.d/herald.conf
MARKER="# Placed by herald's install.sh"
CREDENTIALS=(cartesia_api_key mqtt_password)
SUPPORTED="Debian 12 (bookworm) and 13 (trixie), Raspberry Pi OS bookworm and trixie"

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0"
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

say() {
    echo "==> $*"
}

# A command that changes the system outside the files placed under $ROOT: run it, or
# with --root only list it.
run() {
    if [ -n "$ROOT" ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$2"; shift ;;
        --root=*) ROOT="${1#*=}" ;;
        --with-venv) WITH_VENV=1 ;;
        --force) FORCE=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --broker) [ $# -ge 2 ] || die "--broker needs HOST[:PORT]"; BROKER="$2"; shift ;;
        --broker=*) BROKER="${1#*=}" ;;
        --api-key-file) [ $# -ge 2 ] || die "--api-key-file needs a file"; API_KEY_FILE="$2"; shift ;;
        --api-key-file=*) API_KEY_FILE="${1#*=}" ;;
        --mqtt-password-file)
            [ $# -ge 2 ] || die "--mqtt-password-file needs a file"; MQTT_PASSWORD_FILE="$2"; shift ;;
        --mqtt-password-file=*) MQTT_PASSWORD_FILE="${1#*=}" ;;
        --audio-device) [ $# -ge 2 ] || die "--audio-device needs an ALSA PCM name"; AUDIO_DEVICE="$2"; shift ;;
        --audio-device=*) AUDIO_DEVICE="${1#*=}" ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT="$(cd "$ROOT" && pwd)"
    [ "$ROOT" != / ] || ROOT=""
fi
[ "$PURGE" -eq 0 ] || [ "$UNINSTALL" -eq 1 ] || die "--purge goes with --uninstall"

ASOUND_CARDS="${ASOUND_CARDS:-$ROOT/proc/asound/cards}"
ETC="$ROOT/etc/herald"
CONFIG="$ETC/config.toml"
CRED_DIR="$ETC/credentials"
CREDSTORE="$ROOT/etc/credstore"
OPT="$ROOT/opt/herald"
VENV="$OPT/venv"
# What install.sh itself made that a package might also own (see do_uninstall).
CREATED_CREDSTORE="$OPT/created-etc-credstore"
SOURCE_STAMP="$OPT/source-stamp"
UNIT="$ROOT/etc/systemd/system/herald.service"
BIN_LINK="$ROOT/usr/local/bin/herald"

# Set when a file the service reads (or the broker's snippet) was placed or changed, so
# that only then is that service restarted.
HERALD_CHANGED=0
MOSQUITTO_CHANGED=0

# --- checks ---

os_field() {
    # shellcheck disable=SC1090
    (. "$OS_RELEASE" && eval "echo \"\${$1:-}\"")
}

check_os() {
    local id="" id_like="" version_id="" codename="" supported=0
    if [ -r "$OS_RELEASE" ]; then
        id="$(os_field ID)"
        id_like="$(os_field ID_LIKE)"
        version_id="$(os_field VERSION_ID)"
        codename="$(os_field VERSION_CODENAME)"
    fi
    # Raspberry Pi OS is ID=raspbian on 32-bit and ID=debian on 64-bit.
    case " $id $id_like " in
        *" debian "* | *" raspbian "*)
            case "$version_id/$codename" in
                12/* | 13/* | */bookworm | */trixie) supported=1 ;;
            esac ;;
    esac
    [ -n "$ARCH" ] || ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)"
    case "$ARCH" in
        amd64 | arm64 | armhf) ;;
        *) supported=0 ;;
    esac
    [ "$supported" -eq 1 ] && return 0
    if [ "$FORCE" -eq 1 ]; then
        echo "warning: not $SUPPORTED on arm64, armhf or amd64 (${id:-unknown} ${version_id:-?}, $ARCH); going on (--force)" >&2
        return 0
    fi
    die "this installer supports $SUPPORTED, on arm64, armhf or amd64; this is ${id:-an unknown OS} ${version_id:-${codename:-?}} on $ARCH. Use --force to try anyway."
}

check_root() {
    if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
        die "run as root (sudo ./install.sh ...), or use --root DIR to stage the files"
    fi
}

# HOST[:PORT] or [IPV6]:PORT -> BROKER_HOST, BROKER_PORT
parse_broker() {
    BROKER_HOST="$BROKER"
    BROKER_PORT=1883
    if [[ "$BROKER" =~ ^\[([^]]+)\](:([0-9]+))?$ ]]; then
        BROKER_HOST="${BASH_REMATCH[1]}"
        BROKER_PORT="${BASH_REMATCH[3]:-1883}"
    elif [[ "$BROKER" =~ ^([^:]+):([0-9]+)$ ]]; then
        BROKER_HOST="${BASH_REMATCH[1]}"
        BROKER_PORT="${BASH_REMATCH[2]}"
    fi
    [[ "$BROKER_HOST" =~ ^[A-Za-z0-9._:-]+$ ]] || die "--broker $BROKER: not a host name or address"
    if ! [[ "$BROKER_PORT" =~ ^[0-9]+$ ]] || [ "$BROKER_PORT" -lt 1 ] || [ "$BROKER_PORT" -gt 65535 ]; then
        die "--broker $BROKER: port must be 1-65535"
    fi
}

check_audio_device() {
    [ -z "$AUDIO_DEVICE" ] || [[ "$AUDIO_DEVICE" =~ ^[A-Za-z0-9_.:,=/-]+$ ]] \
        || die "--audio-device $AUDIO_DEVICE: not an ALSA PCM name (e.g. plughw:CARD=Headphones or default)"
}

# Where onnxruntime (under piper-tts) has a wheel: not for 32-bit ARM.
local_voice_available() {
    [ "$ARCH" != armhf ]
}

# --- helpers that only touch files when something differs (idempotent) ---

# place_file SRC DEST MODE [OWNER:GROUP]; returns 0, sets PLACED=1 if it wrote DEST.
place_file() {
    local src="$1" dest="$2" mode="$3" owner="${4:-}"
    PLACED=0
    mkdir -p "$(dirname "$dest")"
    if [ ! -f "$dest" ] || ! cmp -s "$src" "$dest"; then
        install -m "$mode" "$src" "$dest"
        echo "placed $dest"
        PLACED=1
    fi
    chmod "$mode" "$dest"
    set_owner "$owner" "$dest"
}

# place_dir DIR MODE [OWNER:GROUP]
place_dir() {
    mkdir -p "$1"
    chmod "$2" "$1"
    set_owner "${3:-}" "$1"
}

set_owner() {
    [ -n "$1" ] || return 0
    if [ -n "$ROOT" ]; then
        return 0  # staged: ownership is applied by a real install
    fi
    chown "$1" "$2"
}

# place_link TARGET LINK; sets PLACED=1 if it made or changed LINK.
place_link() {
    local target="$1" link="$2"
    PLACED=0
    mkdir -p "$(dirname "$link")"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
        return 0
    fi
    if [ -e "$link" ] && [ ! -L "$link" ]; then
        echo "warning: $link exists and is not herald's link; leaving it" >&2
        return 0
    fi
    ln -sfn "$target" "$link"
    echo "placed $link -> $target"
    PLACED=1
}

# The value of KEY in [SECTION] of an existing config ("" if none or not a string).
config_value() {
    [ -f "$CONFIG" ] || return 0
    sed -n "/^\[$1\]/,/^\[/s/^$2[[:space:]]*=[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$CONFIG" | head -n 1
}

# Everything a rebuilt venv would be made from: herald's source, the extras, the Python.
source_stamp() {
    local extras="$1"
    {
        echo "extras=$extras python=$(python3 --version 2>&1)"
        (cd "$SRC" && find daemon pyproject.toml README.md -type f \
            ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | LC_ALL=C sort -z \
            | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

# --- install ---

install_packages() {
    local packages=("${APT_PACKAGES[@]}") missing=() pkg
    [ "$ARCH" != armhf ] || packages+=("${APT_PACKAGES_ARMHF[@]}")
    [ "$LOCAL_BROKER" -eq 0 ] || packages+=(mosquitto)
    if [ -n "$ROOT" ]; then
        run apt-get install -y --no-install-recommends "${packages[@]}"
        return 0
    fi
    for pkg in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing apt packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
        [[ " ${missing[*]} " != *" mosquitto "* ]] || MOSQUITTO_CHANGED=1
    fi
}

# The unit names no supplementary groups (a group missing on this system would fail it
# with 216/GROUP): systemd gives User=herald the groups of its /etc/group entries, so the
# user is in audio and, where Pi OS has made it, gpio. A gpio group added later (a HAT's
# package) is picked up by running install.sh again.
create_user() {
    local groups=audio
    if [ -z "$ROOT" ] && getent group gpio >/dev/null; then
        groups="audio,gpio"
    fi
    if [ -n "$ROOT" ] || ! getent passwd herald >/dev/null; then
        say "system user herald (groups $groups)"
        run useradd --system --user-group --home-dir /var/lib/herald --no-create-home \
            --shell /usr/sbin/nologin --comment "herald voice daemon" --groups "$groups" herald
        [ -n "$ROOT" ] || HERALD_CHANGED=1
    elif ! id -nG herald | tr ' ' '\n' | grep -qx gpio && [ "$groups" = audio,gpio ]; then
        usermod -a -G "$groups" herald
        echo "added herald to the groups $groups"
        HERALD_CHANGED=1
    fi
}

build_venv() {
    local extras="" stamp
    if local_voice_available; then
        extras="[piper]"
    else
        echo "note: no local voice on 32-bit $ARCH (onnxruntime, under Piper, has no wheel for it): offline, herald speaks cached clips, else a chime"
    fi
    local venv_flags=()
    [ "$ARCH" != armhf ] || venv_flags=(--system-site-packages)
    if [ -n "$ROOT" ] && [ "$WITH_VENV" -eq 0 ]; then
        echo "would run: python3 -m venv ${venv_flags[*]}${venv_flags[*]:+ }$VENV && $VENV/bin/pip install $SRC$extras"
        return 0
    fi
    stamp="$(source_stamp "$extras")"
    if [ -x "$VENV/bin/herald" ] && [ "$(cat "$SOURCE_STAMP" 2>/dev/null)" = "$stamp" ]; then
        return 0  # built from this very source already
    fi
    say "venv $VENV with herald$extras from $SRC (a few minutes)"
    mkdir -p "$OPT"
    [ -x "$VENV/bin/python" ] || python3 -m venv "${venv_flags[@]}" "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$SRC$extras"
    echo "$stamp" >"$SOURCE_STAMP"
    HERALD_CHANGED=1
}

# /usr/local/bin/herald: the venv's herald, given the service's credentials when the
# caller can read them (root, as with `sudo herald doctor`), the way systemd's
# LoadCredential hands them to the unit; so doctor, say and voices use the same key.
link_command() {
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF
#!/bin/sh
$MARKER: the herald command (sudo ./install.sh --uninstall removes it).
if [ -z "\${CREDENTIALS_DIRECTORY:-}" ] && [ -r /etc/herald/credentials ] && [ -x /etc/herald/credentials ]; then
    CREDENTIALS_DIRECTORY=/etc/herald/credentials
    export CREDENTIALS_DIRECTORY
fi
exec /opt/herald/venv/bin/herald "\$@"
EOF
    place_file "$tmp" "$BIN_LINK" 0755
    rm -f "$tmp"
}

# Set KEY = "VALUE" (a string) in [SECTION] of FILE.
set_config_string() {
    local file="$1" section="$2" key="$3" value="$4"
    sed -i "/^\[$section\]/,/^\[/s|^$key = \"[^\"]*\"|$key = \"$value\"|" "$file"
}

install_config() {
    place_dir "$ETC" 0750 root:herald
    if [ -e "$CONFIG" ]; then
        if [ -n "$BROKER" ] && [ "$(config_value mqtt host)" != "$BROKER_HOST" ]; then
            echo "note: $CONFIG exists and is kept; set [mqtt] host/port there to use $BROKER" >&2
        fi
        if [ -n "$AUDIO_DEVICE" ] && [ "$(config_value audio device)" != "$AUDIO_DEVICE" ]; then
            echo "note: $CONFIG exists and is kept; set [audio] device = \"$AUDIO_DEVICE\" there" >&2
        fi
    else
        local tmp
        tmp="$(mktemp)"
        cp "$SRC/config/herald.toml" "$tmp"
        if [ -n "$BROKER" ]; then
            set_config_string "$tmp" mqtt host "$BROKER_HOST"
            sed -i "/^\[mqtt\]/,/^\[/s/^port = 1883/port = $BROKER_PORT/" "$tmp"
        fi
        [ -z "$AUDIO_DEVICE" ] || set_config_string "$tmp" audio device "$AUDIO_DEVICE"
        local_voice_available || sed -i '/^\[offline\]/,/^\[/s/^local_voice = "piper"/local_voice = "none"/' "$tmp"
        place_file "$tmp" "$CONFIG" 0640 root:herald
        rm -f "$tmp"
        HERALD_CHANGED=1
    fi
    chmod 0640 "$CONFIG"
    set_owner root:herald "$CONFIG"
}

# One line about the sound cards, when the config still says ALSA "default".
suggest_audio_device() {
    [ "$(config_value audio device)" = default ] || return 0
    local cards=() line
    if [ -r "$ASOUND_CARDS" ]; then
        while IFS= read -r line; do
            [[ "$line" =~ ^\ *[0-9]+\ \[([A-Za-z0-9_]+)\ *\]:\ *(.*)$ ]] \
                && cards+=("${BASH_REMATCH[1]} (${BASH_REMATCH[2]})")
        done <"$ASOUND_CARDS"
    fi
    if [ -e "$ROOT/etc/alsa/conf.d/99-pipewire-default.conf" ]; then
        echo "note: ALSA \"default\" is PipeWire here (a desktop image), which a system service cannot reach; name a card: sudo ./install.sh --audio-device plughw:CARD=<card> and set it in $CONFIG"
    fi
    case ${#cards[@]} in
        0) echo "note: no sound card found (/proc/asound/cards); herald keeps retrying ALSA \"default\"" ;;
        1) echo "note: one sound card, ${cards[0]}: herald uses ALSA \"default\"; to name it, set [audio] device = \"plughw:CARD=${cards[0]%% *}\" in $CONFIG (or --audio-device on a first install)" ;;
        *) echo "note: ${#cards[@]} sound cards (${cards[*]}); herald uses ALSA \"default\"; pick one: [audio] device = \"plughw:CARD=<name>\" in $CONFIG" ;;
    esac
}

install_credentials() {
    place_dir "$CRED_DIR" 0700 root:root
    [ -z "$API_KEY_FILE" ] || {
        [ -r "$API_KEY_FILE" ] || die "--api-key-file $API_KEY_FILE: cannot read it"
        place_file "$API_KEY_FILE" "$CRED_DIR/cartesia_api_key" 0600 root:root
        [ "$PLACED" -eq 0 ] || HERALD_CHANGED=1
    }
    [ -z "$MQTT_PASSWORD_FILE" ] || {
        [ -r "$MQTT_PASSWORD_FILE" ] || die "--mqtt-password-file $MQTT_PASSWORD_FILE: cannot read it"
        place_file "$MQTT_PASSWORD_FILE" "$CRED_DIR/mqtt_password" 0600 root:root
        [ "$PLACED" -eq 0 ] || HERALD_CHANGED=1
    }
    # The unit loads credentials by name from /etc/credstore/ (a missing one is skipped,
    # not fatal); link them to where they live. On trixie the systemd package ships
    # /etc/credstore; where install.sh had to make it, it notes so for --uninstall.
    if [ ! -d "$CREDSTORE" ]; then
        mkdir -p "$OPT"
        touch "$CREATED_CREDSTORE"
    fi
    place_dir "$CREDSTORE" 0700 root:root
    local name
    for name in "${CREDENTIALS[@]}"; do
        place_link "/etc/herald/credentials/$name" "$CREDSTORE/$name"
        [ "$PLACED" -eq 0 ] || HERALD_CHANGED=1
    done
}

install_mosquitto() {
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF
$MARKER: a local broker for herald.
# Only reachable from this machine. Queued QoS1 commands must survive a broker crash:
# mosquitto's default snapshot every 30 minutes would lose them, so save on each change.
listener 1883 127.0.0.1
allow_anonymous true
persistence true
autosave_on_changes true
autosave_interval 1
# herald keeps its session for 7 days, so the broker queues commands while it is away.
# mosquitto's default of 1000 queued messages would drop commands after a day or two of
# a busy home; 10080 is a week at 60 an hour. The byte cap (10080 of herald's largest,
# 4 KiB) bounds the broker's memory and its persistence file.
max_queued_messages 10080
max_queued_bytes 41287680
EOF
    place_file "$tmp" "$ROOT$MOSQUITTO_SNIPPET" 0644
    [ "$PLACED" -eq 0 ] || MOSQUITTO_CHANGED=1
    rm -f "$tmp"
}

install_unit() {
    place_file "$SRC/systemd/herald.service" "$UNIT" 0644
    [ "$PLACED" -eq 0 ] || { HERALD_CHANGED=1; UNIT_CHANGED=1; }
}

# Enable and start a unit; restart it only if CHANGED is 1 (a re-run with nothing new
# leaves a running service alone).
start_unit() {
    local unit="$1" changed="$2"
    run systemctl enable --quiet "$unit"
    if [ -n "$ROOT" ]; then
        if [ "$changed" -eq 1 ]; then run systemctl restart "$unit"; else run systemctl start "$unit"; fi
    elif [ "$changed" -eq 1 ]; then
        systemctl restart "$unit"
        echo "restarted $unit"
    elif ! systemctl is-active --quiet "$unit"; then
        systemctl start "$unit"
        echo "started $unit"
    fi
}

start_service() {
    if [ -z "$ROOT" ] && [ ! -d /run/systemd/system ]; then
        say "systemd is not running here; start herald in the foreground with:"
        echo "    sudo env CREDENTIALS_DIRECTORY=/etc/herald/credentials $VENV/bin/herald run --config /etc/herald/config.toml"
        return 0
    fi
    [ "$UNIT_CHANGED" -eq 0 ] || run systemctl daemon-reload
    [ "$LOCAL_BROKER" -eq 0 ] || start_unit mosquitto.service "$MOSQUITTO_CHANGED"
    start_unit herald.service "$HERALD_CHANGED"
    [ -n "$ROOT" ] || say "herald is running: systemctl status herald; journalctl -u herald -f"
}

do_install() {
    check_os
    check_root
    check_audio_device
    LOCAL_BROKER=0
    UNIT_CHANGED=0
    if [ -n "$BROKER" ]; then
        parse_broker
    else
        case "$(config_value mqtt host)" in
            "" | localhost | 127.0.0.1 | ::1) LOCAL_BROKER=1 ;;
        esac
    fi
    install_packages
    create_user
    build_venv
    link_command
    install_config
    install_credentials
    [ "$LOCAL_BROKER" -eq 0 ] || install_mosquitto
    install_unit
    start_service
    suggest_audio_device
    [ -e "$CRED_DIR/cartesia_api_key" ] \
        || echo "note: no Cartesia key yet: put it in /etc/herald/credentials/cartesia_api_key (0600 root) or rerun with --api-key-file FILE; herald speaks offline until then" >&2
    say "done"
}

# --- uninstall ---

remove() {
    local path
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -rf -- "$path"
            echo "removed $path"
        fi
    done
}

# Whether a Debian package owns PATH (as trixie's systemd owns /etc/credstore).
package_owns() {
    [ -z "$ROOT" ] && dpkg-query -S "$1" >/dev/null 2>&1
}

do_uninstall() {
    check_root
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
        systemctl disable --now herald.service 2>/dev/null || true
    elif [ -n "$ROOT" ]; then
        run systemctl disable --now herald.service
    fi
    # Once stopped (it would announce itself again), take it out of Home Assistant.
    if [ -n "$ROOT" ]; then
        run herald discovery remove
    elif [ -x "$OPT/venv/bin/herald" ] && [ -f "$ETC/config.toml" ]; then
        if ! HERALD_CONFIG="$ETC/config.toml" CREDENTIALS_DIRECTORY="$ETC/credentials" \
                "$OPT/venv/bin/herald" discovery remove; then
            echo "note: could not remove herald from Home Assistant (broker unreachable?);" \
                 "delete the device in Home Assistant by hand" >&2
        fi
    fi
    if [ -f "$BIN_LINK" ] && grep -qF "$MARKER" "$BIN_LINK"; then
        remove "$BIN_LINK"
    fi
    local name created_credstore=0
    for name in "${CREDENTIALS[@]}"; do
        if [ -L "$CREDSTORE/$name" ] && [ "$(readlink "$CREDSTORE/$name")" = "/etc/herald/credentials/$name" ]; then
            remove "$CREDSTORE/$name"
        fi
    done
    [ ! -e "$CREATED_CREDSTORE" ] || created_credstore=1
    # Only a /etc/credstore that install.sh made, that is empty and that no package owns.
    if [ "$created_credstore" -eq 1 ] && ! package_owns /etc/credstore; then
        rmdir "$CREDSTORE" 2>/dev/null && echo "removed $CREDSTORE"
    fi
    remove "$UNIT" "$OPT" "$ROOT/var/cache/herald"
    if [ -f "$ROOT$MOSQUITTO_SNIPPET" ] && grep -qF "$MARKER" "$ROOT$MOSQUITTO_SNIPPET"; then
        remove "$ROOT$MOSQUITTO_SNIPPET"
        if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
            systemctl try-restart mosquitto.service || true
        fi
    fi
    if [ "$PURGE" -eq 1 ]; then
        remove "$ETC" "$ROOT/var/lib/herald"
    else
        [ ! -e "$ETC" ] || echo "kept $ETC (config and credentials; --purge removes it)"
    fi
    if [ -n "$ROOT" ]; then
        run userdel herald
    elif getent passwd herald >/dev/null; then
        userdel herald
    fi
    [ -n "$ROOT" ] || [ ! -d /run/systemd/system ] || systemctl daemon-reload
    say "herald uninstalled (apt packages, including mosquitto, are left installed)"
}

if [ "$UNINSTALL" -eq 1 ]; then
    do_uninstall
else
    do_install
fi
