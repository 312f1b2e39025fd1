"""The voices on this device when the cloud cannot speak: the local voice (Piper),
preceded by the chime, which starts at once while Piper synthesizes the first sentence;
and the chime alone, when nothing can speak."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from herald.local_voice import LocalVoiceError
from herald.sounds.clips import ClipError
from herald.speech.cached import CacheTee

if TYPE_CHECKING:
    from herald.speech.production import Production, Sources

__all__ = ["chime", "from_local"]

log = logging.getLogger("herald.speech")


async def from_local(sources: Sources, prod: Production, text: str, errors: list[str]) -> bool:
    """Speak ``text`` with the local voice; False (and why, in ``errors``) if it cannot."""
    local = sources.local
    if local is None:
        errors.append("no local voice configured")
        return False
    tee = CacheTee(sources, prod, "local")
    if not prod.started_feeding:
        # Piper needs ~0.3 s for a first sentence: the chime starts at once instead,
        # and tells the listener the local voice is speaking.
        await chime(sources, prod)
    prod.stream.play_local()
    try:
        async for pcm in local.synthesize(text):
            prod.play(pcm, "local")
            tee.append(pcm)
    except LocalVoiceError as exc:
        errors.append(str(exc))
        log.error("local voice failed: %s", exc)
        return False
    await tee.commit(text)
    return True


async def chime(sources: Sources, prod: Production) -> None:
    try:
        prod.play(await sources.clips.fetch("chime"), "clip")
    except ClipError as exc:  # pragma: no cover - the built-in chime is always there
        log.error("%s", exc)
