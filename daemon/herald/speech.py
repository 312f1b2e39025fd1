"""Where an utterance's audio comes from: cache, Cartesia, the local voice, a chime.

Per utterance: a cache hit plays from the cache (online too: faster and free);
else Cartesia if the socket is up, teeing the audio into the cache (committed only
once ``done`` arrived); else the local voice; else the chime, and the utterance
fails. A socket that is up but sends no audio within ``cloud_timeout`` is treated
as down. When the socket drops mid-utterance, speech continues from the first
word whose audio had not fully arrived: on the reopened socket if it is back
within ``failover_wait``, else with the local voice; such an utterance is not
cached as a cloud clip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from herald.audio import Stream
from herald.cache import ClipCache, ClipMeta, ClipWriter, Source, clip_key
from herald.cartesia.client import CartesiaClient, CloudState
from herald.cartesia.errors import CartesiaError, CloudOffline, ConnectionLost
from herald.cartesia.protocol import Audio, VoiceParams, Words
from herald.clips import ClipError, Clips
from herald.local_voice import LocalVoice, LocalVoiceError
from herald.text import split_sentences, text_from_word

log = logging.getLogger("herald.speech")


class SpeechFailed(Exception):
    """Nothing could speak the text (the chime has played)."""


@dataclass
class Sources:
    client: CartesiaClient
    clips: Clips
    cache: ClipCache | None = None
    local: LocalVoice | None = None
    cloud_timeout: float = 1.5
    chime_while_waiting: bool = False
    failover_wait: float = 0.8  # how long a dropped socket may take to come back


@dataclass
class Utterance:
    """One say being produced into one stream."""

    text: str | None
    params: VoiceParams
    stream: Stream
    clip: str | None = None
    use_cache: bool = True
    on_source: Callable[[str], None] = lambda source: None
    source: str | None = None  # what produced the first samples
    failovers: int = 0
    requested_at: float | None = None  # the first cloud request went out
    first_cloud_audio_at: float | None = None
    fed_frames: int = 0  # frames fed to the stream so far

    def feed(self, pcm: bytes, source: str) -> None:
        if self.source is None:
            self.source = source
            self.on_source(source)
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
    clip = await trio.to_thread.run_sync(cache.get, key)
    if clip is None:
        return False
    utt.feed(clip.pcm, "cache")
    return True


async def _from_cloud(
    sources: Sources, utt: Utterance, text: str, *, may_fail_over: bool = True
) -> None:
    """Speak ``text`` with Cartesia. Raises CartesiaError (nothing played from it then)."""
    client = sources.client
    tee = _CacheTee(sources.cache, text, utt.params, "cartesia") if utt.use_cache else None
    try:
        cloud = await client.open_utterance(utt.params)
    except CloudOffline:
        if tee:
            await tee.abort()
        raise
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
            if sources.chime_while_waiting and utt.source is None:
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
                    if tee:
                        tee.append(item.data)
                elif isinstance(item, Words):
                    timestamped += len(item.words)
                    frames_at_words = frames
                item = await cloud.receive()
    except CartesiaError as exc:
        # A drop, or an error from the server, after some audio: continue from
        # where the audio stopped instead of starting over.
        if tee:
            await tee.abort()
        if frames == 0 or not may_fail_over:
            raise
        await _failover(sources, utt, text, timestamped, base + frames_at_words, exc)
        return
    except BaseException:
        if tee:
            with trio.CancelScope(shield=True):
                await tee.abort()
        raise
    if tee:
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
    tee = _CacheTee(sources.cache, text, utt.params, "local") if utt.use_cache else None
    try:
        async for pcm in local.synthesize(text):
            utt.feed(pcm, "local")
            if tee:
                tee.append(pcm)
    except LocalVoiceError as exc:
        errors.append(str(exc))
        log.error("local voice failed: %s", exc)
        if tee:
            await tee.abort()
        return False
    except BaseException:
        if tee:
            with trio.CancelScope(shield=True):
                await tee.abort()
        raise
    if tee:
        await tee.commit()
    return True


async def _chime(sources: Sources, utt: Utterance) -> None:
    try:
        utt.feed(await sources.clips.fetch("chime"), "clip")
    except ClipError as exc:  # pragma: no cover - the built-in chime is always there
        log.error("%s", exc)


def _uncached(sources: Sources) -> Sources:
    return Sources(
        sources.client,
        sources.clips,
        None,
        sources.local,
        sources.cloud_timeout,
        sources.chime_while_waiting,
        sources.failover_wait,
    )


class _CacheTee:
    """Copies audio into a new cache clip as it plays; committed only when complete."""

    def __init__(
        self, cache: ClipCache | None, text: str, params: VoiceParams, source: Source
    ) -> None:
        self._cache = cache
        self._key = clip_key(text, params, source)
        self._meta = ClipMeta.from_params(text, params, source)
        self._chunks: list[bytes] = []

    def append(self, pcm: bytes) -> None:
        # Held in memory and written in one go by a worker thread at commit: no
        # file I/O on the trio thread while audio streams.
        self._chunks.append(pcm)

    async def commit(self) -> None:
        cache, chunks = self._cache, self._chunks
        self._chunks = []
        if cache is None or not chunks:
            return

        def write() -> None:
            writer: ClipWriter = cache.begin(self._key, self._meta)
            with writer:
                for chunk in chunks:
                    writer.append(chunk)
                writer.commit()

        await trio.to_thread.run_sync(write)

    async def abort(self) -> None:
        self._chunks = []
