"""Small file operations the clip cache needs: quiet removals, and telling a crashed
writer's temp file from a live one (durable renames are `herald.atomic`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("herald.cache")

CLIP_SUFFIX = ".clip"
TEMP_PREFIX = ".tmp-"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def temp_is_stale(name: str) -> bool:
    # ".tmp-<pid>-<random>"; anything unparsable under our prefix is ours and stale.
    pid_text = name[len(TEMP_PREFIX) :].partition("-")[0]
    if not pid_text.isdigit():
        return True
    pid = int(pid_text)
    return pid != os.getpid() and not pid_alive(pid)


def unlink_logged(path: Path) -> bool:
    """Remove ``path``; False (logged) if that failed for a reason other than absence."""
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError as exc:
        log.warning("clip cache: cannot remove %s: %s", path, exc.strerror or exc)
        return False
    return True
