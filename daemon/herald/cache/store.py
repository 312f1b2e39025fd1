"""The clip cache on disk: verified reads, atomic writes, a size cap with LRU eviction.

Plain synchronous code: the daemon calls it through ``trio.to_thread.run_sync``. One
`ClipCache` may be used from several threads at once.

Files in the cache directory:

- ``<key>.clip``: a committed clip (`herald.cache.format`), key = `clip_key(...)`;
- ``.tmp-<pid>-<random>``: a clip being written. It is renamed to its final name only
  once complete and fsynced, so a crash or power cut leaves either the whole old state
  or the whole new clip, never a partial one. Temp files of a process that is gone are
  removed when a cache is opened.

Other files are left alone: the directory may be shared by mistake.

"Last used" is the file's mtime, kept in memory while the cache is open. A hit writes
it back to disk (``os.utime``) at most once per ``touch_interval`` per clip, so a
popular clip does not cost an SD-card write each time it plays.

The records it keeps and reports are in `herald.cache.records`; what ``entries`` and
``prune`` do is in `herald.cache.maintenance`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from herald.cache.files import (
    CLIP_SUFFIX,
    TEMP_PREFIX,
    temp_is_stale,
    unlink_logged,
)
from herald.cache.format import (
    FIXED_HEADER_SIZE,
    Clip,
    ClipMeta,
    CorruptClip,
    encode_meta,
    read_clip,
)
from herald.cache.key import is_key
from herald.cache.maintenance import list_clips, prune_clips
from herald.cache.records import CacheStats, ClipInfo, Entry, PruneResult
from herald.cache.writer import ClipWriter

if TYPE_CHECKING:
    from herald.config import CacheConfig

__all__ = [
    "CLIP_SUFFIX",
    "TEMP_PREFIX",
    "CacheStats",
    "ClipCache",
    "ClipInfo",
    "ClipWriter",
    "PruneResult",
]

log = logging.getLogger("herald.cache")

MIB = 1024 * 1024


class ClipCache:
    """Verified clips under ``dir``, at most ``max_bytes`` in total.

    Never raises for I/O trouble: a directory that cannot be created or written is
    reported once (``error`` says why) and the cache then acts as empty.
    """

    def __init__(self, dir: Path, max_bytes: int, *, touch_interval: float = 3600.0) -> None:
        self.dir = Path(dir)
        self.max_bytes = max_bytes
        self.touch_interval = touch_interval
        self.stats = CacheStats()
        self.error: str | None = None
        self._lock = threading.Lock()
        self._index: dict[str, Entry] = {}
        self._total = 0
        self._write_error_reported = False
        try:
            self.dir.mkdir(mode=0o750, parents=True, exist_ok=True)
            if not os.access(self.dir, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable")
            self._scan()
        except OSError as exc:
            self.error = f"clip cache {self.dir} is unusable: {exc.strerror or exc}"
            log.error("%s; caching nothing and playing nothing from it", self.error)
            self._index.clear()
            self._total = 0
            return
        with self._lock:
            self._evict_locked(keep=None)

    @classmethod
    def from_config(cls, config: CacheConfig) -> ClipCache:
        """The cache ``[cache]`` configures (``max_mb`` in MiB)."""
        return cls(Path(config.dir), config.max_mb * MIB)

    # --- state ---

    @property
    def enabled(self) -> bool:
        return self.error is None

    @property
    def total_bytes(self) -> int:
        """Bytes of the clips this cache knows about (stat sizes, headers included)."""
        return self._total

    def __len__(self) -> int:
        return len(self._index)

    def path(self, key: str) -> Path:
        if not is_key(key):
            raise ValueError(f"not a clip key: {key!r}")
        return self.dir / f"{key}{CLIP_SUFFIX}"

    def contains(self, key: str) -> bool:
        """Whether a clip file exists for ``key`` (not verified: `get` does that)."""
        return self.enabled and self.path(key).is_file()

    def _scan(self) -> None:
        # stat only: opening every clip at start would cost seconds on an SD card.
        with os.scandir(self.dir) as it:
            for entry in it:
                name = entry.name
                if name.startswith(TEMP_PREFIX):
                    if temp_is_stale(name) and unlink_logged(Path(entry.path)):
                        self.stats.temp_removed += 1
                    continue
                key = name.removesuffix(CLIP_SUFFIX)
                if key == name or not is_key(key) or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                if st.st_size < FIXED_HEADER_SIZE:
                    self._remove_corrupt(key, f"truncated header ({st.st_size} bytes)")
                    continue
                self._index[key] = Entry(st.st_size, st.st_mtime, st.st_mtime)
                self._total += st.st_size
        if self.stats.temp_removed:
            log.info("clip cache: removed %d unfinished temp files", self.stats.temp_removed)

    # --- reading ---

    def get(self, key: str) -> Clip | None:
        """The verified clip for ``key``, or None.

        A file that fails verification is deleted, logged with the reason and counted
        in ``stats.corrupt_removed``; it is never returned. A hit marks the clip used.
        """
        if not self.enabled:
            return None
        path = self.path(key)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                clip = read_clip(f, size, key=key)
        except FileNotFoundError:
            with self._lock:
                self._drop_locked(key)
                self.stats.misses += 1
            return None
        except CorruptClip as exc:
            self._remove_corrupt(key, exc.reason)
            with self._lock:
                self.stats.misses += 1
            return None
        except OSError as exc:  # EIO from a failing card: a miss, not a crash
            log.warning("clip cache: cannot read %s: %s", path.name, exc.strerror or exc)
            with self._lock:
                self.stats.misses += 1
            return None
        self._mark_used(key, size)
        return clip

    def _mark_used(self, key: str, size: int) -> None:
        # Wall-clock on purpose: last use is kept as the file's mtime (os.utime), so
        # it survives restarts and compares with the mtimes the scan reads back.
        now = time.time()
        with self._lock:
            self.stats.hits += 1
            entry = self._index.get(key)
            if entry is None:
                if not self.path(key).exists():  # evicted while we read it
                    return
                # written by another process since we scanned
                entry = self._index[key] = Entry(size, now, 0.0)
                self._total += size
            entry.last_used = now
            if now - entry.disk_mtime >= self.touch_interval:
                with contextlib.suppress(OSError):
                    os.utime(self.path(key), (now, now))
                    entry.disk_mtime = now

    def _remove_corrupt(self, key: str, reason: str) -> None:
        log.warning("clip cache: removed corrupt clip %s: %s", key[:12], reason)
        unlink_logged(self.path(key))
        with self._lock:
            self._drop_locked(key)
            self.stats.corrupt_removed += 1

    def _drop_locked(self, key: str) -> None:
        entry = self._index.pop(key, None)
        if entry is not None:
            self._total -= entry.size

    # --- writing ---

    def begin(self, key: str, meta: ClipMeta) -> ClipWriter:
        """Start writing the clip for ``key``; nothing is visible until ``commit()``.

        Never raises for I/O errors: the writer then discards what it is given.
        """
        path = self.path(key)  # validates the key
        meta_bytes = encode_meta(key, meta)
        if not self.enabled:
            return ClipWriter(self, key, meta, path, None, None, meta_bytes)
        tmp = self.dir / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
            f = os.fdopen(fd, "wb")
        except OSError as exc:
            self._report_write_error(exc)
            return ClipWriter(self, key, meta, path, None, None, meta_bytes)
        writer = ClipWriter(self, key, meta, path, tmp, f, meta_bytes)
        # The real header needs the payload's length and digest; it is written last.
        writer._write(bytes(FIXED_HEADER_SIZE) + meta_bytes)
        return writer

    def _report_write_error(self, exc: OSError) -> None:
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

    def _committed_locked(self, key: str, size: int) -> None:
        now = time.time()  # wall clock: compared with file mtimes (see _mark_used)
        self._drop_locked(key)
        self._index[key] = Entry(size, now, now)
        self._total += size
        self.stats.committed += 1
        self._write_error_reported = False
        self._evict_locked(keep=key)

    def _evict_locked(self, keep: str | None) -> int:
        if self._total <= self.max_bytes:
            return 0
        victims = sorted((e.last_used, k) for k, e in self._index.items() if k != keep)
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

    # --- maintenance ---

    def entries(self) -> list[ClipInfo]:
        """Every clip file, most recently used first; reads headers, not payloads."""
        return list_clips(self)

    def prune(self, all: bool = False) -> PruneResult:
        """Remove stale temp files and clips that fail verification (every clip is
        read), then evict down to the cap; with ``all=True`` remove every clip."""
        return prune_clips(self, all)
