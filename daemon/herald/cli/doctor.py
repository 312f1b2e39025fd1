"""`herald doctor`: check what herald depends on, and say how to fix what is wrong.

Each line is ``ok``, ``FAIL`` or ``skip``, a name, what was found, and for a failure a
``fix:`` hint; a check may print several lines (one per sound card). The exit status is
1 when any line failed, else 0. Secrets never appear in the output.

Run as root (``sudo herald doctor``), doctor checks what the service uses: the config
and the credentials herald.service loads (`herald.cli.doctor_service`; no other user
may read those, and doctor says so). It subscribes to
the daemon's topics with its own client id and reports the ones the broker's ACL denies
(`herald.mqtt.hearing`), and for the sound device it names who holds a busy one and
whether ALSA's ``default`` goes to a Desktop sound server (`herald.cli.doctor_alsa`).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

import trio

from herald.cli.doctor_alsa import PROC, SERVER_PROCESSES, Card, Holder, Server
from herald.config import Config
from herald.secret import Secret

if TYPE_CHECKING:
    from herald.cli.doctor_service import ServiceSetup
    from herald.mqtt import TopicHearing

__all__ = ["Check", "System", "run_doctor"]

BROKER_TIMEOUT = 5.0  # seconds to connect and get a CONNACK
TOPICS_TIMEOUT = 10.0  # seconds for the SUBACK and the delivery probes' verdicts
CARTESIA_TIMEOUT = 15.0
MIN_FREE_MB = 64  # below this the cache cannot store much, and the SD card is nearly full

Status = Literal["ok", "FAIL", "skip"]


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<8}  {self.detail}"
        return f"{text}; fix: {self.fix}" if self.status == "FAIL" and self.fix else text


@dataclass(frozen=True)
class System:
    """Where doctor looks: the /proc root and alsa-lib's config files (``None``: its
    default, as ``$ALSA_CONFIG_PATH``); tests point them at recorded trees."""

    proc: Path = PROC
    alsa_config: str | None = None
    pin_factory: Any = None


def _ok(name: str, detail: str) -> Check:
    return Check("ok", name, detail)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check("FAIL", name, detail, fix)


Result = Check | Sequence[Check]


def _mask(text: str, cfg: Config) -> str:
    for secret in (cfg.cartesia_api_key, cfg.mqtt_password):
        value = secret.reveal() if secret is not None else ""
        if len(value) >= 3:
            text = text.replace(value, "***")
    return text


# --- the checks ---


def check_service(setup: ServiceSetup) -> Check:
    """Where the config and the credentials came from, and whether doctor could read
    what herald.service loads."""
    from herald.cli.doctor_service import ROOT_FIX, UNIT

    config = f"config {setup.config_path} ({setup.config_from})"
    if setup.problems:
        who = "" if os.geteuid() == 0 else f" (doctor runs as uid {os.geteuid()})"
        return _fail(
            "service",
            f"cannot read the credentials {UNIT} loads: {'; '.join(setup.problems)}{who}",
            ROOT_FIX if os.geteuid() != 0 else "fix those files (0600 root, the key alone)",
        )
    unit = setup.unit
    if unit is None:
        return Check(
            "skip",
            "service",
            f"{UNIT} is not installed: {config}; secrets from the config and this shell",
        )
    found = []
    for name, credential in setup.credentials.items():
        where = str(credential.path) if credential.path else "not found (systemd skips it)"
        found.append(f"{name}: {where}")
    found += [f"{name}: encrypted, not checked" for name in unit.encrypted]
    credentials = "; ".join(found) or "none loaded"
    if not setup.credentials and unit.credentials:
        credentials = "from $CREDENTIALS_DIRECTORY (as given)"
    return _ok("service", f"{UNIT} ({unit.source}): {config}; credentials {credentials}")


async def check_config(cfg: Config) -> Check:
    return _ok(
        "config",
        f"device.id = {cfg.device.id}, broker {cfg.mqtt.host}:{cfg.mqtt.port}, "
        f"audio {cfg.audio.device} at {cfg.audio.sample_rate} Hz",
    )


def daemon_subscriptions(cfg: Config) -> list[tuple[str, int]]:
    """The topics `herald run` subscribes to with this config (as herald.app builds them)."""
    from herald.control.topics import Topics

    return Topics.from_config(cfg).subscriptions()


async def check_broker(cfg: Config, *, setup: ServiceSetup | None = None) -> list[Check]:
    """Connect as the daemon would (own client id, clean session), subscribe to the
    daemon's topics and probe their delivery: a ``broker`` and a ``topics`` line."""
    from herald.mqtt import MqttClient, MqttSettings

    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    try:
        settings = MqttSettings.for_tool(cfg, "doctor", BROKER_TIMEOUT)
    except ValueError as exc:
        return [_fail("broker", str(exc), "fix the [mqtt] section of the config")]
    client = MqttClient(dataclasses.replace(settings, probe="all"), daemon_subscriptions(cfg))
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with trio.move_on_after(BROKER_TIMEOUT):
            await client.wait_settled()
        connected = client.connected.value
        error = client.last_error
        if connected:
            with trio.move_on_after(TOPICS_TIMEOUT):
                await client.hearing.wait_until(lambda hs: all(h.settled for h in hs))
        hearing = client.hearing.value
        with trio.move_on_after(BROKER_TIMEOUT):
            await client.shutdown()
        nursery.cancel_scope.cancel()
    auth = f" as {cfg.mqtt.username!r}" if cfg.mqtt.username else " without a user name"
    if cfg.mqtt.username and cfg.mqtt_password is not None:
        origin = setup.origins.get("mqtt_password") if setup is not None else None
        auth += f" (password from {origin})" if origin else ""
    if connected:
        return [_ok("broker", f"connected to {where}{auth}"), _topics_check(cfg, hearing)]
    return [_broker_failure(where, auth, error), Check("skip", "topics", "no broker connection")]


