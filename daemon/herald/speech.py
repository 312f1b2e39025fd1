"""Where an utterance's audio comes from: cache, Cartesia, the local voice, a chime.

Per utterance: a cache hit plays from the cache (online too: faster and free);
else Cartesia if the socket is up, teeing the audio into the cache (committed only
once ``done`` arrived); else the local voice; else the chime, and the utterance
fails. A socket that is up but sends no audio within ``cloud_timeout`` is treated
as down. When the socket drops mid-utterance, speech continues from the first
word whose audio had not fully arrived: on the reopened socket if it is back
within ``failover_wait``, else with the local voice; such an utterance is not
cached as a cloud clip. The local voice is preceded by the chime, which starts
at once while Piper synthesizes the first sentence.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import trio

from herald.audio import Stream
from herald.cache import ClipCache, ClipMeta, ClipWriter, Source, clip_key
from herald.cartesia.client import CartesiaClient, CloudState
from herald.cartesia.errors import CartesiaError, ConnectionLost
from herald.cartesia.protocol import Audio, VoiceParams, Words
from herald.clips import ClipError, Clips
from herald.local_voice import LocalVoice, LocalVoiceError
from herald.text import split_sentences, text_from_word

log = logging.getLogger("herald.speech")


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
    """One say being produced into one stream."""

    text: str | None
    params: VoiceParams
    stream: Stream
    clip: str | None = None
    use_cache: bool = True
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

    def feed(self, pcm: bytes, source: str) -> None:
        if self.source is None and source != "clip":
            self.source = source
            self.source_known.set()
        self.fed_frames += len(pcm) // 2
        self.stream.feed(pcm)


async def produce(sources: Sources, utt: Utterance) -> None:
    """Feed the stream with the utterance's audio and end it. Raises SpeechFailed."""
    if utt.clip is not None:
        try:
            utt.feed(await sources.clips.fetch(utt.clip), "clip")
        except ClipError as exc:
            if utt.text is None:
                raise SpeechFailed(str(exc)) from None
            log.warning("%s; speaking the text without it", exc)
    if utt.text is not None:
        await _speak_text(sources, utt, utt.text)
    utt.stream.end()


async def _speak_text(sources: Sources, utt: Utterance, text: str) -> None:
    if utt.use_cache and await _from_cache(sources, utt, text, "cartesia"):
        return
    errors: list[str] = []
    if sources.client.status.value.state is not CloudState.OFFLINE:
        try:
            await _from_cloud(sources, utt, text)
            return
        except CartesiaError as exc:
            errors.append(str(exc))
            log.warning("cloud voice failed for this utterance: %s", exc)
    else:
        errors.append(f"Cartesia is offline ({sources.client.status.value.reason})")
    if utt.use_cache and await _from_cache(sources, utt, text, "local"):
        return
    if await _from_local(sources, utt, text, errors):
        return
    await _chime(sources, utt)
    raise SpeechFailed("; ".join(errors))


async def _from_cache(sources: Sources, utt: Utterance, text: str, kind: Source) -> bool:
    cache = sources.cache
    if cache is None:
        return False
    key = clip_key(text, utt.params, kind)
    pcm = sources.recent.get(key)
    if pcm is None:
        # A miss, the usual case for new text, costs one stat here, not a thread
        # hop in front of every cloud request; a hit is read and verified in a thread.
        if not cache.contains(key):
            return False
        clip = await trio.to_thread.run_sync(cache.get, key)
        if clip is None:
            return False
        pcm = clip.pcm
        sources.recent.put(key, pcm)
    utt.feed(pcm, "cache")
    return True


async def _from_cloud(
    sources: Sources, utt: Utterance, text: str, *, may_fail_over: bool = True
) -> None:
    """Speak ``text`` with Cartesia. Raises CartesiaError (nothing played from it then)."""
    client = sources.client
    tee = _CacheTee(sources, utt, text, "cartesia")
    cloud = await client.open_utterance(utt.params)
    if utt.requested_at is None:
        utt.requested_at = trio.current_time()
    timestamped = 0  # words whose audio has fully arrived
    base = utt.fed_frames  # a clip or chime may have gone before
    frames_at_words = 0  # audio frames received when the last timestamps arrived
    frames = 0
    try:
        async with cloud:
            for sentence in split_sentences(text):
                await cloud.push(sentence)
            await cloud.finish()
            if sources.chime_while_waiting and not utt.started_feeding:
                utt.feed(await sources.clips.fetch("chime"), "clip")
            with trio.move_on_after(_first_audio_bound(sources)) as first:
                item = await cloud.receive()
            if first.cancelled_caught:
                raise CartesiaError(
                    None, f"no audio from Cartesia within {_first_audio_bound(sources):g} s"
                )
            while item is not None:
                if isinstance(item, Audio):
                    if utt.first_cloud_audio_at is None:
                        utt.first_cloud_audio_at = trio.current_time()
                    utt.feed(item.data, "cartesia")
                    frames += len(item.data) // 2
                    tee.append(item.data)
                elif isinstance(item, Words):
                    timestamped += len(item.words)
                    frames_at_words = frames
                item = await cloud.receive()
    except CartesiaError as exc:
        # A drop, or an error from the server, after some audio: continue from
        # where the audio stopped instead of starting over (and cache nothing).
        if frames == 0 or not may_fail_over:
            raise
        await _failover(sources, utt, text, timestamped, base + frames_at_words, exc)
        return
    await tee.commit()


