"""The ``Cartesia-Version`` values the service serves, and the ones behaviour changes at.

Only the versions the docs and SDKs name are served (notes cartesia-2026.md §1.1):
2024-06-10 (the first stable API), 2024-11-13, 2025-04-16, 2025-11-04 (PY3 and JS3),
2026-03-01 (the docs' default), 2026-08-14 (SDK 4.x, the newest). The docs repository
also holds 2025-04-01 and 2025-04-10 definitions that no page, changelog or SDK ever
named (drafts of 2025-04-16); they are unknown here.

Any other date is not "the newest version at or before it": the live service answers
404 "API version not found: No API schema exists for the requested Cartesia-Version."
(cartesia-js issue #101, June 2026, a 2.2.x SDK sending a version the endpoint had
no schema for). A missing version is 400 "Cartesia-Version header is required in
YYYY-MM-DD form" and a malformed one 400 "Invalid Cartesia-Version header" (both quoted
by third-party clients checked against the live API). None of these can be in a
version's shape, so they are plain "Title: Message" text.
"""

from __future__ import annotations

VERSIONS = ("2024-06-10", "2024-11-13", "2025-04-16", "2025-11-04", "2026-03-01", "2026-08-14")
LATEST = VERSIONS[-1]

# Errors are structured JSON (DOCS api-errors); unknown voice and pronunciation
# dictionary ids are 404 (changelog March 2026).
STRUCTURED_ERRORS = "2026-03-01"
NOT_FOUND_IS_404 = "2026-03-01"
# The voice may be a bare id or {"id": ...}; voices have access/visibility/locales
# (PY4 MIGRATING.md, types/voice_specifier_param.py, types/voice.py).
VOICE_SHORTHAND = "2026-08-14"
NEW_VOICE_SHAPE = "2026-08-14"


def known(version: str | None) -> bool:
    return version in VERSIONS


def since(version: str | None, first: str) -> bool:
    """True when ``version`` is a served version and ``first`` or newer."""
    return version is not None and version in VERSIONS and version >= first
