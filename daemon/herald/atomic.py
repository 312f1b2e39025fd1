"""Files herald keeps: a write is whole or absent after a crash or a power cut, and a
read never hangs or swallows memory, whatever is at the path.

`atomic_write` writes a temp file beside the target, fsyncs it, renames it over the
target and fsyncs the directory, so that the rename itself survives a power cut.
`read_small_file` refuses what is not a regular file (a FIFO would block the read
for ever) and what is larger than it should be. Used by the state file; the clip cache
writes its clips the same way (streamed).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["NotARegularFile", "atomic_write", "fsync_dir", "read_small_file"]


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a directory...; or larger than allowed."""


def read_small_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Opened without blocking, so a FIFO put there by mistake (or on purpose) is refused
    instead of hanging the caller. Raises FileNotFoundError, NotARegularFile, OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(0, "not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise NotARegularFile(0, f"larger than {limit} bytes")
    return data


def fsync_dir(path: Path) -> None:
    """Make the renames in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, durably (the new file is 0600: it is herald's).
    Raises OSError; on failure the old file is untouched and no temp file is left."""
    path = Path(path)
    # A unique name, so that two saves racing cannot mix their bytes in one temp file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
