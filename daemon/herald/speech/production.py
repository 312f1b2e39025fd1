"""What speech works with: the `Sources` a say may draw on, the `Production` of one say
(its stream, what spoke it, how much was fed), the cloud voice it needs, and
`SpeechFailed`.

`Production` is the one writer of its record: the voices tell it what happened
(`play`, `note_request`, `note_cloud_audio`, `fail_over`) and the speaker reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import trio

from herald.cartesia.protocol import Audio, Words
from herald.speech.recent import RecentClips
from herald.speech.refusals import Refusals
from herald.voice import VoiceParams

if TYPE_CHECKING:
    from herald.audio import Stream
    from herald.cache import ClipCache
    from herald.cartesia.client import CloudStatus
    from herald.local_voice import LocalVoice
    from herald.observable import Observable
    from herald.sounds.clips import Clips
    from herald.speech.feed import TextFeed

__all__ = ["CloudContext", "CloudVoice", "Production", "Sources", "SpeechFailed"]


class SpeechFailed(Exception):
    """Nothing could speak the text (the chime has played)."""


class CloudContext(Protocol):
    """One context of the cloud voice (`herald.cartesia.context.Context`)."""

    @property
    def opened(self) -> bool: ...

    @property
    def input_closed(self) -> bool: ...

    async def push(self, text: str) -> None: ...

    async def finish(self, text: str = "") -> None: ...

    async def receive(self) -> Audio | Words | None: ...

    async def __aenter__(self) -> CloudContext: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class CloudVoice(Protocol):
    """The persistent cloud connection (`herald.cartesia.client.CartesiaClient`)."""

    @property
    def status(self) -> Observable[CloudStatus]: ...

    async def open_context(self, params: VoiceParams) -> CloudContext: ...


@dataclass
class Sources:
    client: CloudVoice
    clips: Clips
    cache: ClipCache | None = None
    local: LocalVoice | None = None
    cloud_timeout: float = 1.5
    chime_while_waiting: bool = False
    failover_wait: float = 0.8  # how long a dropped socket may take to come back
    recent: RecentClips = field(default_factory=RecentClips)
    # What Cartesia refused for good (a sunset model, an unknown voice): not asked again.
    refusals: Refusals = field(default_factory=Refusals)


class Production:
    """One say being produced into one stream: ``text``, or for a streamed say ``feed``
    (then ``text`` is None and the whole text is ``feed.text``)."""

    def __init__(
        self,
        text: str | None,
        params: VoiceParams,
        stream: Stream,
        *,
        clip: str | None = None,
        use_cache: bool = True,
        feed: TextFeed | None = None,
        on_underway: Callable[[], None] | None = None,
    ) -> None:
        self.text = text
        self.params = params
        self.stream = stream
        self.clip = clip
        self.use_cache = use_cache
        self.feed = feed
        # Set once it is known what spoke the text (a clip or chime before it does not
        # count); never for a say that is only a clip.
        self.source_known = trio.Event()
        self._source: str | None = None
        self._failovers = 0
        self._requested_at: float | None = None
        self._first_cloud_audio_at: float | None = None
        self._fed_frames = 0
        # Called once: the first request is out or the first audio fed (control/hurry.py).
        self._on_underway = on_underway

    # --- read by the speaker ---

    @property
    def source(self) -> str | None:
        """What spoke the text: cartesia, cache or local; None until known."""
        return self._source

    @property
    def failovers(self) -> int:
        return self._failovers

    @property
    def requested_at(self) -> float | None:
        """When the first cloud request went out (trio time)."""
        return self._requested_at

    @property
    def first_cloud_audio_at(self) -> float | None:
        return self._first_cloud_audio_at

    @property
    def fed_frames(self) -> int:
        """Frames fed to the stream so far (after any cut)."""
        return self._fed_frames

    @property
    def started_feeding(self) -> bool:
        return self._fed_frames > 0

    # --- written by the voices ---

    def play(self, pcm: bytes, source: str) -> None:
        if self._source is None and source != "clip":
            self._source = source
            self.source_known.set()
        self._fed_frames += len(pcm) // 2
        self.stream.feed(pcm)
        self._underway()

    def note_request(self) -> None:
        if self._requested_at is None:
            self._requested_at = trio.current_time()

    def note_sent(self) -> None:
        """The request is on the socket (`note_request` is when it was made)."""
        self._underway()

    def _underway(self) -> None:
        call = self._on_underway
        if call is not None:
            self._on_underway = None
            call()

    def note_cloud_audio(self) -> None:
        if self._first_cloud_audio_at is None:
            self._first_cloud_audio_at = trio.current_time()

    def fail_over(self, at_frame: int) -> bool:
        """A voice failed mid-say: drop what was fed from ``at_frame`` on, unless it has
        started playing (then the listener hears that part twice). True if cut."""
        self._failovers += 1
        cut = self.stream.truncate(at_frame)
        if cut:
            self._fed_frames = at_frame
        return cut
