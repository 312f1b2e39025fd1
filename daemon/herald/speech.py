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

A streamed say (its text still arriving through a `TextFeed`) is spoken as it
arrives, as continuations of one Cartesia context, while its audio plays. With
the cloud offline at the start, or failing before any of its audio, it waits for
the whole text and goes the way of a plain say. A drop mid-stream resumes at the
first word not fully heard: on a new context, still streaming, if the socket is
back within ``failover_wait``, else with the local voice once the text is whole.
A context that Cartesia ends while its text is still arriving (contexts expire
about a second after their last audio, so a long pause in the text ends one) is
continued on a new context the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import trio

from herald.audio import Stream
from herald.cache import ClipCache, ClipMeta, ClipWriter, Source, clip_key
from herald.cartesia.client import CartesiaClient, CloudState
from herald.cartesia.errors import CartesiaError, ConnectionLost
from herald.cartesia.protocol import Audio, VoiceParams, Words
from herald.cartesia.utterance import Utterance as CloudUtterance
from herald.clips import ClipError, Clips
from herald.local_voice import LocalVoice, LocalVoiceError
from herald.text import split_sentences, text_from_word
from herald.text_stream import StreamIdle, TextFeed

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


async def produce(sources: Sources, utt: Utterance) -> None:
    """Feed the stream with the utterance's audio and end it. Raises SpeechFailed."""
    if utt.clip is not None:
        try:
            utt.play(await sources.clips.fetch(utt.clip), "clip")
        except ClipError as exc:
            if utt.text is None and utt.feed is None:
                raise SpeechFailed(str(exc)) from None
            log.warning("%s; speaking the text without it", exc)
    if utt.feed is not None:
        await _speak_feed(sources, utt, utt.feed)
    elif utt.text is not None:
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
    await _without_cloud(sources, utt, text, errors)


async def _without_cloud(sources: Sources, utt: Utterance, text: str, errors: list[str]) -> None:
    """The cloud could not speak ``text`` (``errors`` say why): a local clip, the local
    voice, else the chime and SpeechFailed."""
    if utt.use_cache and await _from_cache(sources, utt, text, "local"):
        return
    if await _from_local(sources, utt, text, errors):
        return
    await _chime(sources, utt)
    raise SpeechFailed("; ".join(errors))


async def _speak_feed(sources: Sources, utt: Utterance, feed: TextFeed) -> None:
    if feed.closed or sources.client.status.value.state is CloudState.OFFLINE:
        # All of it is here already (it waited in the queue), so the cache may have
        # it; or there is no cloud to stream to, and the other voices need it whole.
        await _speak_text(sources, utt, await _whole_text(feed))
        return
    try:
        await _stream_to_cloud(sources, utt, feed)
    except CartesiaError as exc:
        log.warning("cloud voice failed for this streamed utterance: %s", exc)
        await _without_cloud(sources, utt, await _whole_text(feed), [str(exc)])


async def _whole_text(feed: TextFeed) -> str:
    """The feed's text once its final chunk came. Raises SpeechFailed (idle, empty)."""
    try:
        text = await feed.complete()
    except StreamIdle as exc:
        raise SpeechFailed(str(exc)) from None
    if not text.strip():
        raise SpeechFailed(_EMPTY_STREAM)
    return text


_EMPTY_STREAM = "the streamed text was empty"
_WORD_CHAR = re.compile(r"\w")
# A stream whose contexts keep failing after some audio ends on the local voice.
_MAX_STREAM_FAILOVERS = 3


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
    utt.play(pcm, "cache")
    return True


@dataclass
class _CloudProgress:
    """How far one context's audio got: a failover resumes from there."""

    base: int = 0  # frames in the stream before the context's first audio
    frames: int = 0  # audio frames received
    words: int = 0  # words whose audio has fully arrived (their timestamps came)
    frames_at_words: int = 0  # audio frames received when the last timestamps came

    @property
    def resume_frame(self) -> int:
        return self.base + self.frames_at_words


