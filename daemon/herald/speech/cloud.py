"""Speaking with Cartesia: one text on one context, and how far its audio got.

A context reports what happened instead of deciding what comes next: `Spoken` (all of
it played) or `Cut` (some of it played, then the cloud failed; the audio has been cut
where the heard words end, and `resume_at` says where in the text to go on). A
context that fails before any of its audio raises the `CartesiaError`: nothing of it
was heard. What follows either is decided once, in `herald.speech.fallback`.

The audio is teed into the cache and committed only once ``done`` arrived, and only
for a say spoken on a single context. A socket that is up but sends no audio within
``cloud_timeout`` counts as down (longer when there is no local voice to go to).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from herald.cartesia.errors import CartesiaError, ConnectionLost, ContextEnded
from herald.cartesia.protocol import Audio, Words
from herald.speech.cached import CacheTee
from herald.text import WordMatcher, split_sentences

if TYPE_CHECKING:
    from herald.speech.production import CloudContext, Production, Sources

__all__ = ["Cut", "Progress", "Spoken", "cloud_is_back", "receive", "speak_text"]

log = logging.getLogger("herald.speech")

# Once a context's text is all sent and its audio has started, Cartesia streams faster
# than real time; a pause this long is a server that stalled (pings may still be
# answered), and the say fails over instead of hanging.
CHUNK_GAP = 5.0
# More audio than this for its text is a server gone wrong (a flood): the context is
# failed before it fills the memory. 0.4 s per character is slower than the slowest
# speech Cartesia makes.
AUDIO_BASE_S = 10.0
AUDIO_PER_CHAR_S = 0.4


@dataclass(frozen=True, slots=True)
class Spoken:
    """All of the context's text was heard."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Some of it was heard, then ``error``; the rest starts at ``resume_at``."""

    resume_at: int  # offset into the say's text (a stream's: into everything received)
    error: CartesiaError


SPOKEN = Spoken()


class Progress:
    """How far one context's audio got: a failover resumes from there."""

    def __init__(self, start: int, sent: str = "") -> None:
        self.start = start  # where the context's text begins in the say's text
        self.base = 0  # frames in the stream before the context's first audio
        self.frames = 0  # audio frames received
        self.frames_at_words = 0  # frames received when the last matched words came
        self.matcher = WordMatcher(sent)

    def audio(self, frames: int) -> None:
        self.frames += frames

    def words(self, words: Iterable[str]) -> None:
        if self.matcher.heard(words):
            self.frames_at_words = self.frames

    @property
    def resume_frame(self) -> int:
        return self.base + self.frames_at_words

    @property
    def resume_at(self) -> int:
        return self.start + self.matcher.resume_at


async def speak_text(
    sources: Sources, prod: Production, text: str, start: int, *, cache: bool
) -> Spoken | Cut:
    """Speak ``text[start:]`` on one context; ``cache``: the clip is the whole text's.

    Raises CartesiaError when the context failed before any of its audio.
    """
    part = text[start:]
    tee = CacheTee(sources, prod, "cartesia", enabled=cache)
    context = await sources.client.open_context(prod.params)
    prod.note_request()
    progress = Progress(start, part)
    try:
        async with context:
            for sentence in split_sentences(part):
                await context.push(sentence)
            await context.finish()
            prod.note_sent()
            await receive(sources, prod, context, progress, tee)
    except CartesiaError as exc:
        if progress.frames == 0:
            raise
        return cut_at_heard(prod, progress, exc)
    await tee.commit(text)
    return SPOKEN


async def receive(
    sources: Sources,
    prod: Production,
    context: CloudContext,
    progress: Progress,
    tee: CacheTee,
) -> None:
    """Feed the context's audio to the stream until ``done``. Raises CartesiaError."""
    if sources.chime_while_waiting and not prod.started_feeding:
        prod.play(await sources.clips.fetch("chime"), "clip")
    bound = first_audio_bound(sources)
    with trio.move_on_after(bound) as first:
        item = await context.receive()
    if first.cancelled_caught:
        raise CartesiaError(None, f"no audio from Cartesia within {bound:g} s")
    # After the chime, if one played: a failover cuts the stream relative to this.
    progress.base = prod.fed_frames
    rate = prod.params.sample_rate
    while item is not None:
        if isinstance(item, Audio):
            frames = len(item.data) // 2
            limit = rate * (AUDIO_BASE_S + AUDIO_PER_CHAR_S * len(progress.matcher.text))
            if progress.frames + frames > limit:
                raise CartesiaError(
                    None,
                    f"Cartesia sent more than {limit / rate:.0f} s of audio for "
                    f"{len(progress.matcher.text)} characters",
                )
            prod.note_cloud_audio()
            prod.play(item.data, "cartesia")
            progress.audio(frames)
            tee.append(item.data)
        elif isinstance(item, Words):
            progress.words(item.words)
        item = await _next(context)
    if progress.frames == 0:
        # `done` with no audio at all: nothing was said, so the say is not finished.
        raise CartesiaError(None, "Cartesia ended the context without any audio")


async def _next(context: CloudContext) -> Audio | Words | None:
    if not context.input_closed:
        return await context.receive()  # a stream waits for its text (its own bounds)
    with trio.move_on_after(CHUNK_GAP) as gap:
        return await context.receive()
    assert gap.cancelled_caught
    raise CartesiaError(None, f"Cartesia sent nothing for {CHUNK_GAP:g} s mid-utterance")


def first_audio_bound(sources: Sources) -> float:
    # Without a local voice to fall back on, waiting longer beats failing at once.
    return sources.cloud_timeout if sources.local is not None else 10.0


def cut_at_heard(prod: Production, progress: Progress, exc: CartesiaError) -> Cut:
    """Drop what arrived after the heard words, unless it already played (then the
    listener hears the boundary word twice), and say where to resume."""
    cut = prod.fail_over(progress.resume_frame)
    log.warning(
        "cloud failed mid-utterance (%s); resuming at character %d%s",
        exc,
        progress.resume_at,
        "" if cut else " (the boundary word had already started playing)",
    )
    return Cut(progress.resume_at, exc)


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
