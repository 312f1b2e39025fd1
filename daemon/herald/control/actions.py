"""What herald can be asked to do, written once for every front end: MQTT (the router),
the buttons, Hermes, and any later one (Home Assistant's ESPHome API).

Each action is synchronous and never blocks: it changes the runtime settings or hands a
say to the speaker, whose queue decides when it plays. A front end maps its input to
one of these and reports what comes back (a `False` from `replay`, say, is a rejected
MQTT command but only a log line for a button).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

import trio

from herald.commands import SayCommand, new_id
from herald.config.button_actions import Action
from herald.control.settings import Settings
from herald.control.speaker import Job, Speaker
from herald.speech.feed import TextFeed

__all__ = ["Accept", "Actions", "StreamChunkResult"]

log = logging.getLogger("herald.actions")

StreamChunkResult = Literal["added", "started", "late"]

# How a front end acknowledges a say it accepted: () -> (what to run when the say has
# ended, what to run when it starts playing). See `herald.control.journal`.
Accept = Callable[[], tuple[list[Callable[[], None]], Callable[[], None] | None]]


class Actions:
    def __init__(
        self,
        speaker: Speaker,
        settings: Settings,
        *,
        voices: Sequence[str] = (),
        stream_idle: float = 10.0,
    ) -> None:
        self._speaker = speaker
        self._settings = settings
        self.voices = tuple(voices)  # the names of cartesia.voices
        self._stream_idle = stream_idle

    # --- speaking ---

    def say(
        self,
        cmd: SayCommand,
        acks: Sequence[Callable[[], None]] = (),
        *,
        on_start: Callable[[], None] | None = None,
        age: float = 0.0,
    ) -> None:
        """Queue a say; each of ``acks`` runs once it has ended, ``on_start`` when it
        starts playing. ``age``: seconds since it first arrived (a say from the journal
        at start), which its ttl counts too."""
        arrived = trio.current_time() - max(0.0, age)
        self._speaker.submit(Job(cmd, arrived, list(acks), on_start=on_start))

    def stream_chunk(self, id: str, text: str, final: bool) -> StreamChunkResult:
        """A chunk of a streamed say: added to it, or the start of a new one; "late"
        for a chunk of a stream that has ended (it is ignored)."""
        if self._speaker.feed_stream(id, text, final):
            return "added"
        if self._speaker.handled(id):
            log.info("stream %s has ended: a late chunk was ignored", id)
            return "late"
        feed = TextFeed(self._stream_idle)
        if text:
            feed.add(text)
        if final:
            feed.close()
        self._speaker.submit(Job(SayCommand(text=None, id=id), trio.current_time(), feed=feed))
        return "started"

    def stop(self, id: str | None = None) -> None:
        """Stop everything (and drop the queue), or the say ``id``."""
        self._speaker.stop(id)

    def replay(self) -> bool:
        """Say the last utterance again, before queued normal ones; False if none yet."""
        return self._speaker.replay()

    # --- settings ---

    def set_volume(self, volume: int) -> None:
        self._settings.set_volume(volume)

    def step_volume(self, steps: int) -> None:
        self._settings.step_volume(steps)

    def set_mute(self, mute: bool) -> None:
        """Mute is do-not-disturb: it also drops the queued normal-priority says and
        cuts one that plays (high-priority ones still play)."""
        self._settings.set_mute(mute)
        if mute:
            self._speaker.drop_normal("muted")

    def toggle_mute(self) -> None:
        self.set_mute(not self._settings.mute.value)

    def set_voice(self, name: str) -> bool:
        """Speak with the named voice from now on; False if it is not configured."""
        if name not in self.voices:
            return False
        self._settings.set_voice(name)
        return True

    # --- a button's action (config [[buttons]]) ---

    def perform(self, action: Action, *, source: str) -> None:
        """A configured action: one of the commands, or a say (high priority: a person
        is standing at the button)."""
        if action == "stop":
            self.stop()
        elif action == "replay":
            if not self.replay():
                log.info("%s: nothing to replay yet", source)
        elif action == "volume_up":
            self.step_volume(1)
        elif action == "volume_down":
            self.step_volume(-1)
        elif action == "mute":
            self.toggle_mute()
        elif not isinstance(action, str):
            cmd = SayCommand(text=action.say, clip=action.clip, id=new_id(), priority="high")
            self.say(cmd)