async def _from_cloud(
    sources: Sources, utt: Utterance, text: str, *, may_fail_over: bool = True
) -> None:
    """Speak ``text`` with Cartesia. Raises CartesiaError (nothing played from it then)."""
    client = sources.client
    tee = _CacheTee(sources, utt, "cartesia")
    cloud = await client.open_utterance(utt.params)
    if utt.requested_at is None:
        utt.requested_at = trio.current_time()
    progress = _CloudProgress()
    try:
        async with cloud:
            for sentence in split_sentences(text):
                await cloud.push(sentence)
            await cloud.finish()
            await _receive(sources, utt, cloud, progress, tee)
    except CartesiaError as exc:
        # A drop, or an error from the server, after some audio: continue from
        # where the audio stopped instead of starting over (and cache nothing).
        if progress.frames == 0 or not may_fail_over:
            raise
        await _failover(sources, utt, text, progress, exc)
        return
    await tee.commit(text)


class _ContextEnded(CartesiaError):
    """Cartesia sent ``done`` before the context's input was closed: contexts expire
    about a second after their last audio, so a pause in the text can end one."""

    def __init__(self) -> None:
        super().__init__(None, "Cartesia ended the context while its text was still arriving")


@dataclass
class _Leg:
    """One Cartesia context of a streamed say (a failover starts another)."""

    start: int  # where its text begins in feed.text: the first word not heard before it
    tee: _CacheTee
    sent: str = ""  # the text from ``start`` given to it so far (some may be held back)
    progress: _CloudProgress = field(default_factory=_CloudProgress)
    error: CartesiaError | None = None

    @property
    def resume_at(self) -> int:
        """Where in feed.text the first word whose audio did not fully arrive begins."""
        return self.start + len(self.sent) - len(text_from_word(self.sent, self.progress.words))


async def _stream_to_cloud(sources: Sources, utt: Utterance, feed: TextFeed) -> None:
    """Speak the feed as it arrives, on one Cartesia context while all goes well.

    After a failure mid-stream the audio is cut at the first word that had not fully
    arrived, and speech resumes there: on a new context, still streaming, if the
    socket is back (or the context merely expired), else with the local voice once
    the whole text is known. Raises CartesiaError when the cloud failed before any
    of its audio (nothing played from it then), SpeechFailed for an idle or empty
    text and when no voice could finish it.
    """
    leg = await _stream_leg(sources, utt, feed, 0)
    legs = 1
    while leg.error is not None:
        exc = leg.error
        if leg.progress.frames == 0 and legs == 1:
            raise exc
        if leg.progress.frames > 0:
            _cut_at_word(utt, leg.progress, exc)
        start = leg.resume_at
        if (
            leg.progress.frames > 0
            and utt.failovers <= _MAX_STREAM_FAILOVERS
            and await _cloud_is_back(sources, exc)
        ):
            try:
                # Not cached: a clip made of two contexts is not the cloud's clip.
                leg = await _stream_leg(_uncached(sources), utt, feed, start)
                legs += 1
                continue
            except CartesiaError as again:
                log.warning("cloud failed again after failover: %s", again)
        rest = (await _whole_text(feed))[start:]
        errors = [str(exc)]
        if rest.strip() and not await _from_local(sources, utt, rest, errors):
            raise SpeechFailed("; ".join(errors))
        return
    if legs == 1:
        await leg.tee.commit(feed.text)


