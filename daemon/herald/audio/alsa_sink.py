"""The real sink: an ALSA playback PCM through pyalsaaudio (>= 0.11). The only module
that imports alsaaudio.

Opened by name in non-blocking mode (``PCM_NONBLOCK``), S16_LE mono, with an explicit
period and period count, then checked against ``info()``: drivers round, and a ring of
fewer than three periods, or another rate, is refused (`geometry_problem`).

Why non-blocking and paced by the trio clock, not a writer thread. Measured on the
development VM (``bench/sink_cpu.py --compare`` repeats it: 24 kHz mono into
``file:FILE=/dev/null,FORMAT=raw``, the same writes every tick), CPU seconds per
second of audio::

    wake-up interval            10 ms     20 ms     50 ms
    non-blocking, trio.sleep    0.032     0.018     0.007
    to_thread.run_sync(write)   0.063     0.030     0.013
    dedicated thread + queue    0.073     0.037     0.016

(a shared VM: figures move by about 30 % from run to run, the ranking does not.)
A thread costs a wake-up of its own plus a hand-off per write, on top of the trio
wake-up that produces the data: 2-2.5x dearer. A blocking thread also escapes trio's
clock, so MockClock tests could not drive it. Its one advantage, not stalling when the
trio loop stalls, is bought more cheaply with ring fill: while audio plays the writer
keeps the ring (160 ms) full every `PlayerTuning.tick_s` (50 ms), which outlasts a
tick plus a 100 ms stall (herald/audio/fill.py). Blocking opens are avoided too: a
blocking ``snd_pcm_open`` of a busy device waits for it while pyalsaaudio holds the
GIL; non-blocking, it fails at once with EBUSY and is retried with backoff.

Error handling, per pyalsaaudio 0.11: ``write`` returns -EPIPE on an underrun after
re-preparing the stream (the data was not written) and raises ALSAAudioError (no
errno) for anything else; ``avail`` returns a negative errno instead of raising. So:
-EPIPE anywhere is `Underrun` (an xrun seen by ``avail`` is dropped, and the next
write prepares the stream again); -ESTRPIPE (suspended) is handled the same way;
everything else (no device, I/O error, bad fd, a closed handle) is `SinkLost`, and
the player never touches that handle again.

Rewinding (``snd_pcm_rewind``), which pyalsaaudio does not wrap, is called through
ctypes on the handle pyalsaaudio holds (`_Rewind`): it lets a first word or a stop
through the silence or speech queued ahead of it (herald/audio/writer.py). Only a
PCM on a sound card (``info()["card_no"] >= 0``: ``hw:``, ``plughw:``) is rewound:
there the driver's pointer is the DAC's, and what lies beyond it has not been read.
PCMs without a card of their own (``file``, ``null``, and the plugins of sound servers
and mixers: PulseAudio, PipeWire, dmix) read ahead on their own schedule or not at
all, so they keep herald's fill alone. The handle is read from the PCM object's C
struct only for a pyalsaaudio release whose struct was read (0.11), and only after
that struct is shown to be the one expected (its type, mode and
device name as pyalsaaudio reports them, and alsa-lib's own name for the handle);
anything else, or a device that cannot rewind, leaves the sink without rewinding.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import importlib.metadata
import logging
import os
import sys
import sysconfig
from typing import Protocol, cast

import alsaaudio  # type: ignore[import-not-found]  # no stubs: typed through _Pcm below

from herald.audio.sink import Geometry, SinkLost, SinkOpenError, Underrun, geometry_problem

__all__ = ["AlsaDevice", "AlsaSink"]

_AlsaError: type[Exception] = alsaaudio.ALSAAudioError
log = logging.getLogger("herald.audio")


class _Pcm(Protocol):
    """The part of ``alsaaudio.PCM`` used here."""

    def info(self) -> dict[str, object]: ...
    def avail(self) -> int: ...
    def write(self, data: bytes | bytearray | memoryview) -> int: ...
    def drop(self) -> int: ...
    def close(self) -> None: ...
    def cardname(self) -> str: ...


# alsa-lib prints its own diagnostics straight to stderr ("ALSA lib confmisc.c:...
# Cannot get card index"), around herald's one-line errors and log format. Route
# them to herald's log at DEBUG instead, through alsa-lib's documented hook. The
# callback is declared without alsa-lib's trailing varargs: only the format is read.
_ErrorHandler = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)
_handler: object = None


def _route_alsa_lib_messages() -> None:
    global _handler
    if _handler is not None:
        return

    def handler(file: bytes, line: int, function: bytes, err: int, fmt: bytes) -> None:
        log.debug("alsa-lib %s: %s", (function or b"").decode(), (fmt or b"").decode())

    try:
        lib = _libasound()
        _handler = _ErrorHandler(handler)
        lib.snd_lib_error_set_handler(_handler)
    except (OSError, AttributeError):
        _handler = False  # not fatal: the messages just stay on stderr


@functools.cache
def _libasound() -> ctypes.CDLL:
    """alsa-lib, loaded once, with the prototypes of the calls made through ctypes."""
    lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    lib.snd_pcm_name.argtypes = [ctypes.c_void_p]
    lib.snd_pcm_name.restype = ctypes.c_char_p
    lib.snd_pcm_rewindable.argtypes = [ctypes.c_void_p]
    lib.snd_pcm_rewindable.restype = ctypes.c_long
    lib.snd_pcm_rewind.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.snd_pcm_rewind.restype = ctypes.c_long
    return lib


def _pyalsaaudio_version() -> str:
    try:
        return importlib.metadata.version("pyalsaaudio")
    except importlib.metadata.PackageNotFoundError:
        return ""


# The releases whose alsapcm_t starts as below (alsaaudio.c): 0.11.x.
_KNOWN_LAYOUT = _pyalsaaudio_version().startswith("0.11.")


class _PcmObjectHead(ctypes.Structure):
    """The start of pyalsaaudio's ``alsapcm_t`` (alsaaudio.c, 0.11): PyObject_HEAD (of
    a default build: no free-threading, no trace refs), then its fields in order."""

    _fields_ = (
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("pcmtype", ctypes.c_long),
        ("pcmmode", ctypes.c_int),
        ("cardname", ctypes.c_char_p),
        ("handle", ctypes.c_void_p),
    )


class _Rewind:
    """``snd_pcm_rewindable`` / ``snd_pcm_rewind`` on the handle of one pyalsaaudio PCM."""

    def __init__(self, lib: ctypes.CDLL, handle: int) -> None:
        self._rewindable = lib.snd_pcm_rewindable
        self._rewind = lib.snd_pcm_rewind
        self._handle = ctypes.c_void_p(handle)

    @classmethod
    def of(cls, pcm: _Pcm, name: str) -> _Rewind | None:
        """The rewind of ``pcm``, or None where it cannot be had safely."""
        if sysconfig.get_config_var("Py_GIL_DISABLED") or hasattr(sys, "gettotalrefcount"):
            return None  # another PyObject_HEAD: the struct below would not match
        if type(pcm) is not alsaaudio.PCM or not _KNOWN_LAYOUT:
            # Only a release whose struct was read is trusted: reading a pointer from
            # the wrong offset could crash the process, not just fail a check.
            return None
        try:
            lib = _libasound()
            head = _PcmObjectHead.from_address(id(pcm))
            expected = pcm.cardname().encode()
            if (
                head.pcmtype != alsaaudio.PCM_PLAYBACK
                or head.pcmmode != alsaaudio.PCM_NONBLOCK
                or head.cardname != expected
                or not head.handle
                or lib.snd_pcm_name(head.handle) != expected
            ):
                log.debug("no rewind on %r: pyalsaaudio's PCM is not laid out as expected", name)
                return None
            return cls(lib, head.handle)
        except (OSError, AttributeError, _AlsaError, UnicodeError) as exc:
            log.debug("no rewind on %r: %s", name, exc)
            return None

    def rewindable(self) -> int:
        return max(0, int(self._rewindable(self._handle)))

    def rewind(self, frames: int) -> int:
        return max(0, int(self._rewind(self._handle, frames)))


def _open_pcm(name: str, want: Geometry) -> _Pcm:
    _route_alsa_lib_messages()
    return cast(
        _Pcm,
        alsaaudio.PCM(
            type=alsaaudio.PCM_PLAYBACK,
            mode=alsaaudio.PCM_NONBLOCK,
            rate=want.rate,
            channels=1,
            format=alsaaudio.PCM_FORMAT_S16_LE,
            periodsize=want.period_frames,
            periods=round(want.periods),
            device=name,
        ),
    )


def _granted(info: dict[str, object]) -> Geometry:
    def number(key: str) -> int:
        value = info[key]
        if not isinstance(value, int):
            raise TypeError(f"info()[{key!r}] is {value!r}")
        return value

    return Geometry(
        rate=number("rate"),
        period_frames=number("period_size"),
        buffer_frames=number("buffer_size"),
    )


def _on_a_card(info: dict[str, object]) -> bool:
    card = info.get("card_no")
    return isinstance(card, int) and card >= 0


class AlsaDevice:
    """An ALSA PCM by name (``default``, ``plughw:CARD=x,DEV=0``, ``file:FILE=...``)."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def open(self, want: Geometry) -> AlsaSink:
        try:
            pcm = _open_pcm(self._name, want)
        except _AlsaError as exc:
            raise SinkOpenError(str(exc)) from exc
        try:
            info = pcm.info()
            got = _granted(info)
            problem = geometry_problem(want, got)
            if info.get("format_name") != "S16_LE" or info.get("channels") != 1:
                problem = f"format {info.get('format_name')} x {info.get('channels')} channels"
        except (_AlsaError, KeyError, TypeError) as exc:
            problem = f"cannot read the PCM's setup: {exc}"
            got = want
        if problem:
            _close_quietly(pcm)
            raise SinkOpenError(f"unusable setup on {self._name}: {problem}")
        rewind = _Rewind.of(pcm, self._name) if _on_a_card(info) else None
        return AlsaSink(pcm, self._name, got, rewind)


