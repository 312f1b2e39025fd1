"""A speech rig for component tests: the real CartesiaClient over a real loopback
WebSocket to the emulator, a real Player on a simulated card, a recorder of what the
producer fed, and a deterministic stand-in for Piper. Everything runs on MockClock."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import trio

from cartesia_emulator import Emulator, synth_pcm
from herald.audio import Player
from herald.audio.sim_sink import SimDevice
from herald.audio.stream import Stream
from herald.cache import ClipCache
from herald.cartesia.client import CartesiaClient, CloudState, Tuning
from herald.cartesia.ws_adapter import TrioWsConnector
from herald.secret import Secret
from herald.sounds.clips import Clips
from herald.speech import Production as Utterance
from herald.speech import Sources, SpeechFailed, produce
from herald.speech.feed import TextFeed
from herald.voice import VoiceParams

RATE = 24000
VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
PARAMS = VoiceParams(model="sonic-3", voice=VOICE, language="en", sample_rate=RATE)
TEXT = (
    "Good morning! The forecast for today: sunny spells, a light breeze from the west, "
    "and a high of nineteen degrees. Your first meeting starts at half past nine; "
    "the train leaves in forty minutes, so there is time for coffee."
)


def tokens(text: str) -> list[str]:
    """LLM-like tokens: words and marks, each with the whitespace before it."""
    out = re.findall(r"\s*(?:\w+|[^\w\s])|\s+$", text)
    assert "".join(out) == text
    return out


def chunked(text: str, seed: int = 1) -> list[str]:
    """The text as chunks of 1-3 tokens."""
    rng = random.Random(seed)
    toks = tokens(text)
    chunks: list[str] = []
    while toks:
        n = rng.randint(1, 3)
        chunks.append("".join(toks[:n]))
        del toks[:n]
    return chunks


class Recorder:
    """The real Stream, recording what is fed to it (and what a truncate removed)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.fed = bytearray()
        self.truncated: list[bool] = []

    def feed(self, pcm: bytes) -> None:
        self.fed += pcm
        self.stream.feed(pcm)

    def end(self) -> None:
        self.stream.end()

    def play_local(self) -> None:
        self.stream.play_local()

    def truncate(self, frames: int) -> bool:
        cut = self.stream.truncate(frames)
        self.truncated.append(cut)
        if cut:
            del self.fed[2 * frames :]
        return cut

    def interrupt(self) -> None:
        self.stream.interrupt()


class FakeLocalVoice:
    """A stand-in for Piper: deterministic audio, distinct from the cloud's."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    @property
    def loaded(self) -> bool:
        return True

    @property
    def native_rate(self) -> int | None:
        return RATE

    async def load(self) -> None:
        await trio.lowlevel.checkpoint()

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.texts.append(text)
        await trio.lowlevel.checkpoint()
        yield local_pcm(text)


def local_pcm(text: str) -> bytes:
    return synth_pcm("LOCAL " + text, RATE)


CHIME = Clips(None, RATE).get("chime")


@dataclass
class Rig:
    emulator: Emulator
    client: CartesiaClient
    player: Player
    sources: Sources
    local: FakeLocalVoice
    recorders: list[Recorder] = field(default_factory=list)

    def utterance(
        self,
        feed: TextFeed | None = None,
        text: str | None = None,
        params: VoiceParams = PARAMS,
    ) -> Utterance:
        recorder = Recorder(self.player.open_stream())
        self.recorders.append(recorder)
        return Utterance(text, params, recorder, feed=feed)  # type: ignore[arg-type]

    def requests(self) -> list[dict[str, object]]:
        return [r.msg for r in self.emulator.received if "transcript" in r.msg]


async def start_rig(
    nursery: trio.Nursery,
    emulator: Emulator,
    *,
    key: bool = True,
    cache: ClipCache | None = None,
    with_local: bool = True,
    tuning: Tuning | None = None,
) -> Rig:
    connector = (
        TrioWsConnector(emulator.ws_url, Secret("sk_car_test"), "2025-04-16") if key else None
    )
    client = CartesiaClient(connector, tuning=tuning or Tuning(), rng=random.Random(7))
    await nursery.start(client.run)
    if key:
        await client.status.wait_until(lambda s: s.state is CloudState.ONLINE)
    player = Player(SimDevice(), RATE, rng=random.Random(7))
    await nursery.start(player.run)
    local = FakeLocalVoice()
    clips = Clips(None, RATE)
    clips.get("chime")  # loaded now, not in a worker thread mid-test
    sources = Sources(client, clips, cache=cache, local=local if with_local else None)
    return Rig(emulator, client, player, sources, local)


@dataclass
class Outcome:
    utt: Utterance
    recorder: Recorder
    error: SpeechFailed | None
    started_at: float  # when the first chunk came
    closed_at: float | None  # when the final chunk was added
    ended_at: float  # when produce returned or raised


async def speak_stream(
    rig: Rig,
    chunks: Sequence[str],
    *,
    every: float = 0.05,
    final: bool = True,
    idle: float = 5.0,
    pauses: dict[int, float] | None = None,
) -> Outcome:
    """Stream ``chunks`` (the first at once, then one every ``every`` s, and
    ``pauses[i]`` s more before chunk i) into one produce(), as the router would;
    returns once the stream has played out."""
    started_at = trio.current_time()
    feed = TextFeed(idle)
    if chunks:
        feed.add(chunks[0])
    utt = rig.utterance(feed)
    recorder = rig.recorders[-1]
    closed_at: list[float] = []

    async def write() -> None:
        for i, chunk in enumerate(chunks[1:], 1):
            await trio.sleep(every + (pauses or {}).get(i, 0.0))
            feed.add(chunk)
        if final:
            await trio.sleep(every)
            feed.close()
            closed_at.append(trio.current_time())

    error: SpeechFailed | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        try:
            await produce(rig.sources, utt)
        except SpeechFailed as exc:
            error = exc
            recorder.end()
        ended_at = trio.current_time()
        nursery.cancel_scope.cancel()
    metrics = await recorder.stream.wait_done()
    assert not metrics.interrupted
    return Outcome(utt, recorder, error, started_at, closed_at[0] if closed_at else None, ended_at)
