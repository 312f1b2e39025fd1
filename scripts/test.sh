#!/usr/bin/env bash
# Set up everything the test suite needs on Debian 12 / 13 or Raspberry Pi OS, then run
# it: apt packages (only the missing ones), a venv in .venv with herald, its test extras
# and rhasspy-hermes, a separate venv in .ha-venv with Home Assistant (built once), then
# lint, type checks and the full pytest suite. Then the same again on the other Debian
# release, in a debootstrap chroot (scripts/chroot.sh; cached): on a Debian 12 host
# (Python 3.11) the suite also runs on Debian 13 trixie (Python 3.13), and the reverse.
#
#   bash scripts/test.sh [--here] [--system] [PYTEST ARGS...]
#
# --here: only on this machine (quicker, while developing). Without it the chroot needs
# root (sudo is used if needed). --system: then also the system test
# (scripts/systemtest.sh: install.sh on a Debian 13 VM under real systemd).
set -euo pipefail
cd "$(dirname "$0")/.."

HERE_ONLY=0
SYSTEM=0
while [ $# -gt 0 ]; do
    case "$1" in
        --here) HERE_ONLY=1 ;;
        --system) SYSTEM=1 ;;
        *) break ;;
    esac
    shift
done

APT_PACKAGES=(python3 python3-venv python3-dev gcc libasound2-dev alsa-utils
              mosquitto mosquitto-clients shellcheck systemd openssl)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "==> installing apt packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

VENV="${HERALD_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
fi
echo "==> installing herald with its test extras"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"

# rhasspy-hermes, a real Hermes peer for tests/e2e/test_hermes_e2e.py: it builds the
# hermes/tts/say messages and parses hermes/tts/sayFinished. It pins paho-mqtt 1.5
# (herald needs 2.x), but its message modules (rhasspyhermes.base, .tts) only import
# dataclasses-json; so it goes in with --no-deps, plus the dataclasses-json it pins.
if ! "$VENV/bin/python" - <<'PY' 2>/dev/null; then
from importlib.metadata import version
assert version("rhasspy-hermes") == "0.6.2" and version("dataclasses-json") == "0.5.6"
PY
    echo "==> installing rhasspy-hermes (the Hermes peer the tests talk to)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check dataclasses-json==0.5.6
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps rhasspy-hermes==0.6.2
fi
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version
from rhasspyhermes.tts import TtsSay, TtsSayFinished  # noqa: F401
paho = version("paho-mqtt")
assert paho.split(".")[0] == "2", f"herald needs paho-mqtt 2.x, the venv has {paho}"
PY

# Home Assistant's own code validates the discovery payloads (tests/homeassistant/test_discovery.py,
# which fails rather than skips under this script). It lives in its own venv, never in
# herald's, and its release follows the Python: 2024.3.3 is the last that runs on 3.11
# (Debian 12), 2026.2.3 the last on 3.13 (Debian 13; 2026.3 needs 3.14), and every pin of
# 2026.2.3 has a cp313 wheel (2024.3.3's orjson 3.9.15 has none and wants Rust). Only
# what the validator imports goes in: homeassistant with --no-deps, then its pinned
# requirements except the Bluetooth stack (home-assistant-bluetooth: bleak, dbus-fast,
# ...) and, for 2024.3.3, the cloud (hass-nabucasa), which the MQTT schemas, the template
# engine and HomeAssistant() never import. That takes ~30 s from an empty pip cache
# instead of ~4 min for the full install. Rebuilt only when the recipe or the
# Python changes (a stamp file records both).
# 2024.3.3's MQTT code never imports hass-nabucasa; 2026.2.3's does (through http).
case "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" in
    3.11) HA_VERSION="2024.3.3"; HA_SKIP=(hass-nabucasa home-assistant-bluetooth) ;;
    3.12) HA_VERSION="2025.1.4"; HA_SKIP=(home-assistant-bluetooth) ;;  # the last on 3.12
    *) HA_VERSION="2026.2.3"; HA_SKIP=(home-assistant-bluetooth) ;;
esac
HA_VENV="${HERALD_HA_VENV:-.ha-venv}"
ha_recipe="homeassistant==$HA_VERSION without ${HA_SKIP[*]} on $(python3 --version 2>&1)"
build_ha_venv() {
    local pip=("$HA_VENV/bin/python" -m pip install --disable-pip-version-check --no-compile)
    python3 -m venv "$HA_VENV" || return
    "${pip[@]}" --no-deps "homeassistant==$HA_VERSION" || return
    "$HA_VENV/bin/python" - "${HA_SKIP[@]}" >"$HA_VENV/requirements.txt" <<'PY' || return
import sys
from importlib.metadata import requires
print("\n".join(r for r in requires("homeassistant") if not r.startswith(tuple(sys.argv[1:]))))
PY
    # pip reports the requirements left out as a conflict here: expected.
    "${pip[@]}" -r "$HA_VENV/requirements.txt"
}
if [ ! -x "$HA_VENV/bin/python" ] || [ "$(cat "$HA_VENV/.herald-recipe" 2>/dev/null)" != "$ha_recipe" ]; then
    echo "==> building $HA_VENV (Home Assistant $HA_VERSION, for the discovery tests)"
    rm -rf "$HA_VENV"
    ha_log="$(mktemp)"
    if ! build_ha_venv >"$ha_log" 2>&1; then
        cat "$ha_log" >&2
        echo "building $HA_VENV failed (log above)" >&2
        exit 1
    fi
    mv "$ha_log" "$HA_VENV/build.log"
    echo "$ha_recipe" >"$HA_VENV/.herald-recipe"
fi
HERALD_HA_PYTHON="$(cd "$HA_VENV" && pwd)/bin/python"
export HERALD_HA_PYTHON
export HERALD_REQUIRE_HA=1

echo "==> ruff"
lint_dirs=()
for d in daemon emulator tests bench; do [ -d "$d" ] && lint_dirs+=("$d"); done
"$VENV/bin/ruff" check "${lint_dirs[@]}"
"$VENV/bin/ruff" format --check "${lint_dirs[@]}"
echo "==> mypy --strict"
"$VENV/bin/mypy"
# Four workers by default, on two cores too: most tests wait on audio played in real
# time (HERALD_TEST_WORKERS=0 runs them in this process, one after the other).
echo "==> pytest ($(python3 --version), ${HERALD_TEST_WORKERS:-4} workers)"
"$VENV/bin/pytest" -n "${HERALD_TEST_WORKERS:-4}" "$@"

((HERE_ONLY == 0)) || exit 0
# The other Debian release, in a chroot. Its venvs stay in the chroot's /opt, not /root:
# some tests run the venv's python as an unprivileged user, which /root (0700) shuts out.
# shellcheck disable=SC1091
case "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" in
    trixie) other=bookworm ;;
    *) other=trixie ;;
esac
echo "==> the suite again on Debian $other, in a chroot (scripts/chroot.sh)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO bash scripts/chroot.sh "$other" env HERALD_VENV=/opt/herald-venv HERALD_HA_VENV=/opt/herald-ha-venv \
    bash scripts/test.sh --here "$@"

((SYSTEM == 1)) || exit 0
echo "==> the system test (scripts/systemtest.sh)"
$SUDO bash scripts/systemtest.sh
