#!/usr/bin/env bash
# In a chroot of scripts/chroot.sh (any architecture): a venv with pyalsaaudio (built
# from PyPI's source, as install.sh does) and trio, herald from /src without its other
# dependencies, then scripts/rewind_layout_check.py.
#
#   scripts/chroot.sh --arch armhf trixie bash scripts/rewind_layout_check.sh
set -euo pipefail
VENV=/root/rewind-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "pyalsaaudio>=0.11,<0.12" trio
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps .
exec "$VENV/bin/python" scripts/rewind_layout_check.py
