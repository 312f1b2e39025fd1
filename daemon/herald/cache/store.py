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

The index (which clips exist, their sizes and last use, eviction) is
`herald.cache.index`; the store, the writer (`herald.cache.writer`) and maintenance
(`herald.cache.maintenance`) all use it through its public methods.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from herald.cache.files import TEMP_PREFIX
from herald.cache.format import FIXED_HEADER_SIZE, Clip, ClipMeta, CorruptClip, encode_meta
from herald.cache.index import ClipIndex
from herald.cache.maintenance import list_clips, prune_clips, read_verified
from herald.cache.records import CacheStats, ClipInfo, PruneResult
from herald.cache.writer import ClipWriter

if TYPE_CHECKING:
    from herald.config import CacheConfig

__all__ = [
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
        self.error: str | None = None
        self._index = ClipIndex(self.dir, max_bytes, touch_interval=touch_interval)
        try:
            self.dir.mkdir(mode=0o750, parents=True, exist_ok=True)
            if not os.access(self.dir, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable")
            self._index.scan()
        except OSError as exc:
            self.error = f"clip cache {self.dir} is unusable: {exc.strerror or exc}"
            log.error("%s; caching nothing and playing nothing from it", self.error)
            self._index.clear()

    @classmethod
    def from_config(cls, config: CacheConfig) -> ClipCache:
        """The cache ``[cache]`` configures (``max_mb`` in MiB)."""
        return cls(Path(config.dir), config.max_mb * MIB)

    # --- state ---

    @property
    def enabled(self) -> bool:
        return self.error is None

    @property
    def stats(self) -> CacheStats:
        return self._index.stats

    @property
    def total_bytes(self) -> int:
        """Bytes of the clips this cache knows about (stat sizes, headers included)."""
        return self._index.total_bytes

    def __len__(self) -> int:
        return len(self._index)

    def path(self, key: str) -> Path:
        return self._index.path(key)

    def contains(self, key: str) -> bool:
        """Whether a clip file exists for ``key`` (not verified: `get` does that)."""
        return self.enabled and self.path(key).is_file()

    # --- reading ---

    def get(self, key: str) -> Clip | None:
        """The verified clip for ``key``, or None.

        A file that fails verification is deleted, logged and counted in
        ``stats.corrupt_removed``; it is never returned. A hit marks the clip used.
        """
        if not self.enabled:
            return None
        path = self.path(key)
        try:
            clip, size = read_verified(path, key)
        except FileNotFoundError:
            self._index.miss(key)
            return None
        except CorruptClip as exc:
            self._index.remove_corrupt(key, exc.reason)
            self._index.miss()
            return None
        except OSError as exc:  # EIO from a failing card: a miss, not a crash
            log.warning("clip cache: cannot read %s: %s", path.name, exc.strerror or exc)
            self._index.miss()
            return None
        self._index.mark_used(key, size)
        return clip

    # --- writing ---

    def begin(self, key: str, meta: ClipMeta) -> ClipWriter:
        """Start writing the clip for ``key``; nothing is visible until ``commit()``.

        Never raises for I/O errors: the writer then discards what it is given.
        """
        path = self.path(key)  # validates the key
        meta_bytes = encode_meta(key, meta)
        if not self.enabled:
            return ClipWriter(self._index, key, meta, path, None, None, meta_bytes)
        tmp = self.dir / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
            f = os.fdopen(fd, "wb")
        except OSError as exc:
            self._index.report_write_error(exc)
            return ClipWriter(self._index, key, meta, path, None, None, meta_bytes)
        writer = ClipWriter(self._index, key, meta, path, tmp, f, meta_bytes)
        # The real header needs the payload's length and digest; it is written last.
        writer.write_placeholder(bytes(FIXED_HEADER_SIZE) + meta_bytes)
        return writer

    # --- maintenance ---

    def entries(self) -> list[ClipInfo]:
        """Every clip file, most recently used first; reads headers, not payloads."""
        return list_clips(self._index) if self.enabled else []

    def prune(self, all: bool = False) -> PruneResult:
        """Remove stale temp files and clips that fail verification (every clip is
        read), then evict down to the cap; with ``all=True`` remove every clip."""
        if not self.enabled:
            return PruneResult(0, 0, 0, 0, 0, 0)
        return prune_clips(self._index, all)
