"""What ``herald cache list`` and ``herald cache prune`` do to a `ClipCache`.

Both go to the directory rather than the cache's index, which another process may
have made stale; `ClipCache.entries` and `ClipCache.prune` call them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from herald.cache.files import CLIP_SUFFIX, TEMP_PREFIX, temp_is_stale, unlink_logged
from herald.cache.format import CorruptClip, read_clip, read_header
from herald.cache.key import is_key
from herald.cache.records import ClipInfo, Entry, PruneResult

if TYPE_CHECKING:
    from herald.cache.store import ClipCache

__all__ = ["list_clips", "prune_clips"]

log = logging.getLogger("herald.cache")


def list_clips(cache: ClipCache) -> list[ClipInfo]:
    """Every clip file, most recently used first; reads headers, not payloads."""
    if not cache.enabled:
        return []
    infos = []
    for key in _clip_keys_on_disk(cache.dir):
        path = cache.path(key)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                with cache._lock:
                    entry = cache._index.get(key)
                last_used = max(st.st_mtime, entry.last_used if entry else 0.0)
                try:
                    h = read_header(f, st.st_size, key=key)
                except CorruptClip as exc:
                    infos.append(ClipInfo(key, st.st_size, last_used, error=exc.reason))
                    continue
        except OSError:
            continue  # removed meanwhile, or unreadable: not listed
        m = h.meta
        infos.append(
            ClipInfo(
                key,
                st.st_size,
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


def _clip_keys_on_disk(dir: Path) -> list[str]:
    keys = []
    with os.scandir(dir) as it:
        for entry in it:
            key = entry.name.removesuffix(CLIP_SUFFIX)
            if key != entry.name and is_key(key) and entry.is_file(follow_symlinks=False):
                keys.append(key)
    return keys


def prune_clips(cache: ClipCache, all: bool = False) -> PruneResult:
    """Remove stale temp files and clips that fail verification (every clip is
    read), then evict down to the cap; with ``all=True`` remove every clip."""
    if not cache.enabled:
        return PruneResult(0, 0, 0, 0, 0, 0)
    before = (cache.stats.corrupt_removed, cache.stats.temp_removed, cache.stats.evicted)
    freed = 0
    removed = 0
    with os.scandir(cache.dir) as it:
        temps = [e.name for e in it if e.name.startswith(TEMP_PREFIX)]
    for name in temps:
        if temp_is_stale(name) and unlink_logged(cache.dir / name):
            with cache._lock:
                cache.stats.temp_removed += 1
    for key in _clip_keys_on_disk(cache.dir):
        path = cache.path(key)
        try:
            size = path.stat().st_size
            if not all:
                with open(path, "rb") as f:
                    read_clip(f, size, key=key)
                continue
        except FileNotFoundError:
            continue
        except CorruptClip as exc:
            cache._remove_corrupt(key, exc.reason)
            freed += size
            continue
        except OSError as exc:
            log.warning("clip cache: cannot read %s: %s", path.name, exc.strerror or exc)
            continue
        if unlink_logged(path):
            removed += 1
            freed += size
    with cache._lock:
        # Rebuild from disk: other processes may have added or removed clips.
        used = {k: e.last_used for k, e in cache._index.items()}
        cache._index.clear()
        cache._total = 0
        for key in _clip_keys_on_disk(cache.dir):
            with contextlib.suppress(FileNotFoundError):
                st = cache.path(key).stat()
                last = max(st.st_mtime, used.get(key, 0.0))
                cache._index[key] = Entry(st.st_size, last, st.st_mtime)
                cache._total += st.st_size
        total_before_evict = cache._total
        removed += cache._evict_locked(keep=None)
        freed += total_before_evict - cache._total
    return PruneResult(
        corrupt_removed=cache.stats.corrupt_removed - before[0],
        temp_removed=cache.stats.temp_removed - before[1],
        clips_removed=removed,
        bytes_freed=freed,
        clips_kept=len(cache._index),
        bytes_kept=cache._total,
    )
