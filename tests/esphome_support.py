"""Support for the ESPHome server tests: a fake `SpeakerPort` (the server's port, so
faking it is fine), and Home Assistant's client library, aioesphomeapi, run in a
worker thread with its own asyncio loop against herald's trio server.

The client side reaches trio through `Bridge` (trio.from_thread with the test's trio
token, from an executor thread, so the asyncio loop never blocks).
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import trio

from herald.esphome.port import AnnounceOutcome, Playback
from herald.esphome.settings import EsphomeSettings
from herald.observable import Observable
from herald.secret import Secret

T = TypeVar("T")

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()
MAC = "DC:A6:32:01:02:03"
WAIT_S = 15.0  # the longest a step of a client scenario may wait


def settings(**overrides: Any) -> EsphomeSettings:
    values: dict[str, Any] = {
        "name": "herald-kitchen",
        "friendly_name": "Kitchen speaker",
        "mac": MAC,
        "sample_rate": 24000,
        "port": 0,
        "host": "127.0.0.1",
        "buttons": ("doorbell",),
        "advertise": False,
        "version": "0.1.0",
    }
    values.update(overrides)
    if isinstance(values.get("key"), str):
        values["key"] = Secret(values["key"])
    return EsphomeSettings(**values)


class FakeSpeakerPort:
    """Records every call; announce waits for `release` when `hold` is set."""

    def __init__(self) -> None:
        self.volume = Observable(40)
        self.muted = Observable(False)
        self.playback = Observable(Playback.IDLE)
        self.calls: list[tuple[Any, ...]] = []
        self._count = Observable(0)
        self.hold = False
        self._release = trio.Event()
        self.outcome = AnnounceOutcome(True)

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        self._count.set(len(self.calls))

    async def wait_calls(self, n: int) -> list[tuple[Any, ...]]:
        await self._count.wait_until(lambda c: c >= n)
        return list(self.calls)

    def release(self) -> None:
        self._release.set()

    async def announce(
        self, text: str | None, media_url: str | None, preannounce_url: str | None
    ) -> AnnounceOutcome:
        self._record("announce", text, media_url, preannounce_url)
        self.playback.set(Playback.ANNOUNCING)
        try:
            if self.hold:
                await self._release.wait()
        finally:
            self.playback.set(Playback.IDLE)
        return self.outcome

    def play_media(self, url: str, *, announce: bool) -> None:
        self._record("play_media", url, announce)

    def stop(self) -> None:
        self._record("stop")

    def set_volume(self, volume: int) -> None:
        self._record("set_volume", volume)
        self.volume.set(max(0, min(100, volume)))

    def step_volume(self, steps: int) -> None:
        self._record("step_volume", steps)
        self.volume.set(max(0, min(100, self.volume.value + 10 * steps)))

    def set_mute(self, mute: bool) -> None:
        self._record("set_mute", mute)
        self.muted.set(mute)


class Bridge:
    """Calls into trio from the client's asyncio loop without blocking it."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token

    async def run(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        async def bounded() -> T:
            # Bounded on the trio side too: an executor thread stuck in trio would keep
            # asyncio.run from ever returning.
            with trio.fail_after(WAIT_S):
                return await afn(*args)

        call = functools.partial(trio.from_thread.run, bounded, trio_token=self._token)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        call = functools.partial(trio.from_thread.run_sync, fn, *args, trio_token=self._token)
        return await asyncio.get_running_loop().run_in_executor(None, call)


async def run_client(scenario: Callable[[Bridge], Coroutine[Any, Any, T]]) -> T:
    """Run an asyncio ``scenario`` (using aioesphomeapi) in a worker thread."""
    bridge = Bridge(trio.lowlevel.current_trio_token())

    def in_thread() -> T:
        return asyncio.run(asyncio.wait_for(scenario(bridge), timeout=2 * WAIT_S))

    return await trio.to_thread.run_sync(in_thread)
