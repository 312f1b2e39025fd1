"""`herald doctor` (run_doctor) against a real mosquitto, the Cartesia emulator and
ALSA's file plugin."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from cartesia_emulator import Emulator
from herald.cli.doctor import run_doctor
from herald.config import Config, build_config
from mosquitto import Mosquitto

CANARY = "sk_car_test"  # the emulator fixture's valid key


def make_config(tmp_path: Path, env: dict[str, str] | None = None, **sections: Any) -> Config:
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "device": {"id": "doctortest"},
        "audio": {"device": f"file:FILE={tmp_path / 'out.raw'},FORMAT=raw"},
        "cache": {"dir": str(cache)},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return build_config(data, env or {})


async def doctor(cfg: Config) -> tuple[int, dict[str, str], str]:
    out = io.StringIO()
    status = await run_doctor(cfg, out)
    text = out.getvalue()
    lines = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in ("ok", "FAIL", "skip"):
            lines[parts[1]] = line
    return status, lines, text


@pytest.fixture
def good(tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, api_key: str) -> Config:
    return make_config(
        tmp_path,
        {"CARTESIA_API_KEY": api_key},
        mqtt={"host": "127.0.0.1", "port": mosquitto.port},
        cartesia={"url": emulator.ws_url, "api_url": emulator.http_url},
    )


async def test_all_good(good: Config) -> None:
    status, lines, text = await doctor(good)
    assert status == 0, text
    for name in ("config", "broker", "cartesia", "voice", "alsa", "cache", "disk"):
        assert lines[name].startswith("ok"), text
    assert lines["gpio"].startswith("skip") and "no buttons configured" in lines["gpio"]
    # Discovery is on by default: herald also listens to Home Assistant's birth topic.
    assert (
        lines["topics"] == "ok    topics    subscribed to all 10 topics of herald run; 10 delivered"
    )
    assert "FAIL" not in text
    assert CANARY not in text


async def test_unreachable_broker(
    tmp_path: Path, emulator: Emulator, api_key: str, mosquitto: Mosquitto
) -> None:
    port = mosquitto.port
    mosquitto.kill()  # a port nothing listens on any more
    cfg = make_config(
        tmp_path,
        {"CARTESIA_API_KEY": api_key},
        mqtt={"host": "127.0.0.1", "port": port},
        cartesia={"url": emulator.ws_url, "api_url": emulator.http_url},
    )
    status, lines, text = await doctor(cfg)
    assert status == 1
    assert lines["broker"].startswith("FAIL"), text
    assert f"cannot connect to 127.0.0.1:{port}" in lines["broker"]
    assert "fix: start the broker" in lines["broker"]
    assert lines["cartesia"].startswith("ok")  # the other checks still ran


async def test_broker_rejects_login(
    tmp_path: Path, emulator: Emulator, api_key: str, mosquitto_factory: Any
) -> None:
    broker = mosquitto_factory(users={"herald": "right-password"})
    secret = tmp_path / "mqtt_password"
    secret.write_text("wrong-password\n")
    cfg = make_config(
        tmp_path,
        {"CARTESIA_API_KEY": api_key},
        mqtt={
            "host": "127.0.0.1",
            "port": broker.port,
            "username": "herald",
            "password_file": str(secret),
        },
        cartesia={"url": emulator.ws_url, "api_url": emulator.http_url},
    )
    status, lines, text = await doctor(cfg)
    assert status == 1
    assert lines["broker"].startswith("FAIL"), text
    assert "refused the login" in lines["broker"] and "fix:" in lines["broker"]
    assert "wrong-password" not in text


async def test_rejected_key(tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator) -> None:
    cfg = make_config(
        tmp_path,
        {"CARTESIA_API_KEY": "sk_car_wrong_key"},
        mqtt={"host": "127.0.0.1", "port": mosquitto.port},
        cartesia={"url": emulator.ws_url, "api_url": emulator.http_url},
    )
    status, lines, text = await doctor(cfg)
    assert status == 1
    assert lines["cartesia"].startswith("FAIL"), text
    assert "rejected the API key" in lines["cartesia"]
    assert "fix:" in lines["cartesia"]
    assert "sk_car_wrong_key" not in text
    assert lines["broker"].startswith("ok")


async def test_missing_key(tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator) -> None:
    cfg = make_config(
        tmp_path,
        mqtt={"host": "127.0.0.1", "port": mosquitto.port},
        cartesia={"url": emulator.ws_url, "api_url": emulator.http_url},
    )
    status, lines, _ = await doctor(cfg)
    assert status == 1
    assert "no API key" in lines["cartesia"] and "fix:" in lines["cartesia"]


async def test_missing_alsa_device(good: Config, tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        {"CARTESIA_API_KEY": CANARY},
        mqtt={"host": "127.0.0.1", "port": good.mqtt.port},
        cartesia={"url": good.cartesia.url, "api_url": good.cartesia.api_url},
        audio={"device": "hw:CARD=NoSuchCard"},
    )
    status, lines, text = await doctor(cfg)
    assert status == 1
    assert lines["alsa"].startswith("FAIL"), text
    assert "cannot open 'hw:CARD=NoSuchCard'" in lines["alsa"]
    assert "fix: set audio.device" in lines["alsa"]
    assert lines["broker"].startswith("ok") and lines["cartesia"].startswith("ok")


async def test_cache_dir_problems(good: Config, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "cache"
    cfg = make_config(
        tmp_path,
        {"CARTESIA_API_KEY": CANARY},
        mqtt={"host": "127.0.0.1", "port": good.mqtt.port},
        cartesia={"url": good.cartesia.url, "api_url": good.cartesia.api_url},
        cache={"dir": str(missing)},
    )
    status, lines, _ = await doctor(cfg)
    assert status == 1
    assert lines["cache"].startswith("FAIL") and "does not exist" in lines["cache"]
    assert lines["disk"].startswith("ok")  # measured on the nearest existing parent


@pytest.mark.parametrize(
    ("cartesia", "key"),
    [
        ({"model": "sonic-2-2025-03-07"}, "cartesia.model"),
        ({"voice": "no-such-voice"}, "cartesia.voice"),
        ({"pronunciation_dict_id": "pdict_gone"}, "cartesia.pronunciation_dict_id"),
    ],
)
async def test_a_setting_cartesia_refuses_names_the_key_to_change(
    good: Config,
    tmp_path: Path,
    emulator: Emulator,
    api_key: str,
    cartesia: dict[str, str],
    key: str,
) -> None:
    cfg = make_config(
        tmp_path,
        {"CARTESIA_API_KEY": api_key},
        mqtt={"host": good.mqtt.host, "port": good.mqtt.port},
        cartesia={"url": emulator.ws_url, "api_url": emulator.http_url, **cartesia},
    )
    status, lines, text = await doctor(cfg)
    assert status == 1
    assert lines["voice"].startswith("FAIL"), text
    assert f"fix: change {key} in the config" in lines["voice"]
    assert lines["cartesia"].startswith("ok")  # the key itself is fine
