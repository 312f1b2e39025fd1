"""Who is calling and which API version they speak: shared by the WS and REST doors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .errors import ApiError, title_for, unauthorized
from .versions import known

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Target:
    """A request target split into path and first-value query parameters."""

    path: str
    query: dict[str, str]
    multi: dict[str, list[str]]

    @classmethod
    def parse(cls, target: str) -> Target:
        parts = urlsplit(target)
        multi = parse_qs(parts.query, keep_blank_values=True)
        return cls(parts.path or "/", {k: v[0] for k, v in multi.items()}, multi)


def credential(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The API key or access token, from any of the four places real clients put it."""
    if key := headers.get("x-api-key"):
        return key.strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return query.get("api_key") or query.get("access_token") or None


def api_version(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """``cartesia_version`` query parameter, else the ``Cartesia-Version`` header.

    DOCS api-conventions: the query parameter "will take precedence". Header
    names arrive lower-cased, so PY4's ``cartesia-version`` matches too.
    """
    return query.get("cartesia_version") or headers.get("cartesia-version") or None


def admit(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    api_keys: frozenset[str],
    reject_status: int | None = None,
) -> str:
    """Return the caller's API version, or raise the ApiError to reject it with.

    A bad key is 401 first, whatever the faults say; then the ``reject_status``
    fault; then a missing or malformed version (400) or one the service does not
    serve (404; see versions.py for the texts and their sources).
    """
    if credential(headers, query) not in api_keys:
        raise unauthorized()
    if reject_status is not None:
        raise ApiError(reject_status, title_for(reject_status), "Rejected by a fault switch.")
    version = api_version(headers, query)
    if version is None:
        raise ApiError(
            400,
            "Missing Cartesia-Version",
            "Cartesia-Version header is required in YYYY-MM-DD form.",
            "missing_version",
        )
    if not _VERSION.match(version):
        raise ApiError(
            400,
            "Invalid Cartesia-Version",
            f"Invalid Cartesia-Version header {version!r}: use a date in YYYY-MM-DD form.",
            "invalid_version",
        )
    if not known(version):
        raise ApiError(
            404,
            "API version not found",
            "No API schema exists for the requested Cartesia-Version.",
            "version_not_found",
        )
    return version
