"""The settings a household changes at runtime: volume, mute, voice; the gate that
decides, when an utterance is about to start, whether and how loud it plays; and the
player's volume, which only this class writes.

Changed from MQTT, Home Assistant and the buttons; saved to the state file (debounced,
atomically, in a worker thread) so that they survive restarts and power cuts.

Mute is do-not-disturb: normal-priority says are dropped (reason ``muted``), while
high-priority ones (the doorbell) still play. Quiet hours lower or drop normal-priority
says inside their windows; high-priority ones play at the device volume.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import trio

from herald.audio import Player
from herald.commands import Priority
from herald.control.quiet_hours import QuietHours
from herald.control.state_file import SavedState, initial_volume, load_state, save_state
from herald.observable import Observable

log = logging.getLogger("herald.controls")

VOLUME_STEP = 10  # a button's volume_up / volume_down
SAVE_DELAY = 1.0  # a slider sends many values: save the last one, once


@dataclass(frozen=True, slots=True)
class Gate:
    """What to do with an utterance about to start."""

    play: bool
    reason: str | None = None  # why it is dropped
    volume: int | None = None  # a cap on its volume (quiet hours)


class Settings:
    def __init__(
        self,
        player: Player,
        *,
        config_volume: int,
        voices: dict[str, str],
        default_voice: str,
        quiet: QuietHours,
        state_path: Path | None,
        local_time: Callable[[], dt.time] = lambda: dt.datetime.now().time(),
    ) -> None:
        self._player = player
        self._config_volume = config_volume
        self._voices = voices
        self._quiet = quiet
        self._path = state_path
        self._local_time = local_time
        saved = load_state(state_path) if state_path is not None else None
        voice = saved.voice if saved is not None and saved.voice in voices else None
        self.volume = Observable(initial_volume(saved, config_volume))
        self.mute = Observable(saved.mute if saved is not None else False)
        # A configured voice name; None: the config's `cartesia.voice`.
        self.voice = Observable[str | None](voice)
        self._default_voice = default_voice
        self._dirty = trio.Event()
        # While a say plays: its own volume, and the quiet-hours cap on it.
        self._say_volume: int | None = None
        self._cap: int | None = None
        self._apply_volume()
        if saved is not None:
            log.info(
                "restored volume %d, mute %s, voice %s",
                self.volume.value,
                "on" if self.mute.value else "off",
                voice or "(config)",
            )

    # --- changes ----------------------------------------------------------------

    def set_volume(self, volume: int) -> None:
        volume = max(0, min(100, volume))
        self.volume.set(volume)
        self._apply_volume()
        log.info("volume %d", volume)
        self._dirty.set()

    def step_volume(self, steps: int) -> None:
        self.set_volume(self.volume.value + steps * VOLUME_STEP)

    def set_mute(self, mute: bool) -> None:
        self.mute.set(mute)
        log.info("mute %s", "on" if mute else "off")
        self._dirty.set()

    def set_voice(self, name: str) -> None:
        """A name of cartesia.voices; the caller has checked it."""
        self.voice.set(name)
        log.info("voice %s", name)
        self._dirty.set()

    # --- the player's volume ------------------------------------------------------

    @contextlib.contextmanager
    def playing(self, volume: int | None, cap: int | None) -> Iterator[None]:
        """While a say plays: its own ``volume`` (None: the device volume), at most
        ``cap`` (quiet hours). A volume change meanwhile changes the device volume,
        and the say follows it only where it set none of its own; the cap holds."""
        self._say_volume, self._cap = volume, cap
        self._apply_volume()
        try:
            yield
        finally:
            self._say_volume = self._cap = None
            self._apply_volume()

    def _apply_volume(self) -> None:
        wanted = self._say_volume if self._say_volume is not None else self.volume.value
        if self._cap is not None:
            wanted = min(wanted, self._cap)
        self._player.set_volume(wanted)

    # --- reading ----------------------------------------------------------------

    def resolve_voice(self, voice: str | None) -> str:
        """The voice id for a say's `voice` (a configured name, an id, or None: the current)."""
        if voice is not None:
            return self._voices.get(voice, voice)
        name = self.voice.value
        return self._voices[name] if name is not None else self._default_voice

    @property
    def voice_name(self) -> str | None:
        """The current voice's name in cartesia.voices, if it has one."""
        if self.voice.value is not None:
            return self.voice.value
        return next((n for n, id in self._voices.items() if id == self._default_voice), None)

    def gate(self, priority: Priority, volume: int | None) -> Gate:
        """Whether (and at what volume cap) an utterance starting now plays."""
        if priority == "high":
            return Gate(True)
        if self.mute.value:
            return Gate(False, "muted")
        current = volume if volume is not None else self.volume.value
        decision = self._quiet.decide(priority, self._local_time(), current)
        if not decision.play:
            return Gate(False, "quiet_hours")
        return Gate(True, volume=decision.volume)

    # --- persistence ------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Save the settings after each change (the last of a burst), until cancelled."""
        task_status.started()
        if self._path is None:
            return
        while True:
            await self._dirty.wait()
            await trio.sleep(SAVE_DELAY)
            self._dirty = trio.Event()
            await self._save()

    async def flush(self) -> None:
        """Save now if a change is still waiting (a stop must not lose it)."""
        if self._dirty.is_set():
            self._dirty = trio.Event()
            await self._save()

    async def _save(self) -> None:
        assert self._path is not None
        state = SavedState(
            volume=self.volume.value,
            mute=self.mute.value,
            voice=self.voice.value,
            config_volume=self._config_volume,
        )
        try:
            await trio.to_thread.run_sync(save_state, self._path, state)
        except OSError as exc:
            log.error("cannot save settings to %s: %s", self._path, exc.strerror or exc)
