"""The speaker as Home Assistant drives it over the ESPHome API: herald's
implementation of `herald.esphome.port.SpeakerPort`, a thin layer over the actions,
the runtime settings and the speaker queue.

Every say or media job from here is tagged ``origin: esphome`` in its MQTT events.
An announcement is high priority (before queued normal says, as a doorbell press).
Volume and mute are the ones MQTT, the buttons and the state file share.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import trio

from herald.commands import SayCommand, new_id
from herald.control.actions import Actions
from herald.control.settings import Settings
from herald.control.speaker import Job, Speaker, SpeakerState
from herald.esphome.port import AnnounceOutcome, Playback
from herald.observable import Observable

__all__ = ["EsphomeSpeaker"]

ORIGIN = "esphome"


def _playback(state: SpeakerState) -> Playback:
    if not state.speaking:
        return Playback.IDLE
    return Playback.ANNOUNCING if state.announcing else Playback.PLAYING


class EsphomeSpeaker:
    def __init__(self, actions: Actions, settings: Settings, speaker: Speaker) -> None:
        self._actions = actions
        self._settings = settings
        self._speaker = speaker
        self._playback = Observable(_playback(speaker.state.value))

    @property
    def volume(self) -> Observable[int]:
        return self._settings.volume

    @property
    def muted(self) -> Observable[bool]:
        return self._settings.mute

    @property
    def playback(self) -> Observable[Playback]:
        return self._playback

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the speaker's state for the media player entity."""
        task_status.started()
        while True:
            seen = self._speaker.state.value
            self._playback.set(_playback(seen))
            await self._speaker.state.wait_until(functools.partial(operator.ne, seen))

    async def announce(
        self, text: str | None, media_url: str | None, preannounce_url: str | None
    ) -> AnnounceOutcome:
        ended = trio.Event()
        outcome: list[AnnounceOutcome] = []

        def on_end(event: str, detail: dict[str, Any]) -> None:
            reason = detail.get("error") or detail.get("reason") or ""
            outcome.append(AnnounceOutcome(event == "finished", event, str(reason)))
            ended.set()

        cmd = SayCommand(text=text, id=new_id(), priority="high")
        job = Job(
            cmd,
            trio.current_time(),
            media_url=None if text else media_url,
            prelude_url=preannounce_url,
            announce=True,
            origin=ORIGIN,
            on_end=on_end,
        )
        if text is None and media_url is None:
            return AnnounceOutcome(False, "rejected", "an announcement needs a message or a URL")
        self._speaker.submit(job)
        # Cancelling this wait (Home Assistant went away) leaves the announcement queued.
        await ended.wait()
        return outcome[0]

    def play_media(self, url: str, *, announce: bool) -> None:
        cmd = SayCommand(text=None, id=new_id(), priority="high" if announce else "normal")
        job = Job(cmd, trio.current_time(), media_url=url, announce=announce, origin=ORIGIN)
        self._speaker.submit(job)

    def stop(self) -> None:
        self._actions.stop()

    def set_volume(self, volume: int) -> None:
        self._actions.set_volume(volume)

    def step_volume(self, steps: int) -> None:
        self._actions.step_volume(steps)

    def set_mute(self, mute: bool) -> None:
        self._actions.set_mute(mute)