def _topics_check(cfg: Config, hearing: Sequence[TopicHearing]) -> Check:
    from herald.mqtt import Hearing
    from herald.mqtt.hearing import acl_fix

    user = cfg.mqtt.username or None
    denied = [h for h in hearing if h.denied]
    if denied:

        def why(h: TopicHearing) -> str:
            if h.hearing is Hearing.REFUSED:
                return f"{h.topic} (subscription refused: {h.code})"
            return f"{h.topic} (subscription granted, nothing delivered)"

        who = f"user {user!r}" if user else "anonymous clients"
        return _fail(
            "topics",
            f"herald hears nothing on {len(denied)} of its {len(hearing)} topics, the "
            f"broker's ACL denies them to {who}: {', '.join(why(h) for h in denied)}",
            acl_fix([h.topic for h in denied], user, cfg.mqtt.topic_prefix),
        )
    heard = sum(h.hearing is Hearing.HEARD for h in hearing)
    detail = f"subscribed to all {len(hearing)} topics of herald run; {heard} delivered"
    untested = [h.topic for h in hearing if h.hearing is Hearing.UNTESTED]
    if untested:
        detail += (
            f"; not verifiable: {', '.join(untested)} (doctor may not publish a test "
            "message there, and mosquitto's acl_file accepts subscriptions it never "
            "delivers: make sure the ACL lets herald read them)"
        )
    pending = [h.topic for h in hearing if not h.settled]
    if pending:
        detail += f"; no verdict in {TOPICS_TIMEOUT:g} s: {', '.join(pending)}"
    return _ok("topics", detail)


def _broker_failure(where: str, auth: str, error: Exception | None) -> Check:
    from herald.mqtt import MqttRefused, MqttTlsError

    if isinstance(error, MqttRefused):
        if error.bad_credentials:
            return _fail(
                "broker",
                f"{where} refused the login{auth}: {error}",
                "set mqtt.username and the password (/etc/herald/credentials/mqtt_password, "
                "or mqtt.password_file) to an account the broker accepts",
            )
        return _fail("broker", f"{where} refused the connection: {error}", "see the broker's log")
    detail = str(error) if error is not None else f"no answer in {BROKER_TIMEOUT:g} s"
    fix = (
        "start the broker (systemctl start mosquitto) or set [mqtt] host and port to a running one"
    )
    if isinstance(error, MqttTlsError):
        fix = "check mqtt.tls, mqtt.ca_file, mqtt.certfile and mqtt.keyfile"
    return _fail("broker", f"cannot connect to {where}: {detail}", fix)


