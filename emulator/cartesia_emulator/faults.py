"""Fault switches that tests flip on a running emulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Mutable fault settings, read afresh at every point of use.

    Tests may change any field at any time, even while audio is streaming; the
    emulator never caches a value across a chunk, a request or a poll.
    """

    ttfb: float = 0.0
    """Seconds before a context's first chunk (and before a REST response head)."""
    chunk_delay: float = 0.0
    """Seconds before every chunk after a context's first."""
    chunk_jitter: float = 0.0
    """Upper bound of a seeded uniform random delay added to ``chunk_delay``."""
    seed: int = 0
    """Seed of the jitter; each context draws from ``Random(f"{seed}:{context_id}")``."""
    stall: bool = False
    """While set, every accepted TCP stream neither reads nor writes (no pongs either)."""
    cut_after_chunks: int | None = None
    """Once a connection has sent this many chunks, reset it (RST, no close frame)."""
    cut_only_connection: int | None = None
    """With cut_after_chunks: cut only the connection with this number (1 = the first),
    so a test's reconnected socket is not cut again before the test can react."""
    idle_timeout: float = 300.0
    """Close a socket with 1000 "connection idle timeout" after this long idle."""
    refuse: bool = False
    """Accept new TCP connections and reset them at once."""
    reject_status: int | None = None
    """Reject every new WS handshake / REST request with this HTTP status."""
    error_after_chunks: tuple[int, int, str] | None = None
    """(N, status, message): after N chunks of a context, end it with this error."""
    chunk_samples: int = 2048
    """Maximum samples per audio chunk."""
    cancel_finishes_current: bool = False
    """On cancel, finish the segment being generated and send ``done`` (the documented
    server behaviour); when False, a cancel silences the context at once, no ``done``."""
    max_contexts: int | None = None
    """Concurrent contexts allowed across the emulator; a new one past it gets 429."""
    page_cap: int | None = None
    """GET /voices returns at most this many voices per page, whatever ``limit`` asks
    (a server may send fewer than asked; clients must follow the cursor regardless)."""
