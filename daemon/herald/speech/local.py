"""The sources on this device: the clip cache, the local voice, the chime.

A cache hit plays from memory (`RecentClips`) or from disk, read and verified in a
worker thread. The local voice is preceded by the chime, which starts at once
while Piper synthesizes the first sentence. `CacheTee` fills the cache from
whichever voice spoke, cloud or local, once its audio is complete.
"""

from __future__ import annotations

import logging

import trio

from herald.cache import ClipMeta, ClipWriter, Source, clip_key
from herald.local_voice import LocalVoiceError
from herald.sounds.clips import ClipError
from herald.speech.production import Sources, Utterance

__all__ = ["CacheTee", "chime", "from_cache", "from_local"]

log = logging.getLogger("herald.speech")


async def from_cache(sources: Sources, utt: Utterance, text: str, kind: Source) -> bool:
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


async def from_local(sources: Sources, utt: Utterance, text: str, errors: list[str]) -> bool:
    local = sources.local
    if local is None:
        errors.append("no local voice configured")
        return False
    tee = CacheTee(sources, utt, "local")
    if not utt.started_feeding:
        # Piper needs ~0.3 s for a first sentence: the chime starts at once instead,
        # and tells the listener the local voice is speaking.
        await chime(sources, utt)
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


async def chime(sources: Sources, utt: Utterance) -> None:
    try:
        utt.play(await sources.clips.fetch("chime"), "clip")
    except ClipError as exc:  # pragma: no cover - the built-in chime is always there
        log.error("%s", exc)


class CacheTee:
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
