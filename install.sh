#!/usr/bin/env bash
# Install herald on Debian 12 / Raspberry Pi OS (bookworm): apt packages, the system
# user, a venv in /opt/herald/venv built from this checkout, /etc/herald/config.toml
# (first install only), credentials, the systemd unit and, when no broker is given, a
# local mosquitto. Safe to run again: a second run changes nothing it already placed.
#
#   sudo ./install.sh [--broker HOST[:PORT]] [--api-key-file FILE]
#                     [--mqtt-password-file FILE] [--force]
#   sudo ./install.sh --uninstall [--purge]
#   ./install.sh --root DIR [--with-venv] ...   (testing: every file under DIR; no apt,
#                                               useradd, chown or systemctl, only listed)
#
# Environment (for unattended installs; flags win): HERALD_BROKER, HERALD_API_KEY_FILE,
# HERALD_MQTT_PASSWORD_FILE. The script never prompts.
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
OS_RELEASE="${HERALD_OS_RELEASE:-/etc/os-release}"  # tests point this elsewhere

APT_PACKAGES=(python3-venv python3-dev gcc libasound2-dev alsa-utils)
MOSQUITTO_SNIPPET=/etc/mosquitto/conf.d/herald.conf
MARKER="# Placed by herald's install.sh"
CREDENTIALS=(cartesia_api_key mqtt_password)

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "$0"
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

ETC="$ROOT/etc/herald"
CONFIG="$ETC/config.toml"
CRED_DIR="$ETC/credentials"
CREDSTORE="$ROOT/etc/credstore"
OPT="$ROOT/opt/herald"
VENV="$OPT/venv"
UNIT="$ROOT/etc/systemd/system/herald.service"

# --- checks ---

check_os() {
    local id="" id_like="" version_id="" codename=""
    if [ -r "$OS_RELEASE" ]; then
        # shellcheck disable=SC1090
        id="$(. "$OS_RELEASE" && echo "${ID:-}")"
        # shellcheck disable=SC1090
        id_like="$(. "$OS_RELEASE" && echo "${ID_LIKE:-}")"
        # shellcheck disable=SC1090
        version_id="$(. "$OS_RELEASE" && echo "${VERSION_ID:-}")"
        # shellcheck disable=SC1090
        codename="$(. "$OS_RELEASE" && echo "${VERSION_CODENAME:-}")"
    fi
    case " $id $id_like " in
        *" debian "* | *" raspbian "*)
            if [ "$version_id" = 12 ] || [ "$codename" = bookworm ]; then
                return 0
            fi ;;
    esac
    if [ "$FORCE" -eq 1 ]; then
        echo "warning: not Debian 12 / Raspberry Pi OS bookworm (${id:-unknown} ${version_id:-?}); going on (--force)" >&2
        return 0
    fi
    die "this installer supports Debian 12 / Raspberry Pi OS bookworm only; this is ${id:-an unknown OS} ${version_id:-${codename:-?}}. Use --force to try anyway."
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

# --- helpers that only touch files when something differs (idempotent) ---