async def _stream_leg(sources: Sources, utt: Utterance, feed: TextFeed, start: int) -> _Leg:
    """Speak ``feed.text[start:]`` on one context, pushing text while its audio plays.

    A cloud failure is returned in ``error``; raises SpeechFailed for an idle or
    empty text, CartesiaError when no context could be opened.
    """
    cloud = await sources.client.open_utterance(utt.params)
    leg = _Leg(start, _CacheTee(sources, utt, "cartesia"))
    opened = trio.Event()
    # Kept out of the nursery so that it does not end up wrapped in an exception group.
    text_failure: SpeechFailed | None = None
    async with cloud, trio.open_nursery() as nursery:

        async def push() -> None:
            nonlocal text_failure
            try:
                await _push_feed(utt, cloud, feed, leg, opened)
            except SpeechFailed as exc:
                # Leaving `async with cloud` cancels the context; what has
                # been fed so far still plays.
                text_failure = exc
                nursery.cancel_scope.cancel()
                return
            if not opened.is_set():
                nursery.cancel_scope.cancel()  # nothing was left to say on it

        nursery.start_soon(push)
        try:
            await opened.wait()
            await _receive(sources, utt, cloud, leg.progress, leg.tee)
            if not cloud.input_closed:
                raise _ContextEnded()
        except CartesiaError as exc:
            leg.error = exc
            nursery.cancel_scope.cancel()
    if text_failure is not None:
        raise text_failure
    return leg


async def _push_feed(
    utt: Utterance, cloud: CloudUtterance, feed: TextFeed, leg: _Leg, opened: trio.Event
) -> None:
    """Push the feed's pieces as they are released; the last one closes the context.
    A failover's context first gets the text the failed one did not speak."""
    carry = feed.text[leg.start : feed.taken]
    if carry and not feed.exhausted:
        leg.sent += carry
        await cloud.push(carry)
        carry = ""
    while True:
        if cloud.opened:
            _note_opened(utt, opened)
        try:
            piece = await feed.next_piece()
        except StreamIdle as exc:
            raise SpeechFailed(str(exc)) from None
        text, carry = carry + (piece or ""), ""
        if piece is not None and not feed.exhausted:
            leg.sent += text
            await cloud.push(text)
            continue
        if not cloud.opened and not _WORD_CHAR.search(leg.sent + text):
            if leg.start == 0 and not feed.text.strip():
                raise SpeechFailed(_EMPTY_STREAM)
            if leg.start > 0:
                return  # the failed context had spoken it all
        leg.sent += text
        await cloud.finish(text)
        _note_opened(utt, opened)
        return


def _note_opened(utt: Utterance, opened: trio.Event) -> None:
    # The first request went out: the wait for the first audio starts now.
    if not opened.is_set():
        if utt.requested_at is None:
            utt.requested_at = trio.current_time()
        opened.set()


async def _receive(
    sources: Sources,
    utt: Utterance,
    cloud: CloudUtterance,
    progress: _CloudProgress,
    tee: _CacheTee,
) -> None:
    """Feed the context's audio to the stream until ``done``. Raises CartesiaError."""
    if sources.chime_while_waiting and not utt.started_feeding:
        utt.play(await sources.clips.fetch("chime"), "clip")
    bound = _first_audio_bound(sources)
    with trio.move_on_after(bound) as first:
        item = await cloud.receive()
    if first.cancelled_caught:
        raise CartesiaError(None, f"no audio from Cartesia within {bound:g} s")
    # After the chime, if one played: a failover cuts the stream relative to this.
    progress.base = utt.fed_frames
    while item is not None:
        if isinstance(item, Audio):
            if utt.first_cloud_audio_at is None:
                utt.first_cloud_audio_at = trio.current_time()
            utt.play(item.data, "cartesia")
            progress.frames += len(item.data) // 2
            tee.append(item.data)
        elif isinstance(item, Words):
            progress.words += len(item.words)
            progress.frames_at_words = progress.frames
        item = await cloud.receive()


def _first_audio_bound(sources: Sources) -> float:
    # Without a local voice to fall back on, waiting longer beats failing at once.
    return sources.cloud_timeout if sources.local is not None else 10.0


async def _failover(
    sources: Sources,
    utt: Utterance,
    text: str,
    progress: _CloudProgress,
    exc: CartesiaError,
) -> None:
    """The socket dropped mid-utterance: continue from the first incomplete word."""
    _cut_at_word(utt, progress, exc)
    await _resume(sources, utt, text_from_word(text, progress.words), exc)


