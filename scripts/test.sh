#!/usr/bin/env bash
# Set up everything the test suite needs on Debian 12 / Raspberry Pi OS, then run it:
# apt packages (only the missing ones), a venv in .venv with herald and its test
# extras, then lint, type checks and the full pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "==> ruff"
lint_dirs=()
for d in daemon emulator tests bench; do [ -d "$d" ] && lint_dirs+=("$d"); done
"$VENV/bin/ruff" check "${lint_dirs[@]}"
"$VENV/bin/ruff" format --check "${lint_dirs[@]}"
echo "==> mypy --strict"
"$VENV/bin/mypy"
echo "==> pytest"
"$VENV/bin/pytest" "$@"