def _first_audio_bound(sources: Sources) -> float:
    # Without a local voice to fall back on, waiting longer beats failing at once.
    return sources.cloud_timeout if sources.local is not None else 10.0


async def _failover(
    sources: Sources,
    utt: Utterance,
    text: str,
    timestamped: int,
    frames_at_words: int,
    exc: CartesiaError,
) -> None:
    """The socket dropped mid-utterance: continue from the first incomplete word."""
    utt.failovers += 1
    rest = text_from_word(text, timestamped)
    # Drop what arrived of the boundary word and after, unless it already played:
    # then only the boundary word is heard twice.
    cut = utt.stream.truncate(frames_at_words)
    if cut:
        utt.fed_frames = frames_at_words
    log.warning(
        "cloud failed mid-utterance (%s) after %d words; resuming at word %d%s",
        exc,
        timestamped,
        timestamped,
        "" if cut else " (the boundary word had already started playing)",
    )
    if not rest.strip():
        return
    # A dropped socket may be back in a moment (same voice: best); an error the
    # server reported would likely come again, so that goes to the local voice.
    if isinstance(exc, ConnectionLost):
        with trio.move_on_after(sources.failover_wait):
            await sources.client.status.wait_until(lambda s: s.online)
    if isinstance(exc, ConnectionLost) and sources.client.status.value.online:
        try:
            # Not cached: a clip made of two contexts is not the cloud's clip.
            await _from_cloud(_uncached(sources), utt, rest, may_fail_over=False)
            return
        except CartesiaError as again:
            log.warning("cloud failed again after failover: %s", again)
    errors = [str(exc)]
    if await _from_local(sources, utt, rest, errors):
        return
    raise SpeechFailed("; ".join(errors))


async def _from_local(sources: Sources, utt: Utterance, text: str, errors: list[str]) -> bool:
    local = sources.local
    if local is None:
        errors.append("no local voice configured")
        return False
    tee = _CacheTee(sources, utt, text, "local")
    if not utt.started_feeding:
        # Piper needs ~0.3 s for a first sentence: the chime starts at once instead,
        # and tells the listener the local voice is speaking.
        await _chime(sources, utt)
    utt.stream.play_local()
    try:
        async for pcm in local.synthesize(text):
            utt.feed(pcm, "local")
            tee.append(pcm)
    except LocalVoiceError as exc:
        errors.append(str(exc))
        log.error("local voice failed: %s", exc)
        return False
    await tee.commit()
    return True


async def _chime(sources: Sources, utt: Utterance) -> None:
    try:
        utt.feed(await sources.clips.fetch("chime"), "clip")
    except ClipError as exc:  # pragma: no cover - the built-in chime is always there
        log.error("%s", exc)


def _uncached(sources: Sources) -> Sources:
    return dataclasses.replace(sources, cache=None)


class _CacheTee:
    """Copies audio into a new cache clip as it plays. Nothing reaches the disk unless
    `commit` is called, which happens only once the audio is complete: an
    interrupted, failed or failed-over utterance just drops its copy."""

    def __init__(self, sources: Sources, utt: Utterance, text: str, source: Source) -> None:
        self._cache = sources.cache if utt.use_cache else None
        self._recent = sources.recent
        self._key = clip_key(text, utt.params, source)
        self._meta = ClipMeta.from_params(text, utt.params, source)
        self._chunks: list[bytes] = []

    def append(self, pcm: bytes) -> None:
        # Held in memory and written in one go by a worker thread at commit: no
        # file I/O on the trio thread while audio streams.
        if self._cache is not None:
            self._chunks.append(pcm)

    async def commit(self) -> None:
        cache, chunks = self._cache, self._chunks
        self._chunks = []
        if cache is None or not chunks:
            return

        def write() -> bool:
            writer: ClipWriter = cache.begin(self._key, self._meta)
            with writer:
                for chunk in chunks:
                    writer.append(chunk)
                return writer.commit()

        if await trio.to_thread.run_sync(write):
            self._recent.put(self._key, b"".join(chunks))
