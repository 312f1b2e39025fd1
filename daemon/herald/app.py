"""`herald run`: the one root nursery, its services, and the lifecycle.

Services, started in dependency order with ``nursery.start``: the Cartesia client,
the audio player, the MQTT client, the speaker, the runtime settings (saved to the
state file), the buttons; then the router (MQTT commands to the speaker), the event,
state and outbox publishers, and the watchdog. SIGTERM/SIGINT stop
everything within 2 s (fade out, ``offline`` on availability, WebSocket closed
with 1000); SIGHUP re-reads the config and, if it is valid, restarts the services
in-process (see the README); an invalid new config is logged and ignored.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from herald import __version__
from herald.audio import AlsaDevice, Player, SinkDevice
from herald.buttons import Action, Buttons, Press
from herald.cache import ClipCache
from herald.cartesia.client import CartesiaClient, CloudState, CloudStatus
from herald.cartesia.ws_adapter import TrioWsConnector
from herald.commands import SayCommand, new_id
from herald.config import Config, ConfigError, load_config
from herald.control.router import Outgoing, Router, Topics
from herald.control.settings import Controls
from herald.control.speaker import Job, Speaker, SpeakerState, SpeakEvent
from herald.homeassistant.discovery import birth_topic, discovery_messages
from herald.local_voice import LocalVoiceError, PiperVoice
from herald.mqtt import Broker, MqttClient, MqttSettings
from herald.observable import Observable
from herald.sdnotify import Notifier
from herald.sounds.clips import Clips
from herald.speech.fallback import Sources
from herald.speech.voicing import PlainTextVoice, Voicing
from herald.speech.voicing import voice_defaults as voice_defaults  # moved; tests import it here

log = logging.getLogger("herald")

READY_TIMEOUT = 20.0  # READY=1 after this even if broker or audio are not up (degraded)
SHUTDOWN_BUDGET = 1.5  # seconds for the graceful part of a stop (2 s in all)


class Daemon:
    """One configuration's worth of services; rebuilt on SIGHUP."""

    def __init__(
        self,
        cfg: Config,
        notifier: Notifier,
        *,
        device: SinkDevice | None = None,
        broker: Broker | None = None,
        pin_factory: Any = None,
    ) -> None:
        self.cfg = cfg
        self.notifier = notifier
        self.topics = Topics(
            cfg.mqtt.topic_prefix,
            cfg.device.id,
            groups=cfg.device.groups,
            hermes=cfg.mqtt.hermes,
            birth=birth_topic(cfg.mqtt.discovery_prefix) if cfg.mqtt.discovery else None,
        )
        key = cfg.cartesia_api_key
        connector = TrioWsConnector(cfg.cartesia.url, key, cfg.cartesia.version) if key else None
        self.client = CartesiaClient(connector)
        self.player = Player(
            device or AlsaDevice(cfg.audio.device), cfg.audio.sample_rate, volume=cfg.audio.volume
        )
        self.controls = Controls(
            self.player,
            config_volume=cfg.audio.volume,
            voices=cfg.cartesia.voice_ids,
            default_voice=cfg.cartesia.voice_id(cfg.cartesia.voice),
            quiet=cfg.quiet_hours.policy(),
            state_path=Path(cfg.device.state_file),
        )
        self.discovery = self._discovery_messages()
        self.mqtt: Broker = broker or MqttClient(
            MqttSettings.from_config(cfg),
            self.topics.subscriptions(),
            online_messages=[(self.topics.availability, "online", True), *self.discovery],
        )
        self._events_in, self._events_out = trio.open_memory_channel[SpeakEvent](1024)
        self._outbox_in, self._outbox_out = trio.open_memory_channel[Outgoing](1024)
        self._republish_state = trio.Event()
        self.last_latency_ms = Observable[float | None](None)
        self.sources = Sources(
            self.client,
            Clips(Path(cfg.clips.dir), cfg.audio.sample_rate),
            cache=None,  # opened in run(): its first scan touches the disk
            local=_plain_text(_local_voice(cfg)),
            cloud_timeout=cfg.offline.cloud_timeout,
            chime_while_waiting=cfg.clips.chime_while_waiting,
        )
        self.speaker = Speaker(
            self.sources,
            self.player,
            voice_defaults(cfg),
            self._events_in,
            self.controls,
            voicing=Voicing.from_config(cfg),
        )
        self._stopping = False
        self.router = Router(
            self.topics,
            self.mqtt,
            self.speaker,
            self.controls,
            self._events_in,
            self._outbox_in,
            voices=list(cfg.cartesia.voice_ids),
            stream_idle=cfg.stream.idle_timeout,
            on_birth=self._on_birth,
        )
        self.buttons = Buttons(cfg.buttons, self._on_press, pin_factory=pin_factory)

    def _discovery_messages(self) -> list[tuple[str, str, bool]]:
        cfg = self.cfg
        if not cfg.mqtt.discovery:
            return []
        messages = discovery_messages(
            cfg.mqtt.topic_prefix,
            cfg.mqtt.discovery_prefix,
            cfg.device.id,
            version=__version__,
            voices=list(cfg.cartesia.voice_ids),
            buttons=[button.name for button in cfg.buttons],
        )
        return [(topic, payload, True) for topic, payload in messages]

    def _on_birth(self) -> None:
        # Home Assistant restarted: its birth message is not retained, so announce the
        # entities and the current state again.
        for message in self.discovery:
            self._send(message)
        self._republish_state.set()

    def _on_press(self, button: str, press: Press, action: Action | None) -> None:
        self._send((self.topics.button, json.dumps({"button": button, "press": press}), False))
        if action is None:
            return
        if action == "stop":
            self.speaker.stop()
        elif action == "replay":
            if not self.speaker.replay():
                log.info("button %s: nothing to replay yet", button)
        elif action == "volume_up":
            self.controls.step_volume(1)
        elif action == "volume_down":
            self.controls.step_volume(-1)
        elif action == "mute":
            self.router.set_mute(not self.controls.mute.value)
        elif not isinstance(action, str):
            # A person at the button: before queued normal says.
            cmd = SayCommand(text=action.say, clip=action.clip, id=new_id(), priority="high")
            self.speaker.submit(Job(cmd, trio.current_time()))

    def _send(self, message: Outgoing) -> None:
        try:
            self._outbox_in.send_nowait(message)
        except trio.WouldBlock:
            log.error("outgoing queue full: a message to %s was not published", message[0])

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.sources.cache = await trio.to_thread.run_sync(ClipCache.from_config, self.cfg.cache)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.client.run)
            # After the client has started: before, its status reads "offline".
            nursery.start_soon(self._ready_local_voice)
            await nursery.start(self.player.run)
            await nursery.start(self.mqtt.run)
            await nursery.start(self.speaker.run)
            await nursery.start(self.controls.run)
            await nursery.start(self.buttons.run)
            nursery.start_soon(self.router.run)
            nursery.start_soon(self._publish_events)
            nursery.start_soon(self._publish_state)
            nursery.start_soon(self._publish_outbox)
            await self._wait_ready()
            nursery.start_soon(self._watchdog)
            task_status.started()

    async def _ready_local_voice(self) -> None:
        """Load the local voice at start if configured, else as soon as the cloud goes
        offline, so that a fallback does not also wait for Piper to load."""
        local = self.sources.local
        if local is None:
            return
        if not self.cfg.offline.preload:
            await self.client.status.wait_until(
                lambda s: s.state is CloudState.OFFLINE and not self._stopping
            )
        try:
            await local.load()
            log.info("local voice loaded")
        except LocalVoiceError as exc:
            log.error("%s", exc)

    async def _wait_ready(self) -> None:
        with trio.move_on_after(READY_TIMEOUT):
            await self.mqtt.connected.wait_until(bool)
            await self.player.status.wait_until(lambda s: s.ok)
        problems = []
        if not self.mqtt.connected.value:
            problems.append(f"broker {self.cfg.mqtt.host}:{self.cfg.mqtt.port} not reachable")
        if not self.player.status.value.ok:
            problems.append(str(self.player.status.value))
        status = "degraded: " + "; ".join(problems) if problems else "ready"
        log.info("herald %s (device %s)", status, self.cfg.device.id)
        self.notifier.ready(status)

    async def shutdown(self, *, offline: bool = True) -> None:
        """The graceful part of a stop: fade out, availability offline, sockets closed.

        ``offline=False`` (a reload) disconnects without announcing offline, since the
        services come straight back. Nothing queued or playing is acknowledged: the
        broker redelivers it to the next run."""
        self._stopping = True
        self.speaker.halt()
        final = [(self.topics.availability, "offline", True)] if offline else []
        with trio.move_on_after(SHUTDOWN_BUDGET):
            await self.controls.flush()
            await self._flush_events()
            await self.mqtt.shutdown(final)
            await self.client.aclose()

    async def _flush_events(self) -> None:
        # Publish the interrupted events the stop produced before disconnecting.
        while True:
            try:
                event = self._events_out.receive_nowait()
            except trio.WouldBlock:
                return
            await self._publish_event(event)

    async def _publish_events(self) -> None:
        async for event in self._events_out:
            await self._publish_event(event)

    async def _publish_event(self, event: SpeakEvent) -> None:
        if event.event == "started" and "latency_ms" in event.detail:
            self.last_latency_ms.set(event.detail["latency_ms"])
        await self.mqtt.publish(self.topics.event, json.dumps(event.payload()), qos=1)

    async def _publish_outbox(self) -> None:
        async for topic, payload, retain in self._outbox_out:
            await self.mqtt.publish(topic, payload, qos=1, retain=retain)

    async def _publish_state(self) -> None:
        last: dict[str, Any] | None = None
        was_connected = False
        watched: list[Observable[Any]] = [
            self.speaker.state,
            self.client.status,
            self.controls.volume,
            self.controls.mute,
            self.controls.voice,
            self.last_latency_ms,
            self.mqtt.connected,
        ]
        while True:
            # The values the state is made of, before the publish below yields: a
            # change while it is on its way is then still seen, not lost.
            seen = [o.value for o in watched]
            state = self._state()
            connected = self.mqtt.connected.value
            # Again on every (re)connect: a broker that lost its store lost the
            # retained state too; and when Home Assistant asks (its birth message).
            again = self._republish_state.is_set()
            if state != last or (connected and not was_connected) or again:
                self._republish_state = trio.Event()
                await self.mqtt.publish(self.topics.state, json.dumps(state), qos=1, retain=True)
                last = state
            was_connected = connected
            await _wait_any(
                *(_changed_from(o, v) for o, v in zip(watched, seen, strict=True)),
                self._republish_state.wait,
            )

    def _state(self) -> dict[str, Any]:
        speaker: SpeakerState = self.speaker.state.value
        cloud: CloudStatus = self.client.status.value
        state: dict[str, Any] = {
            "state": "speaking" if speaker.speaking else "idle",
            "cloud": "online" if cloud.online else "offline",
            "volume": self.controls.volume.value,
            "queue": speaker.queue,
            "mute": self.controls.mute.value,
        }
        voice = self.controls.voice_name
        if voice is not None:
            state["voice"] = voice
        latency = self.last_latency_ms.value
        if latency is not None:
            state["last_latency_ms"] = round(latency)
        return state

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        # Pinged from a trio task, so a blocked event loop stops the pings and
        # systemd restarts us; never tied to the broker or Cartesia being up.
        while True:
            self.notifier.watchdog()
            await trio.sleep(interval)


