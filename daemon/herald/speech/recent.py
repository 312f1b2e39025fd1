"""The clip cache's most recent clips, kept in memory."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RecentClips"]

RECENT_BYTES = 4 * 1024 * 1024


class RecentClips:
    """The most recently used cache clips, in memory (bounded by bytes), so that the
    phrases a home repeats (the doorbell) start without a disk read or a thread hop.
    The disk cache stays the truth: this holds only clips verified or just made."""

    def __init__(self, max_bytes: int = RECENT_BYTES) -> None:
        self._max = max_bytes
        self._clips: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        pcm = self._clips.get(key)
        if pcm is not None:
            self._clips.move_to_end(key)
        return pcm

    def put(self, key: str, pcm: bytes) -> None:
        if len(pcm) > self._max // 4:
            return  # a long clip would push out many short ones
        old = self._clips.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._clips[key] = pcm
        self._bytes += len(pcm)
        while self._bytes > self._max:
            _, dropped = self._clips.popitem(last=False)
            self._bytes -= len(dropped)
