"""`herald doctor`: check what herald depends on, and say how to fix what is wrong.

Each check prints one line: ``ok``, ``FAIL`` or ``skip``, its name, what it found, and
for a failure a ``fix:`` hint. The exit status is 1 when any check failed, else 0.
Secrets never appear in the output.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import trio

from herald.config import Config
from herald.secret import Secret

__all__ = ["Check", "run_doctor"]

BROKER_TIMEOUT = 5.0  # seconds to connect and get a CONNACK
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


def _ok(name: str, detail: str) -> Check:
    return Check("ok", name, detail)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check("FAIL", name, detail, fix)


def _mask(text: str, cfg: Config) -> str:
    for secret in (cfg.cartesia_api_key, cfg.mqtt_password):
        value = secret.reveal() if secret is not None else ""
        if len(value) >= 3:
            text = text.replace(value, "***")
    return text


# --- the checks ---


async def check_config(cfg: Config) -> Check:
    return _ok(
        "config",
        f"device.id = {cfg.device.id}, broker {cfg.mqtt.host}:{cfg.mqtt.port}, "
        f"audio {cfg.audio.device} at {cfg.audio.sample_rate} Hz",
    )


async def check_broker(cfg: Config) -> Check:
    from herald.mqtt import MqttClient, MqttRefused, MqttSettings, MqttTlsError

    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    try:
        settings = MqttSettings.for_tool(cfg, "doctor", BROKER_TIMEOUT)
    except ValueError as exc:
        return _fail("broker", str(exc), "fix the [mqtt] section of the config")
    client = MqttClient(settings, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with trio.move_on_after(BROKER_TIMEOUT):
            await client.wait_settled()
        connected = client.connected.value
        error = client.last_error
        with trio.move_on_after(BROKER_TIMEOUT):
            await client.shutdown()
        nursery.cancel_scope.cancel()
    auth = f" as {cfg.mqtt.username!r}" if cfg.mqtt.username else " without a user name"
    if connected:
        return _ok("broker", f"connected to {where}{auth}")
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


async def check_cartesia(cfg: Config) -> Check:
    from herald.cartesia.errors import CartesiaError, KeyRejected, NoCredits
    from herald.cartesia.rest import CartesiaRest

    key: Secret | None = cfg.cartesia_api_key
    if key is None:
        return _fail(
            "cartesia",
            "no API key: the cloud voice is off (herald speaks from cache or the local voice)",
            "put the key in /etc/herald/credentials/cartesia_api_key (0600 root; "
            "install.sh --api-key-file FILE does it), or set cartesia.api_key_file",
        )
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
    return _ok("cartesia", f"API key accepted by {cfg.cartesia.api_url}")


def _open_alsa(name: str, rate: int) -> str:
    from herald.audio import AlsaDevice, Geometry

    sink = AlsaDevice(name).open(Geometry.request(rate, 0.02, 4))
    granted = sink.geometry
    sink.close()
    return f"{granted.rate} Hz, {granted.period_frames}-frame periods"


async def check_alsa(cfg: Config) -> Check:
    from herald.audio.sink import SinkOpenError  # pure Python: cannot fail to import

    name, rate = cfg.audio.device, cfg.audio.sample_rate
    try:
        got = await trio.to_thread.run_sync(_open_alsa, name, rate)
    except ImportError as exc:
        return _fail("alsa", f"pyalsaaudio is missing: {exc}", "reinstall herald (install.sh)")
    except SinkOpenError as exc:
        return _fail(
            "alsa",
            f"cannot open {name!r} at {rate} Hz, S16_LE mono: {exc}",
            "set audio.device to a PCM that `aplay -L` lists (e.g. plughw:CARD=...,DEV=0), "
            "make sure no other program holds the device, and that herald's user is in "
            "group audio",
        )
    return _ok("alsa", f"opened {name!r} at {rate} Hz S16_LE mono ({got})")


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


CHECKS: tuple[Callable[[Config], Awaitable[Check]], ...] = (
    check_config,
    check_broker,
    check_cartesia,
    check_alsa,
    check_gpio,
    check_cache,
    check_disk,
    check_local_voice,
)


async def run_doctor(cfg: Config, out: TextIO) -> int:
    """Run every check, print one line each to `out`; 1 if any failed, else 0."""
    failed = False
    for check in CHECKS:
        try:
            result = await check(cfg)
        except Exception as exc:  # a check must not stop the others
            name = check.__name__.removeprefix("check_")
            result = _fail(
                name, f"the check itself failed: {type(exc).__name__}: {exc}", "report it"
            )
        failed = failed or result.status == "FAIL"
        print(_mask(result.line(), cfg), file=out, flush=True)
    summary = "problems found: fix the FAIL lines above" if failed else "all checks passed"
    print(summary, file=out, flush=True)
    return 1 if failed else 0
