"""Where a say's audio comes from, decided once: cache → Cartesia → local voice → chime.

Per say:

1. A clip the say names plays first.
2. The cache, if it holds this text in this voice (online too: faster and free).
3. Cartesia, if the socket is up and Cartesia has not refused these settings for good
   (`herald.speech.refusals`). A streamed say is streamed while its text arrives.
   When a context fails after some of its audio played, the audio is cut where the
   heard words end, and speech goes on from there: on a new context if the socket is
   back within ``failover_wait`` (or the context merely expired), at most
   `MAX_FAILOVERS` times; else with the voices below. Only a say spoken on one
   context is cached as a cloud clip.
4. The local voice (a clip it made before, else Piper, after the chime), for what is
   left of the text.
5. Nothing could speak: the chime, and `SpeechFailed` with the reasons. (After part
   of a say was heard, no chime: the listener has heard the voice stop.)

A streamed say waits for its whole text before it goes to the cache or the local
voice, since both need it whole.
"""

from __future__ import annotations

import logging

from herald.cartesia.errors import CartesiaError, ConfigRejected
from herald.sounds.clips import ClipError
from herald.speech.cached import from_cache
from herald.speech.cloud import Cut, cloud_is_back, speak_text
from herald.speech.cloud_stream import stream_leg, whole_text
from herald.speech.feed import TextFeed
from herald.speech.local import chime, from_local
from herald.speech.production import Production, Sources, SpeechFailed
from herald.text import is_speakable

__all__ = ["MAX_FAILOVERS", "produce"]

log = logging.getLogger("herald.speech")

MAX_FAILOVERS = 3  # contexts after the first, per say, before the local voice takes over


async def produce(sources: Sources, prod: Production) -> None:
    """Feed the stream with the say's audio and end it. Raises SpeechFailed."""
    if prod.clip is not None:
        try:
            prod.play(await sources.clips.fetch(prod.clip), "clip")
        except ClipError as exc:
            if prod.text is None and prod.feed is None:
                raise SpeechFailed(str(exc)) from None
            log.warning("%s; speaking the text without it", exc)
    if prod.feed is not None:
        await _speak(sources, prod, None, prod.feed)
    elif prod.text is not None:
        await _speak(sources, prod, prod.text, None)
    prod.stream.end()


def _cloud_unusable(sources: Sources, prod: Production) -> str | None:
    """Why the cloud will not be asked for this say, or None."""
    refused = sources.refusals.refused(prod.params)
    if refused is not None:
        return f"Cartesia refused this earlier: {refused.message}"
    status = sources.client.status.value
    if status.down:
        return f"Cartesia is offline ({status.reason})"
    return None


async def _speak(
    sources: Sources, prod: Production, text: str | None, feed: TextFeed | None
) -> None:
    if feed is not None and (feed.closed or _cloud_unusable(sources, prod) is not None):
        # All of it is here already (it waited in the queue), so the cache may have it;
        # or there is no cloud to stream to, and the other voices need it whole.
        text, feed = await whole_text(feed), None
    if text is not None and prod.use_cache and await from_cache(sources, prod, text, "cartesia"):
        return
    errors: list[str] = []
    start = 0  # where the text not yet heard begins
    for leg in range(MAX_FAILOVERS + 1):
        unusable = _cloud_unusable(sources, prod)
        if unusable is not None:
            errors.append(unusable)
            break
        try:
            if feed is not None:
                outcome = await stream_leg(sources, prod, feed, start, cache=leg == 0)
            else:
                assert text is not None
                outcome = await speak_text(sources, prod, text, start, cache=leg == 0)
        except CartesiaError as exc:  # nothing of this context was heard
            errors.append(str(exc))
            log.warning("cloud voice failed for this utterance: %s", exc)
            if isinstance(exc, ConfigRejected):
                sources.refusals.record(exc, prod.params)
                log.error("Cartesia refuses %s: %s", exc.config_key, exc)
            break
        if not isinstance(outcome, Cut):
            return
        start = outcome.resume_at
        errors = [str(outcome.error)]
        if text is not None and not is_speakable(text[start:]):
            return  # the failed context had spoken it all
        if not await cloud_is_back(sources, outcome.error):
            break
        log.info("resuming on a new context at character %d", start)
    if feed is not None:
        text = await whole_text(feed)
    assert text is not None
    await _without_cloud(sources, prod, text[start:], errors, whole=start == 0)


async def _without_cloud(
    sources: Sources, prod: Production, text: str, errors: list[str], *, whole: bool
) -> None:
    """The cloud could not speak ``text`` (``errors`` say why): a local clip of the
    whole text, the local voice, else SpeechFailed (after the chime, unless part of
    the say was already heard)."""
    if whole and prod.use_cache and await from_cache(sources, prod, text, "local"):
        return
    if not whole and not is_speakable(text):
        return  # the failed context had spoken it all
    if await from_local(sources, prod, text, errors):
        return
    if whole:
        await chime(sources, prod)
    raise SpeechFailed("; ".join(errors))
