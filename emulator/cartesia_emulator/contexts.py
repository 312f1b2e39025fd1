"""One TTS context: its buffered text, and the task that turns it into messages."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Protocol

import trio

from .audio import split_complete, tone_samples, word_pcm
from .codecs import encode_pcm
from .errors import ApiError, title_for
from .faults import Faults
from .mailbox import Mailbox
from .validation import Synthesis

STATUS_PARTIAL = 206  # every non-error TTS WS message carries 206 in the docs


@dataclass(frozen=True)
class Segment:
    """Work from one push: the words it completed, then an optional flush and end."""

    words: tuple[str, ...]
    flush: bool = False
    end: bool = False


Frame = dict[str, object] | str  # a message, or raw JSON text sent as it is


class Output(Protocol):
    """What a context's generator needs from its connection."""

    @property
    def faults(self) -> Faults: ...

    async def emit(self, ctx: Context, msg: Frame) -> None: ...

    def fail(self, ctx: Context, err: ApiError) -> None: ...

    def finished(self, ctx: Context) -> None: ...


def deep_frame(context_id: str, depth: int) -> str:
    """A ``chunk`` frame whose ``data`` nests ``depth`` arrays: built as text, since
    json.dumps itself would overflow the recursion limit."""
    head = json.dumps({"type": "chunk", "done": False, "status_code": STATUS_PARTIAL})
    return f'{head[:-1]}, "context_id": {json.dumps(context_id)}, "data": ' + (
        "[" * depth + "]" * depth + "}"
    )


