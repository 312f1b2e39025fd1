"""`herald run`: the composition root. One config's services, wired and started in
dependency order in one nursery; the signal loop around them.

Services, each started with ``nursery.start``: the Cartesia client, the audio player,
the MQTT client, the speaker, the runtime settings (saved to the state file), the
buttons, the publisher (events, state, outbox); then the router and the watchdog.
SIGTERM/SIGINT stop everything within 2 s (fade out, ``offline`` on availability,
WebSocket closed with 1000); SIGHUP re-reads the config and, if it is valid, builds
the services anew with it (see the README); an invalid new config is logged and
ignored.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from herald import __version__
from herald.audio import AlsaDevice, Player, PlayerTuning, SinkDevice
from herald.buttons import Action, Buttons, Press
from herald.cache import ClipCache
from herald.cartesia.client import CartesiaClient
from herald.cartesia.ws_adapter import TrioWsConnector
from herald.config import Config, ConfigError, load_config
from herald.control.actions import Actions
from herald.control.hermes import Hermes
from herald.control.hurry import Hurry
from herald.control.journal import Journal
from herald.control.publisher import Outgoing, Publisher
from herald.control.router import Router
from herald.control.settings import Settings
from herald.control.speaker import Speaker
from herald.control.topics import Topics
from herald.homeassistant.discovery import discovery_messages
from herald.local_voice import LocalVoiceError, PiperVoice
from herald.mqtt import Broker, MqttClient, MqttSettings
from herald.sdnotify import Notifier
from herald.sounds.clips import Clips
from herald.speech import Sources
from herald.speech.voicing import PlainTextVoice, Voicing, voice_defaults

if TYPE_CHECKING:
    from herald.control.speaker_port import EsphomeSpeaker
    from herald.esphome.server import EsphomeServer
    from herald.media import MediaSource

__all__ = ["Daemon", "serve", "voice_defaults"]

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
        self.topics = Topics.from_config(cfg)
        key = cfg.cartesia_api_key
        connector = TrioWsConnector(cfg.cartesia.url, key, cfg.cartesia.version) if key else None
        self.client = CartesiaClient(connector)
        self.player = Player(
            device or AlsaDevice(cfg.audio.device),
            cfg.audio.sample_rate,
            volume=cfg.audio.volume,
            tuning=PlayerTuning.configured(
                idle_close=cfg.audio.idle_close, lead_in_ms=cfg.audio.lead_in_ms
            ),
        )
        self.settings = Settings(
            self.player,
            config_volume=cfg.audio.volume,
            voices=cfg.cartesia.voice_ids,
            default_voice=cfg.cartesia.voice_id(cfg.cartesia.voice),
            quiet=cfg.quiet_hours.policy(),
            state_path=Path(cfg.device.state_file),
        )
        discovery = _discovery(cfg)
        self.mqtt: Broker = broker or MqttClient(
            MqttSettings.from_config(cfg),
            self.topics.subscriptions(),
            online_messages=[(self.topics.availability, "online", True), *discovery],
        )
        self.sources = Sources(
            self.client,
            Clips(Path(cfg.clips.dir), cfg.audio.sample_rate),
            cache=None,  # opened in run(): its first scan touches the disk
            local=_local_voice(cfg),
            cloud_timeout=cfg.offline.cloud_timeout,
            chime_while_waiting=cfg.clips.chime_while_waiting,
        )
        defaults = voice_defaults(cfg)
        # While a say is on its way to its first sound, the bookkeeping waits.
        self.hurry = Hurry()
        self.speaker = Speaker(
            self.sources,
            self.player,
            defaults,
            # The publisher reads the speaker's state, so it is built after it.
            lambda event: self.publisher.emit(event),
            self.settings,
            voicing=Voicing.from_config(cfg),
            media=_media(cfg),
            hurry=self.hurry,
        )
        self.publisher = Publisher(
            self.mqtt,
            self.topics,
            speaker=self.speaker.state,
            cloud=self.client.status,
            settings=self.settings,
            refusals=self.sources.refusals,
            defaults=defaults,
            discovery=discovery,
            secrets=(cfg.cartesia_api_key, cfg.mqtt_password),
            hurry=self.hurry,
        )
        self.actions = Actions(
            self.speaker,
            self.settings,
            voices=list(cfg.cartesia.voice_ids),
            stream_idle=cfg.stream.idle_timeout,
        )
        hermes = (
            Hermes(cfg.device.id, self.actions, self.publisher.send) if cfg.mqtt.hermes else None
        )
        # herald's own queue on disk, beside the state file (see control/journal.py).
        state_file = Path(cfg.device.state_file)
        self.journal = Journal(
            state_file.with_name(f"{state_file.stem}.queue.jsonl"), hurry=self.hurry
        )
        self.router = Router(
            self.topics,
            self.mqtt,
            self.actions,
            self.publisher.emit,
            hermes=hermes,
            journal=self.journal,
            on_birth=self.publisher.announce_again,
            room=self.publisher.wait_for_room,
        )
        self.buttons = Buttons(cfg.buttons, self._on_press, pin_factory=pin_factory)
        self.esphome = _esphome(cfg, self.actions, self.settings, self.speaker)
        self._stopping = False

    def _on_press(self, button: str, press: Press, action: Action | None) -> None:
        self.publisher.button(button, press)
        if self.esphome is not None:
            self.esphome[1].button_pressed(button, press)
        if action is not None:
            self.actions.perform(action, source=f"button {button}")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every service, then report started at once (a SIGTERM is acted on
        from then on, whatever else is still coming up); READY=1 follows when the
        broker and the audio device are up."""
        self.sources.cache = await trio.to_thread.run_sync(ClipCache.from_config, self.cfg.cache)
        replays = await trio.to_thread.run_sync(self.journal.load)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.client.run)
            # After the client has started: before, its status reads "offline".
            nursery.start_soon(self._ready_local_voice)
            await nursery.start(self.player.run)
            await nursery.start(self.mqtt.run)
            await nursery.start(self.speaker.run)
            await nursery.start(self.settings.run)
            await nursery.start(self.buttons.run)
            await nursery.start(self.publisher.run)
            await nursery.start(self.journal.run)
            if self.esphome is not None:
                port, server = self.esphome
                await nursery.start(port.run)
                await nursery.start(server.run)
            if replays:
                log.info("queue journal: %d says from before the restart", len(replays))
                self.router.replay(replays, time.time())
            nursery.start_soon(self.router.run)
            nursery.start_soon(self._watchdog)
            task_status.started()
            await self._wait_ready()

    async def _ready_local_voice(self) -> None:
        """Load the local voice at start if configured, else as soon as the cloud goes
        down, so that a fallback does not also wait for Piper to load."""
        local = self.sources.local
        if local is None:
            return
        if not self.cfg.offline.preload:
            await self.client.status.wait_until(lambda s: s.down and not self._stopping)
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
        self.journal.halted()
        final = [(self.topics.availability, "offline", True)] if offline else []
        with trio.move_on_after(SHUTDOWN_BUDGET):
            await self.journal.flush()
            await self.settings.flush()
            await self.publisher.flush()
            await self.mqtt.shutdown(final)
            await self.client.aclose()

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        # Pinged from a trio task, so a blocked event loop stops the pings and
        # systemd restarts us; never tied to the broker or Cartesia being up.
        while True:
            self.notifier.watchdog()
            await trio.sleep(interval)