async def check_cartesia(cfg: Config, *, setup: ServiceSetup | None = None) -> Check:
    from herald.cartesia.errors import CartesiaError, KeyRejected, NoCredits
    from herald.cartesia.rest import CartesiaRest

    key: Secret | None = cfg.cartesia_api_key
    if key is None:
        if setup is not None and setup.unit and "cartesia_api_key" in setup.unit.encrypted:
            return Check(
                "skip",
                "cartesia",
                "the API key is an encrypted credential (LoadCredentialEncrypted=): only "
                "the service can decrypt it, so doctor cannot check it",
            )
        credential = setup.credentials.get("cartesia_api_key") if setup is not None else None
        if credential is not None and credential.problem and os.geteuid() != 0:
            from herald.cli.doctor_service import ROOT_FIX

            return _fail(
                "cartesia",
                f"cannot read the API key herald.service loads ({credential.problem})",
                ROOT_FIX,
            )
        return _fail(
            "cartesia",
            "no API key: the cloud voice is off (herald speaks from cache or the local voice)",
            "put the key in /etc/herald/credentials/cartesia_api_key (0600 root; "
            "install.sh --api-key-file FILE does it), or set cartesia.api_key_file",
        )
    origin = setup.origins.get("cartesia_api_key") if setup is not None else None
    source = f" (from {origin})" if origin else ""
    rest = CartesiaRest(cfg.cartesia.api_url, key, cfg.cartesia.version, timeout=CARTESIA_TIMEOUT)
    try:
        with trio.fail_after(CARTESIA_TIMEOUT + 1):
            await rest.check_key()
    except KeyRejected as exc:
        return _fail(
            "cartesia",
            f"{cfg.cartesia.api_url} rejected the API key: {exc}",
            "get a valid key at play.cartesia.ai and replace "
            "/etc/herald/credentials/cartesia_api_key",
        )
    except NoCredits as exc:
        return _fail("cartesia", f"the account has no credits: {exc}", "top up the account")
    except CartesiaError as exc:
        return _fail(
            "cartesia",
            f"cannot check the key: {exc}",
            f"check the network and cartesia.api_url ({cfg.cartesia.api_url})",
        )
    except trio.TooSlowError:
        return _fail(
            "cartesia",
            f"no answer from {cfg.cartesia.api_url} in {CARTESIA_TIMEOUT:g} s",
            "check the network and cartesia.api_url",
        )
    return _ok("cartesia", f"API key{source} accepted by {cfg.cartesia.api_url}")


async def check_voice(cfg: Config) -> Check:
    """One short synthesis with the configured model, voice, language and dictionary:
    what a say sends. A setting Cartesia refuses for good is named, with the key."""
    from herald.cartesia.errors import CartesiaError, ConfigRejected, KeyRejected
    from herald.cartesia.rest import CartesiaRest
    from herald.speech.voicing import voice_defaults

    key = cfg.cartesia_api_key
    if key is None:
        return Check("skip", "voice", "no API key (see the cartesia line)")
    params = voice_defaults(cfg)
    what = f"model {params.model}, voice {params.voice}, language {params.language}"
    rest = CartesiaRest(cfg.cartesia.api_url, key, cfg.cartesia.version, timeout=CARTESIA_TIMEOUT)
    try:
        with trio.fail_after(CARTESIA_TIMEOUT + 1):
            await rest.tts_bytes("Ok.", params)
    except ConfigRejected as exc:
        return _fail(
            "voice",
            f"Cartesia refuses {what}: {exc}",
            f"change {exc.config_key} in the config, then systemctl reload herald",
        )
    except KeyRejected:
        return Check("skip", "voice", "the API key was rejected (see the cartesia line)")
    except CartesiaError as exc:
        return _fail("voice", f"cannot check {what}: {exc}", "see the cartesia line")
    except trio.TooSlowError:
        return _fail("voice", f"no answer in {CARTESIA_TIMEOUT:g} s", "check the network")
    return _ok("voice", f"{what} speak (Cartesia-Version {cfg.cartesia.version})")


def _open_alsa(name: str, rate: int) -> str:
    from herald.audio import AlsaDevice, Geometry

    sink = AlsaDevice(name).open(Geometry.request(rate, 0.02, 4))
    granted = sink.geometry
    sink.close()
    return f"{granted.rate} Hz, {granted.period_frames}-frame periods"


def _inspect_alsa(name: str, system: System) -> tuple[Server | None, list[Holder]]:
    from herald.cli.doctor_alsa import cards_of, holders, read_cards, sound_server

    # After _open_alsa, which routed alsa-lib's own messages to herald's log.
    cards = read_cards(system.proc) or []
    return sound_server(name, system.alsa_config), holders(system.proc, cards_of(name, cards))


