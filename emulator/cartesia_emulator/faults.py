"""Fault switches that tests flip on a running emulator."""

from __future__ import annotations

from dataclasses import dataclass

# Depth of the deep_frame_after_chunks frame: 1000 nested arrays are about 2 KB, and
# deeper than Python's json module (RecursionError) or a naive recursive parser takes.
DEEP_FRAME_DEPTH = 1000


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
    deep_frame_after_chunks: int | None = None
    """Once a context has sent this many chunks (0: before its first), send one extra
    ``chunk`` frame for it whose ``data`` is ``deep_frame_depth`` nested arrays
    (``[[[...]]]``, about 2 KB); the context then goes on as usual."""
    deep_frame_depth: int = DEEP_FRAME_DEPTH
    """Nesting depth of the deep_frame_after_chunks frame."""
    hang_after_chunks: int | None = None
    """Once a context has sent this many chunks (0: none), it sends nothing more: no
    chunk, timestamps, flush_done or done. The socket stays open, answers pings and
    serves other contexts; only the idle timeout (or the client) ends it."""
    flood_audio_bytes: int | None = None
    """After the audio of its first push, each context streams filler audio until it
    has sent this many bytes of audio (decoded, in its encoding), with no delay between
    chunks, then goes on as usual (its remaining audio, then done). E.g. 200_000_000
    for a runaway generation a client must cut off."""
    done_before_audio: bool = False
    """Each context sends ``done`` before its first chunk, then all its audio as usual
    and no second ``done``: the frames after ``done`` are late frames to drop."""
    echo_api_key: bool = False
    """Every error the emulator answers (WS error frames, rejected WS handshakes, REST
    errors) has the credential the caller presented appended to its message, as a
    hostile or careless server echoing the request would. Combine with
    ``error_after_chunks``, ``reject_status`` or a bad request to trigger one."""