# place_file SRC DEST MODE [OWNER:GROUP]
place_file() {
    local src="$1" dest="$2" mode="$3" owner="${4:-}"
    mkdir -p "$(dirname "$dest")"
    if [ ! -f "$dest" ] || ! cmp -s "$src" "$dest"; then
        install -m "$mode" "$src" "$dest"
        echo "placed $dest"
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

place_link() {
    local target="$1" link="$2"
    mkdir -p "$(dirname "$link")"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
        return 0
    fi
    if [ -e "$link" ] && [ ! -L "$link" ]; then
        echo "warning: $link exists and is not herald's link; leaving it (systemd reads it first)" >&2
        return 0
    fi
    ln -sfn "$target" "$link"
    echo "placed $link -> $target"
}

# The [mqtt] host of an existing config ("" if none).
config_broker_host() {
    [ -f "$CONFIG" ] || return 0
    sed -n '/^\[mqtt\]/,/^\[/s/^host[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$CONFIG" | head -n 1
}

# --- install ---

install_packages() {
    local packages=("${APT_PACKAGES[@]}") missing=() pkg
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
    fi
}

create_user() {
    local groups=audio
    if getent group gpio >/dev/null; then
        groups="audio,gpio"
    fi
    if [ -n "$ROOT" ] || ! getent passwd herald >/dev/null; then
        say "system user herald (groups $groups)"
        run useradd --system --user-group --home-dir /var/lib/herald --no-create-home \
            --shell /usr/sbin/nologin --comment "herald voice daemon" --groups "$groups" herald
    else
        usermod -a -G "$groups" herald
    fi
}

build_venv() {
    if [ -n "$ROOT" ] && [ "$WITH_VENV" -eq 0 ]; then
        echo "would run: python3 -m venv $VENV && $VENV/bin/pip install $SRC"
        return 0
    fi
    say "venv $VENV with herald from $SRC"
    mkdir -p "$OPT"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$SRC"
}

install_config() {
    place_dir "$ETC" 0750 root:herald
    if [ -e "$CONFIG" ]; then
        if [ -n "$BROKER" ] && [ "$(config_broker_host)" != "$BROKER_HOST" ]; then
            echo "note: $CONFIG exists and is kept; set [mqtt] host/port there to use $BROKER" >&2
        fi
    else
        local tmp
        tmp="$(mktemp)"
        cp "$SRC/config/herald.toml" "$tmp"
        if [ -n "$BROKER" ]; then
            sed -i -e "/^\[mqtt\]/,/^\[/s/^host = \"localhost\"/host = \"$BROKER_HOST\"/" \
                -e "/^\[mqtt\]/,/^\[/s/^port = 1883/port = $BROKER_PORT/" "$tmp"
        fi
        place_file "$tmp" "$CONFIG" 0640 root:herald
        rm -f "$tmp"
    fi
    chmod 0640 "$CONFIG"
    set_owner root:herald "$CONFIG"
}

install_credentials() {
    place_dir "$CRED_DIR" 0700 root:root
    [ -z "$API_KEY_FILE" ] || {
        [ -r "$API_KEY_FILE" ] || die "--api-key-file $API_KEY_FILE: cannot read it"
        place_file "$API_KEY_FILE" "$CRED_DIR/cartesia_api_key" 0600 root:root
    }
    [ -z "$MQTT_PASSWORD_FILE" ] || {
        [ -r "$MQTT_PASSWORD_FILE" ] || die "--mqtt-password-file $MQTT_PASSWORD_FILE: cannot read it"
        place_file "$MQTT_PASSWORD_FILE" "$CRED_DIR/mqtt_password" 0600 root:root
    }
    # The unit loads credentials by name from /etc/credstore/ (a missing one is skipped,
    # not fatal); link them to where they live.
    place_dir "$CREDSTORE" 0700 root:root
    local name
    for name in "${CREDENTIALS[@]}"; do
        place_link "/etc/herald/credentials/$name" "$CREDSTORE/$name"
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
EOF
    place_file "$tmp" "$ROOT$MOSQUITTO_SNIPPET" 0644
    rm -f "$tmp"
}

install_unit() {
    place_file "$SRC/systemd/herald.service" "$UNIT" 0644
}

start_service() {
    if [ -n "$ROOT" ]; then
        [ "$LOCAL_BROKER" -eq 0 ] || run systemctl restart mosquitto.service
        run systemctl daemon-reload
        run systemctl enable --now herald.service
        return 0
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        if [ "$LOCAL_BROKER" -eq 1 ]; then
            systemctl enable mosquitto.service
            systemctl restart mosquitto.service
        fi
        systemctl enable herald.service
        systemctl restart herald.service
        say "herald is running: systemctl status herald; journalctl -u herald -f"
    else
        say "systemd is not running here; start herald in the foreground with:"
        echo "    sudo env CREDENTIALS_DIRECTORY=/etc/herald/credentials $VENV/bin/herald run --config /etc/herald/config.toml"
    fi
}

do_install() {
    check_os
    check_root
    LOCAL_BROKER=0
    if [ -n "$BROKER" ]; then
        parse_broker
    else
        case "$(config_broker_host)" in
            "" | localhost | 127.0.0.1 | ::1) LOCAL_BROKER=1 ;;
        esac
    fi
    install_packages
    create_user
    build_venv
    install_config
    install_credentials
    [ "$LOCAL_BROKER" -eq 0 ] || install_mosquitto
    install_unit
    start_service
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
    remove "$UNIT" "$OPT" "$ROOT/var/cache/herald"
    if [ -f "$ROOT$MOSQUITTO_SNIPPET" ] && grep -qF "$MARKER" "$ROOT$MOSQUITTO_SNIPPET"; then
        remove "$ROOT$MOSQUITTO_SNIPPET"
        if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
            systemctl try-restart mosquitto.service || true
        fi
    fi
    local name
    for name in "${CREDENTIALS[@]}"; do
        if [ -L "$CREDSTORE/$name" ] && [ "$(readlink "$CREDSTORE/$name")" = "/etc/herald/credentials/$name" ]; then
            remove "$CREDSTORE/$name"
        fi
    done
    rmdir "$CREDSTORE" 2>/dev/null || true
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
