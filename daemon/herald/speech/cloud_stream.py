"""A streamed say (its text still arriving through a `TextFeed`) spoken on one Cartesia
context, continued as the text arrives, while its audio plays.

Like `herald.speech.cloud.speak_text`, a leg reports `Spoken` or `Cut` (the audio cut
where the heard words end; `resume_at` is an offset into everything the feed has
received) and raises the `CartesiaError` when it failed before any of its audio. A
context that Cartesia ends while its text is still arriving (contexts expire about a
second after their last audio, so a long pause in the text ends one) is a `Cut` with
`ContextEnded`. Whether to stream at all, and what follows a cut, is decided in
`herald.speech.fallback`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from herald.cartesia.errors import CartesiaError, ContextEnded
from herald.speech.cached import CacheTee
from herald.speech.cloud import SPOKEN, Cut, Progress, Spoken, cut_at_heard, receive
from herald.speech.feed import StreamIdle, TextFeed
from herald.speech.production import SpeechFailed
from herald.text import is_speakable

if TYPE_CHECKING:
    from herald.speech.production import CloudContext, Production, Sources

__all__ = ["EMPTY_STREAM", "stream_leg", "whole_text"]

log = logging.getLogger("herald.speech")

EMPTY_STREAM = "the streamed text was empty"


async def whole_text(feed: TextFeed) -> str:
    """The feed's text once its final chunk came. Raises SpeechFailed (idle, empty)."""
    try:
        text = await feed.complete()
    except StreamIdle as exc:
        raise SpeechFailed(str(exc)) from None
    if not text.strip():
        raise SpeechFailed(EMPTY_STREAM)
    return text


async def stream_leg(
    sources: Sources, prod: Production, feed: TextFeed, start: int, *, cache: bool
) -> Spoken | Cut:
    """Speak ``feed.text[start:]`` on one context, pushing text while its audio plays.

    Raises SpeechFailed for an idle or empty text, CartesiaError when the context
    failed (or could not be opened) before any of its audio.
    """
    context = await sources.client.open_context(prod.params)
    tee = CacheTee(sources, prod, "cartesia", enabled=cache)
    progress = Progress(start)
    opened = trio.Event()
    error: CartesiaError | None = None
    # Kept out of the nursery so that it does not end up wrapped in an exception group.
    text_failure: SpeechFailed | None = None
    async with context, trio.open_nursery() as nursery:

        async def push() -> None:
            nonlocal text_failure
            try:
                await _push_feed(prod, context, feed, progress, opened)
            except SpeechFailed as exc:
                # Leaving `async with context` cancels the context; what has been fed
                # so far still plays.
                text_failure = exc
                nursery.cancel_scope.cancel()
                return
            if not opened.is_set():
                nursery.cancel_scope.cancel()  # nothing was left to say on it

        nursery.start_soon(push)
        try:
            await opened.wait()
            await receive(sources, prod, context, progress, tee)
            if not context.input_closed:
                raise ContextEnded()
        except CartesiaError as exc:
            error = exc
            nursery.cancel_scope.cancel()
    if text_failure is not None:
        raise text_failure
    if error is not None:
        if progress.frames == 0:
            raise error
        return cut_at_heard(prod, progress, error)
    await tee.commit(feed.text)
    return SPOKEN


async def _push_feed(
    prod: Production,
    context: CloudContext,
    feed: TextFeed,
    progress: Progress,
    opened: trio.Event,
) -> None:
    """Push the feed's pieces as they are released; the last one closes the context.
    A failover's context first gets the text the failed one did not speak."""
    start = progress.start
    carry = feed.text[start : feed.taken]
    if carry and not feed.exhausted:
        progress.matcher.extend(carry)
        await context.push(carry)
        carry = ""
    while True:
        if context.opened:
            _note_opened(prod, opened)
        try:
            piece = await feed.next_piece()
        except StreamIdle as exc:
            raise SpeechFailed(str(exc)) from None
        text, carry = carry + (piece or ""), ""
        if piece is not None and not feed.exhausted:
            progress.matcher.extend(text)
            await context.push(text)
            continue
        if not context.opened and not is_speakable(progress.matcher.text + text):
            if start == 0 and not feed.text.strip():
                raise SpeechFailed(EMPTY_STREAM)
            if start > 0:
                return  # the failed context had spoken it all
        progress.matcher.extend(text)
        await context.finish(text)
        _note_opened(prod, opened)
        return


def _note_opened(prod: Production, opened: trio.Event) -> None:
    # The first request went out: the wait for the first audio starts now.
    if not opened.is_set():
        prod.note_request()
        prod.note_sent()
        opened.set()
