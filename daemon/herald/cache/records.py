"""What the clip cache counts and reports, and what it keeps in memory per clip."""

from __future__ import annotations

from dataclasses import dataclass, fields

from herald.cache.key import Source

__all__ = ["CacheStats", "ClipInfo", "Entry", "PruneResult"]


@dataclass(slots=True)
class CacheStats:
    """Counters since the cache was opened."""

    hits: int = 0
    misses: int = 0
    committed: int = 0
    aborted: int = 0  # interrupted or failed audio, never stored
    rejected: int = 0  # commit refused: no audio, partial samples, larger than the cap
    evicted: int = 0
    corrupt_removed: int = 0  # files that failed verification, deleted and not played
    temp_removed: int = 0  # temp files a crashed writer left behind
    write_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"cache.hits": n, "cache.corrupt_removed": n, ...}``."""
        return {f"cache.{f.name}": getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """One clip file, for ``herald cache list``; ``error`` is set for a bad header."""

    key: str
    size: int  # bytes on disk
    last_used: float  # epoch seconds
    text: str = ""
    voice: str = ""
    model: str = ""
    language: str | None = None
    source: Source | None = None
    sample_rate: int = 0
    encoding: str = ""
    duration: float = 0.0  # seconds
    created: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PruneResult:
    corrupt_removed: int
    temp_removed: int
    clips_removed: int  # evicted to keep the cap, or everything with all=True
    bytes_freed: int
    clips_kept: int
    bytes_kept: int


@dataclass(slots=True)
class Entry:
    """A clip in the index: its size, its last use, and the mtime its file has on disk."""

    size: int
    last_used: float
    disk_mtime: float
