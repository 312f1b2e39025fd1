"""What Cartesia refused for good, so that herald stops asking.

A sunset or unknown model, an unknown voice or pronunciation dictionary, a language
the model does not speak: every request with that setting gets the same error,
whatever its text. The first such error is remembered here, per setting; a later say
with the same setting goes straight to the cache and the local voice instead of
waiting for Cartesia to refuse it again. Nothing is forgotten until the config
changes: SIGHUP builds new services, and with them an empty `Refusals`.

Plain synchronous logic, no I/O.
"""

from __future__ import annotations

from herald.cartesia.errors import (
    ConfigRejected,
    DictionaryNotFound,
    LanguageUnsupported,
    ModelUnavailable,
    VoiceNotFound,
)
from herald.observable import Observable
from herald.voice import VoiceParams

__all__ = ["Refusals"]

_Key = tuple[str, ...]


def _key(error: ConfigRejected, params: VoiceParams) -> _Key:
    """The settings the error is about: only says that share them are refused."""
    if isinstance(error, ModelUnavailable):
        return ("model", params.model)
    if isinstance(error, VoiceNotFound):
        return ("voice", params.voice)
    if isinstance(error, DictionaryNotFound):
        return ("dict", params.pronunciation_dict_id or "")
    if isinstance(error, LanguageUnsupported):
        return ("language", params.model, params.language or "")
    # A refusal of something else the config sets: every say with the same settings.
    return ("params", repr(params))


def _keys_of(params: VoiceParams) -> list[_Key]:
    keys: list[_Key] = [
        ("model", params.model),
        ("voice", params.voice),
        ("language", params.model, params.language or ""),
        ("params", repr(params)),
    ]
    if params.pronunciation_dict_id:
        keys.append(("dict", params.pronunciation_dict_id))
    return keys


class Refusals:
    """The refusals seen so far; ``changed`` counts them, for whoever shows them."""

    def __init__(self) -> None:
        self._by_key: dict[_Key, ConfigRejected] = {}
        self.changed = Observable(0)

    def record(self, error: ConfigRejected, params: VoiceParams) -> None:
        key = _key(error, params)
        if key not in self._by_key:
            self._by_key[key] = error
            self.changed.set(self.changed.value + 1)

    def refused(self, params: VoiceParams) -> ConfigRejected | None:
        """The error Cartesia gave a say with these settings, if it refused one."""
        for key in _keys_of(params):
            error = self._by_key.get(key)
            if error is not None:
                return error
        return None
