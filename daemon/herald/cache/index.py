"""The clip cache's index: which clips the directory holds, their sizes and last use,
the total, and least-recently-used eviction down to the cap.

One lock guards all of it, so the store, the writer and maintenance, which may run in
several threads, use the index only through these methods. "Last used" is the file's
mtime, kept in memory; a hit writes it back (``os.utime``) at most once per
``touch_interval`` per clip, so a popular clip does not cost an SD-card write each
time it plays. Wall-clock time on purpose: it is compared with file mtimes, and
survives restarts in them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from herald.cache.files import CLIP_SUFFIX, TEMP_PREFIX, temp_is_stale, unlink_logged
from herald.cache.format import FIXED_HEADER_SIZE
from herald.cache.key import is_key
from herald.cache.records import CacheStats, Entry

__all__ = ["ClipIndex", "clip_keys_on_disk"]

log = logging.getLogger("herald.cache")


def clip_keys_on_disk(dir: Path) -> list[str]:
    """The keys of the clip files in ``dir`` (regular files only: no symlinks)."""
    keys = []
    with os.scandir(dir) as it:
        for entry in it:
            key = entry.name.removesuffix(CLIP_SUFFIX)
            if key != entry.name and is_key(key) and entry.is_file(follow_symlinks=False):
                keys.append(key)
    return keys


class ClipIndex:
    def __init__(self, dir: Path, max_bytes: int, *, touch_interval: float = 3600.0) -> None:
        self.dir = dir
        self.max_bytes = max_bytes
        self.touch_interval = touch_interval
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._total = 0
        self._write_error_reported = False

    def path(self, key: str) -> Path:
        if not is_key(key):
            raise ValueError(f"not a clip key: {key!r}")
        return self.dir / f"{key}{CLIP_SUFFIX}"

    # --- reading ---

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        return self._total

    def last_used(self, key: str) -> float | None:
        with self._lock:
            entry = self._entries.get(key)
            return entry.last_used if entry is not None else None

    # --- building ---

    def scan(self) -> None:
        """Index the directory (stat only: opening every clip at start would cost
        seconds on an SD card), remove stale temp files and truncated clips, then
        evict down to the cap. Raises OSError if the directory cannot be read."""
        removed = 0
        with os.scandir(self.dir) as it:
            for entry in it:
                name = entry.name
                if name.startswith(TEMP_PREFIX):
                    if temp_is_stale(name) and unlink_logged(Path(entry.path)):
                        removed += 1
                    continue
                key = name.removesuffix(CLIP_SUFFIX)
                if key == name or not is_key(key) or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                if st.st_size < FIXED_HEADER_SIZE:
                    self.remove_corrupt(key, f"truncated header ({st.st_size} bytes)")
                    continue
                with self._lock:
                    self._entries[key] = Entry(st.st_size, st.st_mtime, st.st_mtime)
                    self._total += st.st_size
        self.count("temp_removed", removed)
        if removed:
            log.info("clip cache: removed %d unfinished temp files", removed)
        self.evict()

    def rebuild(self) -> None:
        """Index the directory afresh (other processes may have added or removed
        clips), keeping the last use this process knows of."""
        with self._lock:
            used = {k: e.last_used for k, e in self._entries.items()}
            self._entries.clear()
            self._total = 0
            for key in clip_keys_on_disk(self.dir):
                with contextlib.suppress(FileNotFoundError):
                    st = self.path(key).stat()
                    last = max(st.st_mtime, used.get(key, 0.0))
                    self._entries[key] = Entry(st.st_size, last, st.st_mtime)
                    self._total += st.st_size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0

    # --- updates ---

    def count(self, stat: str, n: int = 1) -> None:
        """Add ``n`` to one of `CacheStats`' counters."""
        if n:
            with self._lock:
                setattr(self.stats, stat, getattr(self.stats, stat) + n)

    def mark_used(self, key: str, size: int) -> None:
        """A hit: count it, and note the clip's last use (on disk now and then)."""
        now = time.time()
        with self._lock:
            self.stats.hits += 1
            entry = self._entries.get(key)
            if entry is None:
                if not self.path(key).exists():  # evicted while it was read
                    return
                # written by another process since the scan
                entry = self._entries[key] = Entry(size, now, 0.0)
                self._total += size
            entry.last_used = now
            if now - entry.disk_mtime >= self.touch_interval:
                with contextlib.suppress(OSError):
                    os.utime(self.path(key), (now, now))
                    entry.disk_mtime = now

    def miss(self, key: str | None = None) -> None:
        """A miss; with ``key``, its file has gone, so it leaves the index too."""
        with self._lock:
            if key is not None:
                self._drop_locked(key)
            self.stats.misses += 1

    def remove_corrupt(self, key: str, reason: str) -> None:
        log.warning("clip cache: removed corrupt clip %s: %s", key[:12], reason)
        unlink_logged(self.path(key))
        with self._lock:
            self._drop_locked(key)
            self.stats.corrupt_removed += 1

    def commit(self, key: str, size: int, rename: Callable[[], None]) -> None:
        """A clip is whole: ``rename`` puts its file in place, under the index's lock so
        that concurrent commits of one key leave the index agreeing with the file that
        won; then evict down to the cap (never this clip). Raises what ``rename`` does."""
        with self._lock:
            rename()
            now = time.time()
            self._drop_locked(key)
            self._entries[key] = Entry(size, now, now)
            self._total += size
            self.stats.committed += 1
            self._write_error_reported = False
            self._evict_locked(keep=key)

    def evict(self) -> int:
        """Remove least recently used clips until the total is within the cap."""
        with self._lock:
            return self._evict_locked(keep=None)

    def report_write_error(self, exc: OSError) -> None:
        """Count a write error; log the first of a run of them."""
        with self._lock:
            self.stats.write_errors += 1
            first = not self._write_error_reported
            self._write_error_reported = True
        if first:
            log.error(
                "clip cache %s: cannot write clips (%s); utterances are not being cached",
                self.dir,
                exc.strerror or exc,
            )

    def _drop_locked(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total -= entry.size

    def _evict_locked(self, keep: str | None) -> int:
        if self._total <= self.max_bytes:
            return 0
        victims = sorted((e.last_used, k) for k, e in self._entries.items() if k != keep)
        evicted = 0
        for _, key in victims:
            if self._total <= self.max_bytes:
                break
            unlink_logged(self.path(key))
            self._drop_locked(key)
            evicted += 1
        self.stats.evicted += evicted
        if evicted:
            log.debug("clip cache: evicted %d clips to keep %d bytes", evicted, self.max_bytes)
        return evicted