def _media(cfg: Config) -> MediaSource | None:
    """The media fetcher (httpx2, imported when used), for Home Assistant's URLs."""
    if not cfg.esphome.enabled:
        return None
    from herald.media import HttpMedia

    return HttpMedia()


def _esphome(
    cfg: Config, actions: Actions, settings: Settings, speaker: Speaker
) -> tuple[EsphomeSpeaker, EsphomeServer] | None:
    """The ESPHome API server and its port, when ``[esphome]`` is enabled."""
    if not cfg.esphome.enabled:
        return None
    from herald.control.speaker_port import EsphomeSpeaker
    from herald.esphome.server import EsphomeServer
    from herald.esphome.settings import EsphomeSettings, esphome_name, host_mac

    e = cfg.esphome
    name = e.name or esphome_name(cfg.device.id)
    settings_ = EsphomeSettings(
        name=name,
        friendly_name=e.friendly_name or name,
        mac=host_mac(),
        sample_rate=cfg.audio.sample_rate,
        port=e.port,
        key=cfg.esphome_key,
        buttons=tuple(b.name for b in cfg.buttons),
        advertise=e.advertise,
        version=__version__,
    )
    port = EsphomeSpeaker(actions, settings, speaker)
    return port, EsphomeServer(settings_, port)


def _discovery(cfg: Config) -> list[Outgoing]:
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


def _local_voice(cfg: Config) -> PlainTextVoice | None:
    if cfg.offline.local_voice == "none":
        return None
    model = Path(cfg.offline.piper_model) if cfg.offline.piper_model else None
    try:
        # The transforms add Cartesia's tags; Piper would read them out.
        return PlainTextVoice(PiperVoice(model, cfg.audio.sample_rate))
    except LocalVoiceError as exc:
        log.error("%s; offline, only the cache and the chime will speak", exc)
        return None


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
