"""Secrets that cannot leak by accident: no repr, str or format shows the value."""

import hmac
import json
from collections.abc import Iterable
from pathlib import Path
from typing import final

__all__ = ["MASK", "Secret", "SecretFileError", "mask", "read_secret_file"]

MASK = "********"
_MASK = MASK
MIN_MASKED = 3  # masking one or two characters would only garble the text
MAX_SECRET_BYTES = 65536  # a key or password; anything larger is the wrong file


@final
class Secret:
    """A secret string (an API key, a password).

    Only `reveal()` returns the value; `repr`, `str` and f-strings show a mask.
    Equality compares values (in constant time); a Secret is false when empty.
    """

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type["Secret"], tuple[str]]:
        return (Secret, (self._value,))


class SecretFileError(Exception):
    """A secret file could not be read; the message names the file, never its content."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read secret file {str(path)!r}: {reason}")
        self.path = path
        self.reason = reason


def read_secret_file(path: Path | str) -> Secret:
    """Read a secret from a file (UTF-8), without its trailing newline.

    Raises SecretFileError when the file cannot be read, is not UTF-8 or is too large.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        # OSError messages carry the path and the reason only, never file content.
        raise SecretFileError(path, exc.strerror or type(exc).__name__) from None
    except ValueError:  # a path with a NUL byte in it
        raise SecretFileError(path, "not a valid path") from None
    if len(data) > MAX_SECRET_BYTES:
        raise SecretFileError(path, f"larger than {MAX_SECRET_BYTES} bytes, not a secret")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # raised below, outside the handler: the decode error holds the bytes
    if text is None:
        raise SecretFileError(path, "not valid UTF-8")
    return Secret(text.rstrip("\r\n"))


def mask(text: str, secrets: Iterable[Secret | None]) -> str:
    """``text`` with every secret's value masked, as written and as JSON escapes it.

    The one masking rule, for log lines, events, the state, error texts and doctor's
    output: a hostile or careless peer (a server error that echoes the key) must not
    get a secret published.
    """
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal()
        if len(value) < MIN_MASKED:
            continue
        text = text.replace(value, MASK)
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            text = text.replace(escaped, MASK)
    return text