async def check_alsa(cfg: Config, *, system: System | None = None) -> list[Check]:
    """Open the device as the daemon does; say who holds a busy one, and whether it
    goes to a Desktop sound server. Then one line per sound card."""
    from herald.audio.sink import SinkOpenError  # pure Python: cannot fail to import
    from herald.cli.doctor_alsa import read_cards

    system = system or System()
    name, rate = cfg.audio.device, cfg.audio.sample_rate
    cards = await trio.to_thread.run_sync(read_cards, system.proc)
    try:
        got = await trio.to_thread.run_sync(_open_alsa, name, rate)
    except ImportError as exc:
        return [_fail("alsa", f"pyalsaaudio is missing: {exc}", "reinstall herald (install.sh)")]
    except SinkOpenError as exc:
        server, held_by = await trio.to_thread.run_sync(_inspect_alsa, name, system)
        line = alsa_open_failure(name, rate, str(exc), server, held_by, cards or [])
    else:
        server, _ = await trio.to_thread.run_sync(_inspect_alsa, name, system)
        line = _ok("alsa", f"opened {name!r} at {rate} Hz S16_LE mono ({got})")
        if server is not None:
            line = _ok(
                "alsa",
                f"{line.detail}; it goes to {server.name} ({server.pcm} type "
                f"{server.plugin}), which only this desktop session reaches: herald.service "
                f"(user herald) needs {_pick(cards or [])} or to run as the session user",
            )
    return [line, *card_lines(cards)]


def _pick(cards: Sequence[Card], busy: Sequence[Holder] = ()) -> str:
    """The audio.device to suggest: a card nobody holds, USB or the headphone jack
    before HDMI."""
    held = {h.card for h in busy}
    free = [c for c in cards if c.index not in held]
    if not free:
        return "plughw:CARD=<card id>,DEV=0"
    ranked = sorted(free, key=lambda c: (c.driver == "vc4-hdmi", c.driver != "USB-Audio"))
    return ranked[0].suggestion


def alsa_open_failure(
    name: str,
    rate: int,
    error: str,
    server: Server | None,
    held_by: Sequence[Holder],
    cards: Sequence[Card],
) -> Check:
    """The ``alsa`` line for a device that did not open, from what doctor found."""
    from herald.audio import PlayerTuning

    if error.startswith(os.strerror(errno.EBUSY)):
        daemon = [h for h in held_by if h.herald and h.pid != os.getpid()]
        if daemon:
            idle = PlayerTuning().idle_close_s
            after = f" and for {idle:g} s after" if idle is not None else ""
            return _ok(
                "alsa",
                f"{name!r} is in use by herald (pid {daemon[0].pid}): the running daemon "
                f"holds it while it speaks{after}",
            )
        if held_by:
            others = ", ".join(str(h) for h in held_by)
            servers = [h for h in held_by if h.comm in SERVER_PROCESSES]
            fix = f"stop {others}, or make it use another device: herald needs this one"
            if servers:
                fix = (
                    f"Desktop image: {servers[0].comm} holds the card for the desktop session; "
                    f"pick another card ({_pick(cards, held_by)}) for audio.device, or run "
                    "herald as the session user"
                )
            return _fail("alsa", f"cannot open {name!r}: busy, held by {others}", fix)
        return _fail(
            "alsa",
            f"cannot open {name!r}: busy, held by a program doctor cannot see",
            "run doctor as root (sudo herald doctor) to see which program holds it, stop "
            "that program, or pick another device",
        )
    if server is not None:
        return _fail(
            "alsa",
            f"cannot open {name!r}: {error}: it goes to {server.name} ({server.pcm} type "
            f"{server.plugin} in ALSA's config), the sound server of a desktop session, "
            "which a system service cannot reach",
            f"Desktop image: pick {_pick(cards, held_by)} for audio.device, or run herald "
            "as the session user",
        )
    return _fail(
        "alsa",
        f"cannot open {name!r} at {rate} Hz, S16_LE mono: {error}",
        "set audio.device to a PCM that `aplay -L` lists (e.g. plughw:CARD=...,DEV=0), "
        "make sure no other program holds the device, and that herald's user is in "
        "group audio",
    )


def card_lines(cards: Sequence[Card] | None) -> list[Check]:
    """One line per sound card: index, id, name and the audio.device for it."""
    if cards is None:
        return [Check("skip", "card", "no /proc/asound/cards: no sound driver is loaded")]
    if not cards:
        return [Check("skip", "card", "no sound cards (/proc/asound/cards lists none)")]
    return [_ok("card", f"{c.index} {c.id}: {c.name} (audio.device {c.suggestion})") for c in cards]


