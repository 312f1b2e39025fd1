"""Typed errors for everything that can go wrong talking to Cartesia.

Cartesia answers errors in two shapes, by `Cartesia-Version`: from 2026-03-01 a JSON
object (`error_code`, `title`, `message`, `request_id`, `doc_url`), before it a
``"Title: Message"`` string (the WebSocket's ``error`` field, or a REST body in plain
text). `error_from` reads either into the same typed error, so the rest of herald
never looks at the shape: a sunset model is `ModelUnavailable` on every version.

Which errors a retry cannot fix, and which config key would, is decided here
(`ConfigRejected.config_key`). None of them ever carries the API key: messages are
built from status codes and the server's error text only (and the server's text is
masked again where it is published, should a hostile server echo the key).
"""

from __future__ import annotations

import json
from typing import ClassVar

MAX_MESSAGE_CHARS = 300  # of the server's text kept in an error: it ends up in events


class CartesiaError(Exception):
    """A request to Cartesia failed; ``status_code`` is None when no HTTP status applies.

    ``message`` is the text shown to people ("Title: message"); ``error_code`` is
    Cartesia's machine-readable code (structured shape), or the code the legacy
    title stands for; ``request_id`` is Cartesia's, for support requests.
    """

    def __init__(
        self,
        status_code: int | None,
        message: str,
        error_code: str | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message
        self.error_code = error_code
        self.request_id = request_id

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        return f"{self.status_code}: {self.message}"


class KeyRejected(CartesiaError):
    """401: the API key is wrong or revoked. Retrying will not help."""


class NoCredits(CartesiaError):
    """402: the account has run out of credits."""


class RateLimited(CartesiaError):
    """429: too many concurrent contexts or sockets for the plan."""


class ServerError(CartesiaError):
    """5xx: Cartesia itself failed."""


class RequestRejected(CartesiaError):
    """4xx other than the above: this request was invalid (an empty text, a bad tag...).
    Retrying the same request will not help; another request may be fine."""


class ConfigRejected(RequestRejected):
    """A 4xx that every request with these settings will get, whatever the text: a
    model, voice, dictionary or language Cartesia does not (or no longer) serve.
    ``config_key`` names the setting to change."""

    config_key: ClassVar[str] = "cartesia"


class ModelUnavailable(ConfigRejected):
    """The model is sunset (``model_sunsetted``) or unknown (``model_not_found``)."""

    config_key = "cartesia.model"


class VoiceNotFound(ConfigRejected):
    """No such voice (404 from 2026-03-01; a voice made by the removed embedding
    endpoints that was never migrated ends here too)."""

    config_key = "cartesia.voice"


class DictionaryNotFound(ConfigRejected):
    """No such pronunciation dictionary (404 from 2026-03-01)."""

    config_key = "cartesia.pronunciation_dict_id"


class LanguageUnsupported(ConfigRejected):
    """The model does not speak the language (a partly sunset snapshot, say)."""

    config_key = "cartesia.language"


class CloudOffline(CartesiaError):
    """There is no connection to Cartesia right now."""

    def __init__(self, reason: str) -> None:
        super().__init__(None, f"Cartesia is offline ({reason})")
        self.reason = reason


class ConnectionLost(CartesiaError):
    """The connection dropped while an utterance was in flight."""

    def __init__(self, reason: str) -> None:
        super().__init__(None, f"connection to Cartesia lost ({reason})")
        self.reason = reason


class ContextEnded(CartesiaError):
    """Cartesia sent ``done`` before the context's input was closed: contexts expire
    about a second after their last audio, so a pause in the text can end one."""

    def __init__(self) -> None:
        super().__init__(None, "Cartesia ended the context while its text was still arriving")


# The codes of the structured shape, and the legacy titles that stand for them (the
# legacy shape has no code: its title is the only machine-readable part).
_BY_CODE: dict[str, type[ConfigRejected]] = {
    "model_sunsetted": ModelUnavailable,
    "model_not_found": ModelUnavailable,
    "voice_not_found": VoiceNotFound,
    "pronunciation_dict_not_found": DictionaryNotFound,
    "pronunciation_dictionary_not_found": DictionaryNotFound,
    "unsupported_language": LanguageUnsupported,
    "language_not_supported": LanguageUnsupported,
}
_CODE_OF_TITLE = {
    "invalid model": "model_not_found",
    "model not found": "model_not_found",
    "model sunsetted": "model_sunsetted",
    "voice not found": "voice_not_found",
    "pronunciation dictionary not found": "pronunciation_dict_not_found",
    "unsupported language": "unsupported_language",
    "language not supported": "unsupported_language",
}


def error_for_status(
    status: int | None,
    message: str,
    error_code: str | None = None,
    *,
    request_id: str | None = None,
) -> CartesiaError:
    """The typed error for an HTTP status and Cartesia's code (or None)."""
    cls: type[CartesiaError]
    config = _BY_CODE.get(error_code or "")
    if status == 401:
        cls = KeyRejected
    elif status == 402:
        cls = NoCredits
    elif status == 429:
        cls = RateLimited
    elif status is not None and status >= 500:
        cls = ServerError
    elif config is not None and (status is None or 400 <= status < 500):
        cls = config
    elif status == 404:
        cls = _not_found(message)
    elif status is not None and 400 <= status < 500:
        # Before 2026-03-01 a bad dictionary id was only "Invalid pronunciation_dict_id."
        lower = message.lower()
        dictionary = "pronunciation_dict" in lower or "pronunciation dictionary" in lower
        cls = DictionaryNotFound if dictionary else RequestRejected
    else:
        cls = CartesiaError
    return cls(status, message, error_code, request_id=request_id)


def _not_found(message: str) -> type[CartesiaError]:
    # A 404 without a code: the text says what was not found.
    lower = message.lower()
    if "pronunciation" in lower or "dictionar" in lower:
        return DictionaryNotFound
    if "voice" in lower:
        return VoiceNotFound
    if "model" in lower:
        return ModelUnavailable
    return RequestRejected


def error_from(
    status: int | None,
    *,
    title: str | None = None,
    message: str | None = None,
    error_code: str | None = None,
    request_id: str | None = None,
    legacy: str | None = None,
) -> CartesiaError:
    """The typed error for one of Cartesia's error bodies, in either shape.

    Structured: ``title``, ``message``, ``error_code``, ``request_id``. Legacy: the
    ``"Title: Message"`` string in ``legacy``; its title gives the code.
    """
    if not (title or message) and legacy:
        head, sep, tail = legacy.partition(": ")
        title, message = (head, tail) if sep else (None, legacy)
    if error_code is None and title:
        error_code = _CODE_OF_TITLE.get(title.strip().lower())
    text = ": ".join(part for part in (title, message) if part) or "unspecified error"
    rid = _one_line(request_id, 100) if request_id else None
    return error_for_status(status, _one_line(text), error_code, request_id=rid)


def error_from_body(status: int, body: bytes) -> CartesiaError:
    """A REST or handshake error body: JSON (either shape's fields), or plain text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        fields = json.loads(text) if text.startswith("{") else None
    except (ValueError, RecursionError):
        fields = None
    if isinstance(fields, dict):
        return error_from(
            status,
            title=_str(fields.get("title")),
            message=_str(fields.get("message")),
            error_code=_str(fields.get("error_code")),
            request_id=_str(fields.get("request_id")),
            legacy=_str(fields.get("error")),
        )
    return error_from(status, legacy=text or "no details")


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())  # one line: it goes into logs and events
    return text if len(text) <= limit else text[: limit - 1] + "…"