class Context:
    """State of one context_id on one socket.

    Text is concatenated verbatim; each push that completes words queues a
    Segment, and the generator task turns segments into chunk, timestamps,
    flush_done and done messages in input order.
    """

    def __init__(
        self, context_id: str, synthesis: Synthesis, *, timestamps: bool, phonemes: bool
    ) -> None:
        self.id = context_id
        self.synthesis = synthesis
        self.timestamps = timestamps
        self.phonemes = phonemes
        self.pending = ""  # the open partial word
        self.input_closed = False
        self.silenced = False  # cancelled: queued output is dropped, nothing more is sent
        self.segments: Mailbox[Segment] = Mailbox()
        self.scope = trio.CancelScope()
        self.flush_id = 1
        self.flushed = False  # flush_id goes on chunks only once a flush has happened
        self.samples_out = 0  # audio sent so far, the timestamps' time base
        self.chunks_sent = 0
        self.audio_bytes = 0  # audio sent, decoded, in the context's encoding
        self.done_sent = False
        self.deep_sent = False

    def feed(self, transcript: str, *, more: bool, flush: bool) -> None:
        """Add one push's text; queue the words it completes."""
        words, self.pending = split_complete(self.pending + transcript, final=flush or not more)
        if words or flush or not more:
            self.segments.put_nowait(Segment(tuple(words), flush=flush, end=not more))
        if not more:
            self.input_closed = True

    def finish_current(self) -> None:
        """Cancel as documented: drop input not yet generating, finish, send done."""
        self.segments.clear()
        self.segments.put_nowait(Segment((), end=True))
        self.input_closed = True

    def silence(self) -> None:
        """Cancel at once: nothing more is sent for this context, not even done."""
        self.silenced = True
        self.input_closed = True
        self.scope.cancel()

    async def run(self, out: Output) -> None:
        """Generate until done, error or cancellation; always reports ``finished``."""
        try:
            with self.scope:
                await self._generate(out)
        finally:
            out.finished(self)

    def _base(self, kind: str, *, done: bool = False) -> dict[str, object]:
        msg: dict[str, object] = {
            "type": kind,
            "done": done,
            "status_code": STATUS_PARTIAL,
            "context_id": self.id,
        }
        if self.flushed and kind in ("chunk", "timestamps", "phoneme_timestamps"):
            msg["flush_id"] = self.flush_id
        return msg

    async def _generate(self, out: Output) -> None:
        fmt = self.synthesis.output_format
        rng = random.Random(f"{out.faults.seed}:{self.id}")
        first = True
        while True:
            segment = await self.segments.get()
            started = trio.current_time()
            pcm = b"".join(word_pcm(word, fmt.sample_rate) for word in segment.words)
            step = 2 * max(1, out.faults.chunk_samples)
            for start in range(0, len(pcm), step):
                faults = out.faults
                if self.chunks_sent == 0:
                    await trio.sleep(faults.ttfb)
                else:
                    jitter = rng.uniform(0.0, faults.chunk_jitter) if faults.chunk_jitter else 0.0
                    await trio.sleep(faults.chunk_delay + jitter)
                failure = out.faults.error_after_chunks
                if failure is not None and self.chunks_sent >= failure[0]:
                    status, message = failure[1], failure[2]
                    out.fail(self, ApiError(status, title_for(status), message, "injected"))
                    return
                audio = encode_pcm(pcm[start : start + step], fmt.encoding)
                await self._emit_chunk(out, audio, started)
            await self._emit_timings(out, segment.words)
            if first:
                first = False
                await self._flood(out, started)
            if segment.flush:
                flush = self._base("flush_done") | {"flush_done": True, "flush_id": self.flush_id}
                await self._emit(out, flush)
                self.flush_id += 1
                self.flushed = True
            if segment.end:
                if not self.done_sent:
                    await self._emit(out, self._base("done", done=True))
                return

    async def _emit(self, out: Output, msg: dict[str, object]) -> None:
        """Every frame of the context goes out through here, past the frame faults."""
        faults = out.faults
        hang = faults.hang_after_chunks
        if hang is not None and self.chunks_sent >= hang:
            await trio.sleep_forever()
        deep = faults.deep_frame_after_chunks
        if deep is not None and not self.deep_sent and self.chunks_sent >= deep:
            self.deep_sent = True
            await out.emit(self, deep_frame(self.id, faults.deep_frame_depth))
        if msg["type"] == "chunk" and faults.done_before_audio and not self.done_sent:
            self.done_sent = True
            await out.emit(self, self._base("done", done=True))
        await out.emit(self, msg)

    async def _emit_chunk(self, out: Output, audio: bytes, started: float) -> None:
        msg = self._base("chunk")
        msg["data"] = base64.b64encode(audio).decode("ascii")
        msg["step_time"] = round((trio.current_time() - started) * 1000.0, 3)
        await self._emit(out, msg)
        self.chunks_sent += 1
        self.audio_bytes += len(audio)

    async def _flood(self, out: Output, started: float) -> None:
        """The flood_audio_bytes fault: filler chunks, undelayed, up to the limit."""
        limit = out.faults.flood_audio_bytes
        if limit is None or self.audio_bytes >= limit:
            return
        fmt = self.synthesis.output_format
        samples = max(1, out.faults.chunk_samples)
        tone = word_pcm("flood", fmt.sample_rate)
        filler = encode_pcm((tone * (samples * 2 // len(tone) + 1))[: samples * 2], fmt.encoding)
        width = len(filler) // samples
        while self.audio_bytes < limit:
            room = (limit - self.audio_bytes + width - 1) // width * width
            sent = self.audio_bytes
            await self._emit_chunk(out, filler[:room], started)
            self.samples_out += (self.audio_bytes - sent) // width

    async def _emit_timings(self, out: Output, words: tuple[str, ...]) -> None:
        """Word (and phoneme) timestamps for a segment, after its chunks, then advance."""
        rate = self.synthesis.output_format.sample_rate
        starts: list[float] = []
        ends: list[float] = []
        phones: list[str] = []
        p_starts: list[float] = []
        p_ends: list[float] = []
        offset = self.samples_out
        for word in words:
            tone = tone_samples(word, rate)
            starts.append(round(offset / rate, 6))
            ends.append(round((offset + tone) / rate, 6))
            # One "phoneme" per character but spaces (a tag may hold some), spread
            # evenly over the tone.
            chars = [ch for ch in word if not ch.isspace()]
            for i, ch in enumerate(chars):
                phones.append(ch)
                p_starts.append(round((offset + tone * i / len(chars)) / rate, 6))
                p_ends.append(round((offset + tone * (i + 1) / len(chars)) / rate, 6))
            offset += len(word_pcm(word, rate)) // 2
        self.samples_out = offset
        if not words:
            return
        if self.timestamps:
            msg = self._base("timestamps")
            msg["word_timestamps"] = {"words": list(words), "start": starts, "end": ends}
            await self._emit(out, msg)
        if self.phonemes:
            msg = self._base("phoneme_timestamps")
            msg["phoneme_timestamps"] = {"phonemes": phones, "start": p_starts, "end": p_ends}
            await self._emit(out, msg)
