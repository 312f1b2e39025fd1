"""What ``herald cache list|prune|warm`` print and read; the CLI wires these up."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from herald.cache.key import normalize_text
from herald.cache.store import ClipCache, ClipInfo

__all__ = [
    "CacheUnavailable",
    "format_size",
    "list_lines",
    "progress_line",
    "prune",
    "read_phrases",
]

_TEXT_WIDTH = 50


class CacheUnavailable(RuntimeError):
    """The cache directory cannot be used; the message says why (one line)."""


def _check(cache: ClipCache) -> None:
    if cache.error is not None:
        raise CacheUnavailable(cache.error)


def format_size(n: int) -> str:
    """``512 B``, ``48.0 KiB``, ``3.2 MiB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _row(info: ClipInfo) -> str:
    used = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.last_used))
    if info.error is not None:
        return f"{info.key[:12]}  {'CORRUPT':<8}  {format_size(info.size):>9}  {used}  {info.error}"
    return (
        f"{info.key[:12]}  {info.source or '?':<8}  {info.voice[:8]:<8}  "
        f"{info.duration:6.1f}s  {format_size(info.size):>9}  {used}  "
        f"{_shorten(info.text, _TEXT_WIDTH)}"
    )


def list_lines(cache: ClipCache) -> list[str]:
    """``herald cache list``: a header, one row per clip (most recently used first),
    then a total. Raises `CacheUnavailable`."""
    _check(cache)
    infos = cache.entries()
    lines = [
        f"{'KEY':<12}  {'SOURCE':<8}  {'VOICE':<8}  {'LENGTH':>7}  {'SIZE':>9}  "
        f"{'LAST USED':<16}  TEXT"
    ]
    lines.extend(_row(i) for i in infos)
    total = sum(i.size for i in infos)
    corrupt = sum(1 for i in infos if i.error is not None)
    summary = (
        f"{len(infos)} clip{'' if len(infos) == 1 else 's'}, {format_size(total)} "
        f"of {format_size(cache.max_bytes)} in {cache.dir}"
    )
    if corrupt:
        summary += f"; {corrupt} corrupt (herald cache prune removes them)"
    lines.append(summary)
    return lines


def prune(cache: ClipCache, all: bool) -> str:
    """``herald cache prune [--all]``: one summary line. Raises `CacheUnavailable`."""
    _check(cache)
    r = cache.prune(all=all)
    what = "clips" if all else "clips over the size cap"
    return (
        f"removed {r.corrupt_removed} corrupt clips, {r.clips_removed} {what} and "
        f"{r.temp_removed} unfinished temp files ({format_size(r.bytes_freed)}); "
        f"{r.clips_kept} clips kept ({format_size(r.bytes_kept)} of "
        f"{format_size(cache.max_bytes)})"
    )


def read_phrases(texts: Sequence[str], file: Path | TextIO | None) -> list[str]:
    """The phrases for ``herald cache warm TEXT... | --file FILE``, normalized, in
    order, each once.

    ``file`` has one phrase per line; blank lines and lines starting with ``#`` are
    skipped. Pass ``sys.stdin`` for ``--file -``. Raises OSError or
    UnicodeDecodeError for a file that cannot be read, and ValueError when there is
    no phrase at all.
    """
    candidates = list(texts)
    if isinstance(file, Path):
        with file.open(encoding="utf-8") as f:
            lines = f.read().splitlines()
    elif file is not None:
        lines = file.read().splitlines()
    else:
        lines = []
    candidates.extend(line for line in lines if not line.lstrip().startswith("#"))
    phrases: list[str] = []
    seen: set[str] = set()
    for text in candidates:
        phrase = normalize_text(text)
        if phrase and phrase not in seen:
            seen.add(phrase)
            phrases.append(phrase)
    if not phrases:
        raise ValueError("no phrases to warm: give TEXT arguments or --file FILE")
    return phrases


def progress_line(done: int, total: int, text: str = "", width: int = 24) -> str:
    """``[#########...............]   3/8  Good morning…``, for ``herald cache warm``."""
    filled = width * done // total if total else width
    count = f"{done:>{len(str(total))}}/{total}"
    line = f"[{'#' * filled}{'.' * (width - filled)}] {count}"
    return f"{line}  {_shorten(text, _TEXT_WIDTH)}" if text else line
