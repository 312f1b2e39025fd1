"""Typed errors for everything that can go wrong talking to Cartesia.

None of them ever carries the API key: messages are built from status codes and
the server's error text only.
"""

from __future__ import annotations


class CartesiaError(Exception):
    """A request to Cartesia failed; ``status_code`` is None when no HTTP status applies."""

    def __init__(
        self, status_code: int | None, message: str, error_code: str | None = None
    ) -> None:
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message
        self.error_code = error_code

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
    """4xx other than the above: the request itself was invalid (bad voice, empty text...)."""


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


def error_for_status(
    status: int | None, message: str, error_code: str | None = None
) -> CartesiaError:
    cls: type[CartesiaError]
    if status == 401:
        cls = KeyRejected
    elif status == 402:
        cls = NoCredits
    elif status == 429:
        cls = RateLimited
    elif status is not None and status >= 500:
        cls = ServerError
    elif status is not None and 400 <= status < 500:
        cls = RequestRejected
    else:
        cls = CartesiaError
    return cls(status, message, error_code)
