"""The clip cache: every utterance the cloud synthesized, kept for next time.

Sync code, called from trio through ``trio.to_thread.run_sync``::

    key = clip_key(text, params, "cartesia")
    clip = cache.get(key)                      # verified, or None
    with cache.begin(key, ClipMeta.from_params(text, params, "cartesia")) as w:
        for chunk in audio:                    # tee while playing
            w.append(chunk)
        if done_received:
            w.commit()                         # else leaving the block aborts
"""

from herald.cache.format import Clip as Clip
from herald.cache.format import ClipMeta as ClipMeta
from herald.cache.format import CorruptClip as CorruptClip
from herald.cache.key import Source as Source
from herald.cache.key import clip_key as clip_key
from herald.cache.key import normalize_text as normalize_text
from herald.cache.records import CacheStats as CacheStats
from herald.cache.records import ClipInfo as ClipInfo
from herald.cache.records import PruneResult as PruneResult
from herald.cache.store import ClipCache as ClipCache
from herald.cache.store import ClipWriter as ClipWriter
