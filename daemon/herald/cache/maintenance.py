"""What ``herald cache list`` and ``herald cache prune`` do to a `ClipCache`.

Both go to the directory rather than the cache's index, which another process may
have made stale; `ClipCache.entries` and `ClipCache.prune` call them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from herald.cache.files import TEMP_PREFIX, temp_is_stale, unlink_logged
from herald.cache.format import Clip, CorruptClip, read_clip, read_header
from herald.cache.index import ClipIndex, clip_keys_on_disk
from herald.cache.records import ClipInfo, PruneResult

__all__ = ["list_clips", "open_clip", "prune_clips", "read_verified"]

log = logging.getLogger("herald.cache")


def open_clip(path: Path) -> tuple[int, int]:
    """Open a clip file for reading without following a symlink; (fd, size).

    Raises OSError (ELOOP for a symlink), or CorruptClip for what is not a file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise CorruptClip("not a regular file")
    return fd, st.st_size


def read_verified(path: Path, key: str) -> tuple[Clip, int]:
    """The verified clip at ``path`` and the file's size. Raises CorruptClip, OSError."""
    fd, size = open_clip(path)
    with os.fdopen(fd, "rb") as f:
        return read_clip(f, size, key=key), size


def list_clips(index: ClipIndex) -> list[ClipInfo]:
    """Every clip file, most recently used first; reads headers, not payloads."""
    infos = []
    for key in clip_keys_on_disk(index.dir):
        path = index.path(key)
        try:
            fd, size = open_clip(path)
            with os.fdopen(fd, "rb") as f:
                mtime = os.fstat(f.fileno()).st_mtime
                last_used = max(mtime, index.last_used(key) or 0.0)
                try:
                    h = read_header(f, size, key=key)
                except CorruptClip as exc:
                    infos.append(ClipInfo(key, size, last_used, error=exc.reason))
                    continue
        except (OSError, CorruptClip):
            continue  # removed meanwhile, or unreadable: not listed
        m = h.meta
        infos.append(
            ClipInfo(
                key,
                size,
                last_used,
                text=m.text,
                voice=m.voice,
                model=m.model,
                language=m.language,
                source=m.source,
                sample_rate=m.sample_rate,
                encoding=m.encoding,
                duration=h.duration,
                created=m.created,
            )
        )
    infos.sort(key=lambda i: i.last_used, reverse=True)
    return infos


def prune_clips(index: ClipIndex, all: bool = False) -> PruneResult:
    """Remove stale temp files and clips that fail verification (every clip is
    read), then evict down to the cap; with ``all=True`` remove every clip.

    Goes to the directory rather than the index, which another process may have made
    stale, and rebuilds the index from it.
    """
    stats = index.stats
    before = (stats.corrupt_removed, stats.temp_removed, stats.evicted)
    freed = 0
    removed = 0
    with os.scandir(index.dir) as it:
        temps = [e.name for e in it if e.name.startswith(TEMP_PREFIX)]
    for name in temps:
        if temp_is_stale(name) and unlink_logged(index.dir / name):
            index.count("temp_removed")
    for key in clip_keys_on_disk(index.dir):
        path = index.path(key)
        try:
            size = path.stat().st_size
            if not all:
                read_verified(path, key)
                continue
        except FileNotFoundError:
            continue
        except CorruptClip as exc:
            index.remove_corrupt(key, exc.reason)
            freed += size
            continue
        except OSError as exc:
            log.warning("clip cache: cannot read %s: %s", path.name, exc.strerror or exc)
            continue
        if unlink_logged(path):
            removed += 1
            freed += size
    index.rebuild()
    total_before_evict = index.total_bytes
    removed += index.evict()
    freed += total_before_evict - index.total_bytes
    return PruneResult(
        corrupt_removed=stats.corrupt_removed - before[0],
        temp_removed=stats.temp_removed - before[1],
        clips_removed=removed,
        bytes_freed=freed,
        clips_kept=len(index),
        bytes_kept=index.total_bytes,
    )
