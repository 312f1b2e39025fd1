"""pytest fixtures for end-to-end tests of `herald run` (a plugin, see conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from cartesia_emulator import Emulator
from daemon_harness import RUNNING, Herald, Observer, start_online
from mosquitto import Mosquitto


@pytest.fixture(autouse=True)
def kill_leftover_heralds() -> Iterator[None]:
    """A test that fails half-way must not leave a `herald run` process behind."""
    yield
    while RUNNING:
        RUNNING.pop().kill_from_outside_trio()


@pytest.fixture
async def observer(mosquitto: Mosquitto, nursery: trio.Nursery) -> Observer:
    """Everything published under herald/#, read by a real mosquitto_sub."""
    obs = Observer(mosquitto)
    await nursery.start(obs.run)
    return obs


@pytest.fixture
async def herald(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> AsyncIterator[Herald]:
    """A `herald run` process (device "kitchen"), online; killed after the test."""
    h = await start_online(Herald(tmp_path, mosquitto, emulator), observer)
    try:
        yield h
    finally:
        h.kill()