def _plain_text(voice: PiperVoice | None) -> PlainTextVoice | None:
    # The transforms add Cartesia's tags; Piper would read them out.
    return PlainTextVoice(voice) if voice is not None else None


def _local_voice(cfg: Config) -> PiperVoice | None:
    if cfg.offline.local_voice == "none":
        return None
    model = Path(cfg.offline.piper_model) if cfg.offline.piper_model else None
    try:
        return PiperVoice(model, cfg.audio.sample_rate)
    except LocalVoiceError as exc:
        log.error("%s; offline, only the cache and the chime will speak", exc)
        return None


def _changed_from(observable: Observable[Any], seen: Any) -> Callable[[], Awaitable[Any]]:
    """Waits until ``observable`` differs from ``seen`` (at once if it already does)."""
    return functools.partial(observable.wait_until, lambda value: value != seen)


async def _wait_any(*waiters: Any) -> None:
    async with trio.open_nursery() as nursery:

        async def one(wait: Any) -> None:
            await wait()
            nursery.cancel_scope.cancel()

        for wait in waiters:
            nursery.start_soon(one, wait)


async def serve(path: Path | None) -> int:
    """Run until SIGTERM or SIGINT; SIGHUP reloads. Returns the exit status."""
    notifier = Notifier()
    cfg = load_config(path)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        while True:
            daemon = Daemon(cfg, notifier)
            reload_to: Config | None = None
            async with trio.open_nursery() as nursery:
                await nursery.start(daemon.run)
                async for signum in signals:
                    if signum != signal.SIGHUP:
                        log.info("signal %s: stopping", signal.Signals(signum).name)
                        notifier.stopping()
                        break
                    try:
                        reload_to = load_config(path)
                    except ConfigError as exc:
                        log.error("SIGHUP: new config has errors, keeping the old one:\n%s", exc)
                        continue
                    log.info("SIGHUP: config reloaded; restarting services")
                    notifier.reloading()
                    break
                await daemon.shutdown(offline=reload_to is None)
                nursery.cancel_scope.cancel()
            if reload_to is None:
                return 0
            cfg = reload_to
