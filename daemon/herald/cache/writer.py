"""Writing one clip: chunks go to a temp file as they arrive; ``commit`` fsyncs it,
renames it into place and fsyncs the directory, so a crash never leaves half a clip."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from herald.atomic import fsync_dir
from herald.cache.files import unlink_logged
from herald.cache.format import (
    FIXED_HEADER_SIZE,
    MAX_PAYLOAD_BYTES,
    ClipMeta,
    pack_header,
    sample_width,
)

if TYPE_CHECKING:
    from herald.cache.index import ClipIndex

log = logging.getLogger("herald.cache")


class ClipWriter:
    """One clip being written: ``append`` chunks as they arrive, then ``commit`` or
    ``abort``. As a context manager, leaving without ``commit`` aborts.

    Memory stays bounded: chunks go straight to the temp file. I/O errors are
    reported once by the index and make the writer discard the clip; they never
    propagate, so teeing audio into the cache cannot disturb playback.
    """

    def __init__(
        self,
        index: ClipIndex,
        key: str,
        meta: ClipMeta,
        path: Path,
        tmp: Path | None,
        f: BinaryIO | None,
        meta_bytes: bytes,
    ) -> None:
        self.key = key
        self.meta = meta
        self._index = index
        self._path = path
        self._tmp = tmp
        self._f = f
        self._meta_bytes = meta_bytes
        self._sha = hashlib.sha256()
        self._payload_len = 0
        self._state = "open" if f is not None else "failed"

    @property
    def state(self) -> str:
        """ "open", "committed", "aborted", "rejected" or "failed"."""
        return self._state

    @property
    def payload_len(self) -> int:
        return self._payload_len

    def write_placeholder(self, header: bytes) -> None:
        """The header's space and the metadata, first: the header is written last."""
        self._write(header)

    def _write(self, data: bytes) -> None:
        if self._f is None:
            return
        try:
            self._f.write(data)
        except OSError as exc:
            self._index.report_write_error(exc)
            self._discard("failed")

    def append(self, pcm: bytes) -> None:
        """Add audio; ignored once the writer is closed or failed."""
        if self._f is None:
            return
        self._payload_len += len(pcm)
        size = FIXED_HEADER_SIZE + len(self._meta_bytes) + self._payload_len
        if size > self._index.max_bytes:
            self._reject(f"larger than the cache ({self._index.max_bytes} bytes)")
            return
        if self._payload_len > MAX_PAYLOAD_BYTES:
            self._reject(f"larger than a clip may be ({MAX_PAYLOAD_BYTES} bytes)")
            return
        self._sha.update(pcm)
        self._write(pcm)

    def commit(self) -> bool:
        """Store the clip, durably, if it is whole; True if it was stored.

        Call only when the audio is complete (Cartesia's done received). Empty audio,
        or audio that does not end on a whole sample, is refused.
        """
        if self._f is None or self._tmp is None:
            return False
        width = sample_width(self.meta.encoding)
        if self._payload_len == 0:
            self._reject("no audio")
            return False
        if self._payload_len % width:
            self._reject(f"{self._payload_len} bytes is not a whole number of samples")
            return False
        f = self._f
        header = pack_header(
            self._meta_bytes,
            self.meta.sample_rate,
            self.meta.encoding,
            self._payload_len,
            self._sha.digest(),
        )
        size = len(header) + len(self._meta_bytes) + self._payload_len
        try:
            f.seek(0)
            f.write(header)
            f.flush()
            os.fsync(f.fileno())
            f.close()
            self._f = None
            tmp, path = self._tmp, self._path
            self._index.commit(self.key, size, lambda: os.replace(tmp, path))
        except OSError as exc:
            self._index.report_write_error(exc)
            self._discard("failed")
            return False
        self._state = "committed"
        try:
            fsync_dir(self._index.dir)
        except OSError as exc:  # the clip is whole; only the rename may not be durable yet
            log.warning("clip cache: fsync of %s failed: %s", self._index.dir, exc)
        return True

    def abort(self) -> None:
        """Discard the clip (interrupted or failed audio): nothing is stored."""
        if self._state == "open":
            self._index.count("aborted")
            self._discard("aborted")

    def _reject(self, reason: str) -> None:
        log.info("clip cache: not storing clip %s: %s", self.key[:12], reason)
        self._index.count("rejected")
        self._discard("rejected")

    def _discard(self, state: str) -> None:
        f, self._f = self._f, None
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
        if self._tmp is not None:
            unlink_logged(self._tmp)
        self._state = state

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()
