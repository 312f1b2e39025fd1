"""Rhasspy/Hermes: `hermes/tts/say` for this site becomes a say; `hermes/tts/sayFinished`
follows when it ends (also when it failed or was dropped, as Rhasspy's own TTS does),
and a say that cannot be spoken gets `hermes/error/tts` too, so a dialogue session
does not wait for it in vain."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from herald.commands import Rejected, SayCommand, parse_hermes_say
from herald.control.actions import Accept, Actions
from herald.control.topics import HERMES_ERROR, HERMES_FINISHED

__all__ = ["Hermes", "hermes_language"]

log = logging.getLogger("herald.hermes")

# (topic, payload, retain): published with QoS 1 by the publisher's outbox.
Outgoing = tuple[str, str, bool]


class Hermes:
    def __init__(self, site: str, actions: Actions, send: Callable[[Outgoing], None]) -> None:
        self._site = site
        self._actions = actions
        self._send = send

    def _ours(self, site: object) -> bool:
        return site in (self._site, "default")

    def say(
        self, payload: bytes, ack: Callable[[], None], accept: Accept, *, age: float = 0.0
    ) -> None:
        """A `hermes/tts/say`. Raises Rejected (after answering Hermes) if it is bad.
        ``accept()`` gives the acknowledgements of a say for this site (`Accept`)."""
        try:
            say = parse_hermes_say(payload)
        except Rejected as exc:
            self._error(payload, exc.reason)
            raise
        if not self._ours(say.site_id):
            log.debug("hermes say for site %s: not this one", say.site_id)
            ack()
            return
        finished = {"id": say.id, "siteId": say.site_id}
        if say.session_id is not None:
            finished["sessionId"] = say.session_id

        def say_finished() -> None:
            # Rhasspy's own TTS also reports sayFinished when speaking failed.
            self._send((HERMES_FINISHED, json.dumps(finished), False))

        cmd = SayCommand(text=say.text, id=say.id, language=hermes_language(say.lang))
        acks, on_start = accept()
        self._actions.say(cmd, [*acks, say_finished], on_start=on_start, age=age)

    def _error(self, payload: bytes, reason: str) -> None:
        """A Hermes say for this site that cannot be spoken: Rhasspy's own TTS answers
        with hermes/error/tts and sayFinished, and a dialogue session waits for the
        latter, so do the same when the payload names an id and this site."""
        try:
            members = json.loads(payload)
        except (ValueError, RecursionError):
            return
        if not isinstance(members, dict):
            return
        id, site = members.get("id"), members.get("siteId") or "default"
        session = members.get("sessionId")
        if not isinstance(site, str) or not self._ours(site):
            return
        error: dict[str, object] = {"error": reason, "context": "herald", "siteId": site}
        if isinstance(session, str):
            error["sessionId"] = session
        self._send((HERMES_ERROR, json.dumps(error), False))
        if isinstance(id, str) and id:
            finished = {"id": id, "siteId": site}
            if isinstance(session, str):
                finished["sessionId"] = session
            self._send((HERMES_FINISHED, json.dumps(finished), False))


def hermes_language(lang: str | None) -> str | None:
    """Rhasspy's "en_US" / "de-DE" as Cartesia's "en" / "de"; None keeps the configured one."""
    if not lang:
        return None
    base = lang.replace("_", "-").split("-")[0].lower()
    return base if base.isascii() and base.isalpha() and 2 <= len(base) <= 3 else None
