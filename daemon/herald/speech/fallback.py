"""Where an utterance's audio comes from: cache, Cartesia, the local voice, a chime.

Per utterance: a cache hit plays from the cache (online too: faster and free);
else Cartesia if the socket is up, teeing the audio into the cache (committed only
once ``done`` arrived); else the local voice; else the chime, and the utterance
fails. A socket that is up but sends no audio within ``cloud_timeout`` is treated
as down. When the socket drops mid-utterance, speech continues from the first
word whose audio had not fully arrived, on the reopened socket or with the local
voice (`herald.speech.cloud`). The local voice is preceded by the chime, which
starts at once while Piper synthesizes the first sentence (`herald.speech.local`).

A streamed say (its text still arriving through a `TextFeed`) is spoken as it
arrives, as continuations of one Cartesia context, while its audio plays, and
fails over mid-stream the same way (`herald.speech.cloud_stream`). With the cloud
offline at the start, or failing before any of its audio, it waits for the
whole text and goes the way of a plain say.

This module holds that order and the entry, `produce`; the types it re-exports
live in `herald.speech.production`.
"""

from __future__ import annotations

import logging

from herald.cartesia.client import CloudState
from herald.cartesia.errors import CartesiaError
from herald.sounds.clips import ClipError
from herald.speech.cloud import from_cloud
from herald.speech.cloud_stream import stream_to_cloud, whole_text
from herald.speech.feed import TextFeed
from herald.speech.local import chime, from_cache, from_local
from herald.speech.production import RecentClips, Sources, SpeechFailed, Utterance

__all__ = ["RecentClips", "Sources", "SpeechFailed", "Utterance", "produce"]

log = logging.getLogger("herald.speech")


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
    if utt.use_cache and await from_cache(sources, utt, text, "cartesia"):
        return
    errors: list[str] = []
    if sources.client.status.value.state is not CloudState.OFFLINE:
        try:
            await from_cloud(sources, utt, text)
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
    if utt.use_cache and await from_cache(sources, utt, text, "local"):
        return
    if await from_local(sources, utt, text, errors):
        return
    await chime(sources, utt)
    raise SpeechFailed("; ".join(errors))


async def _speak_feed(sources: Sources, utt: Utterance, feed: TextFeed) -> None:
    if feed.closed or sources.client.status.value.state is CloudState.OFFLINE:
        # All of it is here already (it waited in the queue), so the cache may have
        # it; or there is no cloud to stream to, and the other voices need it whole.
        await _speak_text(sources, utt, await whole_text(feed))
        return
    try:
        await stream_to_cloud(sources, utt, feed)
    except CartesiaError as exc:
        log.warning("cloud voice failed for this streamed utterance: %s", exc)
        await _without_cloud(sources, utt, await whole_text(feed), [str(exc)])