async def check_gpio(cfg: Config, *, pin_factory: Any = None) -> Check:
    if not cfg.buttons:
        return Check("skip", "gpio", "no buttons configured")
    from herald.buttons.gpio import NoGpio, probe_pins

    try:
        problems = await trio.to_thread.run_sync(probe_pins, cfg.buttons, pin_factory)
    except NoGpio as exc:
        return _fail(
            "gpio",
            f"{len(cfg.buttons)} button(s) configured, but this machine has no GPIO ({exc})",
            "run herald on a Raspberry Pi, or remove the [[buttons]] blocks",
        )
    if problems:
        return _fail(
            "gpio",
            "; ".join(problems),
            "use BCM numbers of free GPIO pins in [[buttons]] (not power or ground pins), "
            "check that herald's user is in group gpio and that no other program uses the pin",
        )
    pins = ", ".join(f"{b.name} on {b.pin}" for b in cfg.buttons)
    return _ok("gpio", f"opened {pins}")


def _cache_check(cfg: Config) -> Check:
    path = Path(cfg.cache.dir)
    if not path.is_dir():
        return _fail(
            "cache",
            f"cache.dir {path} does not exist",
            "the service creates it (CacheDirectory=herald); running by hand, "
            f"mkdir -p {path} and make it writable by the user running herald",
        )
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".herald-doctor-"):
            pass
    except OSError as exc:
        return _fail(
            "cache",
            f"cannot write in {path}: {exc.strerror or exc}",
            f"make {path} writable by the user running herald (the service: user herald)",
        )
    return _ok("cache", f"{path} is writable")


def _disk_check(cfg: Config) -> Check:
    path = Path(cfg.cache.dir)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return _fail("disk", f"cannot read free space of {path}: {exc}", "check the file system")
    free_mb = usage.free // (1024 * 1024)
    detail = f"{free_mb} MB free on {path} (cache.max_mb = {cfg.cache.max_mb})"
    if free_mb < MIN_FREE_MB:
        return _fail(
            "disk",
            detail,
            f"free at least {MIN_FREE_MB} MB (e.g. herald cache prune, apt-get clean, "
            "journalctl --vacuum-size=50M)",
        )
    return _ok("disk", detail)


async def check_cache(cfg: Config) -> Check:
    return await trio.to_thread.run_sync(_cache_check, cfg)


async def check_local_voice(cfg: Config) -> Check:
    """Whether the offline voice can speak here (its model is found, not loaded)."""
    from herald.local_voice import LocalVoiceError, PiperVoice, unavailable_reason

    if cfg.offline.local_voice == "none":
        return Check("skip", "local", 'off (offline.local_voice = "none")')
    if (reason := unavailable_reason()) is not None:
        return Check("skip", "local", f"{reason}; offline: cached clips, else a chime")
    model = Path(cfg.offline.piper_model) if cfg.offline.piper_model else None
    try:
        voice = PiperVoice(model, cfg.audio.sample_rate)
    except LocalVoiceError as exc:
        return _fail("local", str(exc), 'install the model, or set offline.local_voice = "none"')
    return _ok("local", f"Piper, {voice.model_path.name}")


async def check_disk(cfg: Config) -> Check:
    return await trio.to_thread.run_sync(_disk_check, cfg)


def _checks(
    setup: ServiceSetup | None, system: System
) -> list[tuple[str, Callable[[Config], Awaitable[Result]]]]:
    partial = functools.partial
    return [
        ("config", check_config),
        ("broker", partial(check_broker, setup=setup)),
        ("cartesia", partial(check_cartesia, setup=setup)),
        ("voice", check_voice),
        ("alsa", partial(check_alsa, system=system)),
        ("gpio", partial(check_gpio, pin_factory=system.pin_factory)),
        ("cache", check_cache),
        ("disk", check_disk),
        ("local", check_local_voice),
    ]


async def run_doctor(
    cfg: Config,
    out: TextIO,
    *,
    setup: ServiceSetup | None = None,
    system: System | None = None,
) -> int:
    """Run every check, print its line(s) to `out`; 1 if any failed, else 0.

    ``setup``: how the config was loaded (`load_like_service`), for the ``service``
    line and where the secrets came from; ``system``: where to look (tests)."""
    failed = False

    def emit(result: Check) -> None:
        nonlocal failed
        failed = failed or result.status == "FAIL"
        print(_mask(result.line(), cfg), file=out, flush=True)

    if setup is not None:
        emit(check_service(setup))
    for name, check in _checks(setup, system or System()):
        try:
            result = await check(cfg)
        except Exception as exc:  # a check must not stop the others
            result = _fail(
                name, f"the check itself failed: {type(exc).__name__}: {exc}", "report it"
            )
        for line in [result] if isinstance(result, Check) else result:
            emit(line)
    summary = "problems found: fix the FAIL lines above" if failed else "all checks passed"
    print(summary, file=out, flush=True)
    return 1 if failed else 0
