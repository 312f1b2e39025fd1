"""The clip cache as a voice: lookups (the recent clips in memory first, then the
disk), and `CacheTee`, which fills the cache from whichever voice spoke, once its audio
is complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from herald.cache import ClipMeta, ClipWriter, Source, clip_key

if TYPE_CHECKING:
    from herald.cache import ClipCache
    from herald.speech.production import Production, Sources
    from herald.voice import VoiceParams

__all__ = ["CacheTee", "from_cache"]


async def from_cache(sources: Sources, prod: Production, text: str, kind: Source) -> bool:
    """Play ``text`` from the cache if a clip of this ``kind`` has it; False on a miss."""
    cache = sources.cache
    if cache is None:
        return False
    key = clip_key(text, prod.params, kind)
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
    prod.play(pcm, "cache")
    return True


class CacheTee:
    """Copies audio into a new cache clip as it plays. Nothing reaches the disk unless
    `commit` is called, which happens only once the audio is complete: an
    interrupted, failed or failed-over say just drops its copy. The text, the clip's
    key, is given at the commit: a streamed text is only whole by then.

    ``enabled=False`` (a failover's second context: a clip made of two contexts is
    not the cloud's clip) copies nothing.
    """

    def __init__(
        self, sources: Sources, prod: Production, source: Source, *, enabled: bool = True
    ) -> None:
        self._cache: ClipCache | None = sources.cache if prod.use_cache and enabled else None
        self._recent = sources.recent
        self._params: VoiceParams = prod.params
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
