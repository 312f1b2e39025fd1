"""A streamed say spoken as its text arrives (through a `TextFeed`), as
continuations of one Cartesia context, while its audio plays.

A drop mid-stream resumes at the first word not fully heard: on a new context,
still streaming, if the socket is back within ``failover_wait``, else with the
local voice once the text is whole. A context that Cartesia ends while its text
is still arriving (contexts expire about a second after their last audio, so a
long pause in the text ends one) is continued on a new context the same way.
Only a say spoken on a single context is cached as a cloud clip. Whether to stream at all is
decided in `herald.speech.fallback`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import trio

from herald.cartesia.context import Utterance as CloudUtterance
from herald.cartesia.errors import CartesiaError
from herald.speech.cloud import (
    CloudProgress,
    ContextEnded,
    cloud_is_back,
    cut_at_word,
    receive,
    uncached,
)
from herald.speech.feed import StreamIdle, TextFeed
from herald.speech.local import CacheTee, from_local
from herald.speech.production import Sources, SpeechFailed, Utterance
from herald.speech.text import text_from_word

__all__ = ["stream_to_cloud", "whole_text"]

log = logging.getLogger("herald.speech")

_EMPTY_STREAM = "the streamed text was empty"
_WORD_CHAR = re.compile(r"\w")
# A stream whose contexts keep failing after some audio ends on the local voice.
_MAX_STREAM_FAILOVERS = 3


async def whole_text(feed: TextFeed) -> str:
    """The feed's text once its final chunk came. Raises SpeechFailed (idle, empty)."""
    try:
        text = await feed.complete()
    except StreamIdle as exc:
        raise SpeechFailed(str(exc)) from None
    if not text.strip():
        raise SpeechFailed(_EMPTY_STREAM)
    return text


@dataclass
class _Leg:
    """One Cartesia context of a streamed say (a failover starts another)."""

    start: int  # where its text begins in feed.text: the first word not heard before it
    tee: CacheTee
    sent: str = ""  # the text from ``start`` given to it so far (some may be held back)
    progress: CloudProgress = field(default_factory=CloudProgress)
    error: CartesiaError | None = None

    @property
    def resume_at(self) -> int:
        """Where in feed.text the first word whose audio did not fully arrive begins."""
        return self.start + len(self.sent) - len(text_from_word(self.sent, self.progress.words))


async def stream_to_cloud(sources: Sources, utt: Utterance, feed: TextFeed) -> None:
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
            cut_at_word(utt, leg.progress, exc)
        start = leg.resume_at
        if (
            leg.progress.frames > 0
            and utt.failovers <= _MAX_STREAM_FAILOVERS
            and await cloud_is_back(sources, exc)
        ):
            try:
                # Not cached: a clip made of two contexts is not the cloud's clip.
                leg = await _stream_leg(uncached(sources), utt, feed, start)
                legs += 1
                continue
            except CartesiaError as again:
                log.warning("cloud failed again after failover: %s", again)
        rest = (await whole_text(feed))[start:]
        errors = [str(exc)]
        if rest.strip() and not await from_local(sources, utt, rest, errors):
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
    leg = _Leg(start, CacheTee(sources, utt, "cartesia"))
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
            await receive(sources, utt, cloud, leg.progress, leg.tee)
            if not cloud.input_closed:
                raise ContextEnded()
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