class AlsaSink:
    """One open, non-blocking playback handle. Every method returns at once."""

    def __init__(
        self, pcm: _Pcm, name: str, geometry: Geometry, rewind: _Rewind | None = None
    ) -> None:
        self._pcm = pcm
        self._name = name
        self._geometry = geometry
        self._rewind = rewind
        self._dropped = False  # after an xrun seen by avail(): SETUP until the next write
        self._closed = False

    @property
    def geometry(self) -> Geometry:
        return self._geometry

    @property
    def clocked(self) -> bool | None:
        return None  # the name does not tell (``file:`` may have a card behind it)

    def _lost(self, what: str) -> SinkLost:
        return SinkLost(f"{what} [{self._name}]")

    def avail(self) -> int:
        if self._closed:
            raise self._lost("PCM device is closed")
        if self._dropped:
            return self._geometry.buffer_frames
        try:
            frames = self._pcm.avail()
        except _AlsaError as exc:
            raise SinkLost(str(exc)) from exc
        if frames >= 0:
            return min(frames, self._geometry.buffer_frames)
        if frames in (-errno.EPIPE, -errno.ESTRPIPE):
            # An xrun (or a suspend): drop() moves the stream to SETUP, and the next
            # write() prepares it again and restarts it.
            try:
                self._pcm.drop()
            except _AlsaError as exc:
                raise SinkLost(str(exc)) from exc
            self._dropped = True
            raise Underrun(f"{os.strerror(-frames)} [{self._name}]")
        raise self._lost(os.strerror(-frames))

    def write(self, pcm: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise self._lost("PCM device is closed")
        try:
            frames = self._pcm.write(pcm)
        except _AlsaError as exc:
            raise SinkLost(str(exc)) from exc
        self._dropped = False
        if frames == -errno.EPIPE:
            raise Underrun(f"{os.strerror(errno.EPIPE)} [{self._name}]")
        if frames < 0:
            raise self._lost(os.strerror(-frames))
        return frames

    def rewindable(self) -> int:
        if self._closed:
            raise self._lost("PCM device is closed")
        if self._rewind is None or self._dropped:
            return 0
        # A negative errno (an xrun, a suspend) is for avail() to report: nothing to
        # take back meanwhile.
        return self._rewind.rewindable()

    def rewind(self, frames: int) -> int:
        if self._closed:
            raise self._lost("PCM device is closed")
        if self._rewind is None or self._dropped or frames <= 0:
            return 0
        return self._rewind.rewind(frames)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._rewind = None  # the handle is freed with the PCM
            _close_quietly(self._pcm)


def _close_quietly(pcm: _Pcm) -> None:
    # close() drains playback first; drop() makes that immediate. A dead handle may
    # fail either call, and there is nothing left to do about it then.
    with contextlib.suppress(_AlsaError):
        pcm.drop()
    with contextlib.suppress(_AlsaError):
        pcm.close()
