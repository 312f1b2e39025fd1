"""Speaking with Cartesia, and failing over when a context fails mid-utterance.

The audio is teed into the cache, committed only once ``done`` arrived. A socket
that is up but sends no audio within ``cloud_timeout`` is treated as down (with
no local voice to fall back on it gets longer). When the socket drops
mid-utterance, speech continues from the first word whose audio had not fully
arrived: on the reopened socket if it is back within ``failover_wait``, else with
the local voice; such an utterance is not cached as a cloud clip.

`receive`, `cut_at_word` and `cloud_is_back` also serve the streamed path
(`herald.speech.cloud_stream`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import trio

from herald.cartesia.context import Utterance as CloudUtterance
from herald.cartesia.errors import CartesiaError, ConnectionLost
from herald.cartesia.protocol import Audio, Words
from herald.speech.local import CacheTee, from_local
from herald.speech.production import Sources, SpeechFailed, Utterance
from herald.speech.text import split_sentences, text_from_word

__all__ = [
    "CloudProgress",
    "ContextEnded",
    "cloud_is_back",
    "cut_at_word",
    "from_cloud",
    "receive",
    "uncached",
]

log = logging.getLogger("herald.speech")


@dataclass
class CloudProgress:
    """How far one context's audio got: a failover resumes from there."""

    base: int = 0  # frames in the stream before the context's first audio
    frames: int = 0  # audio frames received
    words: int = 0  # words whose audio has fully arrived (their timestamps came)
    frames_at_words: int = 0  # audio frames received when the last timestamps came

    @property
    def resume_frame(self) -> int:
        return self.base + self.frames_at_words


class ContextEnded(CartesiaError):
    """Cartesia sent ``done`` before the context's input was closed: contexts expire
    about a second after their last audio, so a pause in the text can end one."""

    def __init__(self) -> None:
        super().__init__(None, "Cartesia ended the context while its text was still arriving")


async def from_cloud(
    sources: Sources, utt: Utterance, text: str, *, may_fail_over: bool = True
) -> None:
    """Speak ``text`` with Cartesia. Raises CartesiaError (nothing played from it then)."""
    client = sources.client
    tee = CacheTee(sources, utt, "cartesia")
    cloud = await client.open_utterance(utt.params)
    if utt.requested_at is None:
        utt.requested_at = trio.current_time()
    progress = CloudProgress()
    try:
        async with cloud:
            for sentence in split_sentences(text):
                await cloud.push(sentence)
            await cloud.finish()
            await receive(sources, utt, cloud, progress, tee)
    except CartesiaError as exc:
        # A drop, or an error from the server, after some audio: continue from
        # where the audio stopped instead of starting over (and cache nothing).
        if progress.frames == 0 or not may_fail_over:
            raise
        await _failover(sources, utt, text, progress, exc)
        return
    await tee.commit(text)


async def receive(
    sources: Sources,
    utt: Utterance,
    cloud: CloudUtterance,
    progress: CloudProgress,
    tee: CacheTee,
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
    progress: CloudProgress,
    exc: CartesiaError,
) -> None:
    """The socket dropped mid-utterance: continue from the first incomplete word."""
    cut_at_word(utt, progress, exc)
    await _resume(sources, utt, text_from_word(text, progress.words), exc)


def cut_at_word(utt: Utterance, progress: CloudProgress, exc: CartesiaError) -> None:
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
    if await cloud_is_back(sources, exc):
        try:
            # Not cached: a clip made of two contexts is not the cloud's clip.
            await from_cloud(uncached(sources), utt, rest, may_fail_over=False)
            return
        except CartesiaError as again:
            log.warning("cloud failed again after failover: %s", again)
    errors = [str(exc)]
    if await from_local(sources, utt, rest, errors):
        return
    raise SpeechFailed("; ".join(errors))


async def cloud_is_back(sources: Sources, exc: CartesiaError) -> bool:
    """Whether speech may resume on the cloud after ``exc`` ended a context mid-way.

    A dropped socket may be back in a moment (same voice: best); an expired context
    needs only a new one; an error the server reported would likely come again, so
    that goes to the local voice.
    """
    if isinstance(exc, ConnectionLost):
        with trio.move_on_after(sources.failover_wait):
            await sources.client.status.wait_until(lambda s: s.online)
    elif not isinstance(exc, ContextEnded):
        return False
    return sources.client.status.value.online


def uncached(sources: Sources) -> Sources:
    return dataclasses.replace(sources, cache=None)
