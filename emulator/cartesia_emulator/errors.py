"""API errors, and their wire shapes per Cartesia-Version (notes §4.2 and §6)."""

from __future__ import annotations

import json
import uuid

from .versions import STRUCTURED_ERRORS, since

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    429: "Too many concurrent requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def title_for(status: int) -> str:
    """A generic error title for an HTTP status."""
    return _TITLES.get(status, "Error")


class ApiError(Exception):
    """An error the real API would answer with: status, title, message, error code."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        code: str | None = None,
        *,
        doc_url: str | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {message}")
        self.status = status
        self.title = title
        self.message = message
        self.code = code
        self.doc_url = doc_url

    def echoing(self, credential: str | None) -> ApiError:
        """The same error with the caller's credential in its message (a hostile
        server's echo: the ``echo_api_key`` fault)."""
        message = f"{self.message} (request made with API key {credential or '<none>'})"
        return ApiError(self.status, self.title, message, self.code, doc_url=self.doc_url)

    @property
    def legacy_text(self) -> str:
        """The ``"Title: message"`` string of pre-2026-03-01 errors."""
        return f"{self.title}: {self.message}"


def is_structured(version: str | None) -> bool:
    """Structured JSON from 2026-03-01 on; an unknown or missing version has no shape
    of its own, so it gets the legacy text."""
    return since(version, STRUCTURED_ERRORS)


def _structured(err: ApiError, request_id: str) -> dict[str, object]:
    body: dict[str, object] = {
        "error_code": err.code,
        "title": err.title,
        "message": err.message,
        "request_id": request_id,
    }
    if err.doc_url is not None:  # "Omitted when not available" (DOCS api-errors)
        body["doc_url"] = err.doc_url
    return body


def ws_error(err: ApiError, version: str | None, context_id: str | None) -> dict[str, object]:
    """The ``type: error`` WebSocket message for ``err`` in the shape ``version`` uses."""
    msg: dict[str, object] = {"type": "error", "done": True, "status_code": err.status}
    if is_structured(version):
        # On the WS the request id "may be a UUID or a derived per-message ID string";
        # the docs' example is <uuid>:<context_id>:<uuid>.
        msg |= _structured(err, f"{uuid.uuid4()}:{context_id or ''}:{uuid.uuid4()}")
    else:
        msg["error"] = err.legacy_text
    if context_id is not None:
        msg["context_id"] = context_id
    return msg


def rest_error(err: ApiError, version: str | None) -> tuple[str, bytes]:
    """Content type and body of a REST error: JSON from 2026-03-01, plain text before."""
    if is_structured(version):
        return "application/json", json.dumps(_structured(err, str(uuid.uuid4()))).encode()
    return "text/plain; charset=utf-8", err.legacy_text.encode()


def empty_transcript() -> ApiError:
    # The exact text the real server sends (LK PR #3080, Pipecat #1703).
    return ApiError(
        400,
        "transcript empty or contains only punctuation",
        "first transcript for WS is empty or contains only punctuation",
        "transcript_empty",
    )


def invalid_request(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, "Invalid request", message, code)


def context_closed(message: str) -> ApiError:
    return ApiError(400, "Context has closed", message, "context_closed")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Invalid or missing API key.", "unauthorized")


def not_found(what: str) -> ApiError:
    return ApiError(404, "Not found", f"{what} was not found.", "not_found")


def concurrency_limited() -> ApiError:
    return ApiError(
        429,
        "Too many concurrent requests",
        "You have exceeded your plan's concurrency limit.",
        "concurrency_limited",
    )