def _cut_at_word(utt: Utterance, progress: _CloudProgress, exc: CartesiaError) -> None:
    """Drop what arrived of the first incomplete word and after, unless it already
    played: then only that word is heard twice."""
    utt.failovers += 1
    at = progress.resume_frame
    cut = utt.stream.truncate(at)
    if cut:
        utt.fed_frames = at
    log.warning(
        "cloud failed mid-utterance (%s) after %d words; resuming at word %d%s",
        exc,
        progress.words,
        progress.words,
        "" if cut else " (the boundary word had already started playing)",
    )


async def _resume(sources: Sources, utt: Utterance, rest: str, exc: CartesiaError) -> None:
    """Speak ``rest``, the text after the words the failed context delivered."""
    if not rest.strip():
        return
    if await _cloud_is_back(sources, exc):
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


async def _cloud_is_back(sources: Sources, exc: CartesiaError) -> bool:
    """Whether speech may resume on the cloud after ``exc`` ended a context mid-way.

    A dropped socket may be back in a moment (same voice: best); an expired context
    needs only a new one; an error the server reported would likely come again, so
    that goes to the local voice.
    """
    if isinstance(exc, ConnectionLost):
        with trio.move_on_after(sources.failover_wait):
            await sources.client.status.wait_until(lambda s: s.online)
    elif not isinstance(exc, _ContextEnded):
        return False
    return sources.client.status.value.online


async def _from_local(sources: Sources, utt: Utterance, text: str, errors: list[str]) -> bool:
    local = sources.local
    if local is None:
        errors.append("no local voice configured")
        return False
    tee = _CacheTee(sources, utt, "local")
    if not utt.started_feeding:
        # Piper needs ~0.3 s for a first sentence: the chime starts at once instead,
        # and tells the listener the local voice is speaking.
        await _chime(sources, utt)
    utt.stream.play_local()
    try:
        async for pcm in local.synthesize(text):
            utt.play(pcm, "local")
            tee.append(pcm)
    except LocalVoiceError as exc:
        errors.append(str(exc))
        log.error("local voice failed: %s", exc)
        return False
    await tee.commit(text)
    return True


async def _chime(sources: Sources, utt: Utterance) -> None:
    try:
        utt.play(await sources.clips.fetch("chime"), "clip")
    except ClipError as exc:  # pragma: no cover - the built-in chime is always there
        log.error("%s", exc)


def _uncached(sources: Sources) -> Sources:
    return dataclasses.replace(sources, cache=None)


class _CacheTee:
    """Copies audio into a new cache clip as it plays. Nothing reaches the disk unless
    `commit` is called, which happens only once the audio is complete: an
    interrupted, failed or failed-over utterance just drops its copy. The text, the
    clip's key, is given at the commit: a streamed text is only whole by then."""

    def __init__(self, sources: Sources, utt: Utterance, source: Source) -> None:
        self._cache = sources.cache if utt.use_cache else None
        self._recent = sources.recent
        self._params = utt.params
        self._source: Source = source
        self._chunks: list[bytes] = []

    def append(self, pcm: bytes) -> None:
        # Held in memory and written in one go by a worker thread at commit: no
        # file I/O on the trio thread while audio streams.
        if self._cache is not None:
            self._chunks.append(pcm)

    async def commit(self, text: str) -> None:
        cache, chunks = self._cache, self._chunks
        self._chunks = []
        if cache is None or not chunks:
            return
        key = clip_key(text, self._params, self._source)
        meta = ClipMeta.from_params(text, self._params, self._source)

        def write() -> bool:
            writer: ClipWriter = cache.begin(key, meta)
            with writer:
                for chunk in chunks:
                    writer.append(chunk)
                return writer.commit()

        if await trio.to_thread.run_sync(write):
            self._recent.put(key, b"".join(chunks))
