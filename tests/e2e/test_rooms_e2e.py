"""Rooms in sync: two `herald run` processes on one broker, one group say with `at`.

Each daemon plays into its own ALSA `file:` sink; `SinkTimeline` watches both files
grow and tells when each one's first sound reached its DAC (see sink_timeline.py for
the method). The requirement: the two first sounds are at most 5 ms apart.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from cartesia_emulator import Emulator
from daemon_harness import Herald, Observer, expected, publish, start_online, stop_cleanly
from mosquitto import Mosquitto
from sink_timeline import SinkTimeline

RATE = 24000
TOLERANCE = 0.005
TEXT = "Dinner is ready, everyone."


def room(tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, device: str) -> Herald:
    herald = Herald(tmp_path, mosquitto, emulator, device=device)
    text = herald.config.read_text().replace("[device]\n", '[device]\ngroups = ["everywhere"]\n', 1)
    herald.config.write_text(text)
    return herald


@pytest.mark.parametrize("run", range(3))
async def test_two_rooms_start_an_announcement_together(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer, run: int
) -> None:
    rooms = [room(tmp_path, mosquitto, emulator, d) for d in ("kitchen", "hall")]
    for herald in rooms:
        await start_online(herald, observer)
    try:
        with SinkTimeline([h.raw for h in rooms], rate=RATE) as timeline:
            at = time.time() + 1.5
            await publish(
                mosquitto,
                "herald/group/everywhere/say",
                {"id": f"sync{run}", "text": TEXT, "at": round(at * 1000)},
            )
            for herald in rooms:
                await observer.wait_event(f"sync{run}", "finished", device=herald.device)
            await trio.sleep(0.3)  # the fit wants bursts after the first sound too
        first = [timeline.first_sound(h.raw) for h in rooms]
        apart = abs(first[0].monotonic - first[1].monotonic)
        print(f"run {run}: first sounds {apart * 1000:.2f} ms apart")
        assert apart <= TOLERANCE
        # That the first sample lands on the frame that reaches the DAC at `at` is
        # tested exactly on MockClock (tests/audio/test_start_at.py).
    finally:
        for herald in rooms:
            assert await stop_cleanly(herald) == 0
    for herald in rooms:
        assert herald.captured() == expected(TEXT)


async def test_an_at_in_the_past_plays_at_once(
    tmp_path: Path, herald: Herald, mosquitto: Mosquitto, observer: Observer
) -> None:
    await publish(
        mosquitto,
        "herald/kitchen/say",
        {"id": "late", "text": "Better late.", "at": round((time.time() - 5) * 1000)},
    )
    await observer.wait_event("late", "finished")
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("Better late.")
