"""What speech works with: the `Sources` a say may draw on, the `Utterance` being
produced (what spoke it, how much was fed), the in-memory `RecentClips`, and
`SpeechFailed`. `herald.speech.fallback` re-exports them; its `produce` is the entry.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import trio

from herald.audio import Stream
from herald.cache import ClipCache
from herald.cartesia.client import CartesiaClient
from herald.cartesia.protocol import VoiceParams
from herald.local_voice import LocalVoice
from herald.sounds.clips import Clips
from herald.speech.feed import TextFeed

__all__ = ["RecentClips", "Sources", "SpeechFailed", "Utterance"]


class SpeechFailed(Exception):
    """Nothing could speak the text (the chime has played)."""


class RecentClips:
    """The most recently used cache clips, in memory (bounded by bytes), so that the
    phrases a home repeats (the doorbell) start without a disk read or a thread hop.
    The disk cache stays the truth: this holds only clips verified or just made."""

    def __init__(self, max_bytes: int = 4 * 1024 * 1024) -> None:
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


@dataclass
class Sources:
    client: CartesiaClient
    clips: Clips
    cache: ClipCache | None = None
    local: LocalVoice | None = None
    cloud_timeout: float = 1.5
    chime_while_waiting: bool = False
    failover_wait: float = 0.8  # how long a dropped socket may take to come back
    recent: RecentClips = field(default_factory=RecentClips)


@dataclass
class Utterance:
    """One say being produced into one stream: ``text``, or for a streamed say ``feed``
    (then ``text`` is None and the whole text is ``feed.text``)."""

    text: str | None
    params: VoiceParams
    stream: Stream
    clip: str | None = None
    use_cache: bool = True
    feed: TextFeed | None = None
    # What spoke the text (cartesia, cache or local); a clip or chime played before
    # it does not count. None until known, and for a say that is only a clip.
    source: str | None = None
    source_known: trio.Event = field(default_factory=trio.Event)
    failovers: int = 0
    requested_at: float | None = None  # the first cloud request went out
    first_cloud_audio_at: float | None = None
    fed_frames: int = 0  # frames fed to the stream so far

    @property
    def started_feeding(self) -> bool:
        return self.fed_frames > 0

    def play(self, pcm: bytes, source: str) -> None:
        if self.source is None and source != "clip":
            self.source = source
            self.source_known.set()
        self.fed_frames += len(pcm) // 2
        self.stream.feed(pcm)
