"""herald as a Home Assistant speaker, end to end (issue 18): a real `herald run` with
`[esphome]` on, Home Assistant's own client library (aioesphomeapi, in a worker thread
with its own asyncio loop), a real mosquitto, the emulator, a local HTTP server for
media, ALSA's file plugin. The announced text comes out bit-exact from the emulator,
a WAV URL bit-exact; volume and mute are the ones MQTT shows; every say gets its usual
events with `origin: esphome`; a wrong key is refused with a clear log line."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aioesphomeapi as api
import trio

from cartesia_emulator import Emulator, synth_pcm
from daemon_harness import Herald, Observer, expected, start_online, stop_cleanly
from media_server import MediaServer, Route
from mosquitto import Mosquitto, free_port

KEY = base64.b64encode(bytes(range(32))).decode()
WRONG = base64.b64encode(bytes(range(1, 33))).decode()
STATE = "herald/kitchen/state"


def wav(pcm: bytes, rate: int = 24000) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def esphome_herald(tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, key: bool) -> Herald:
    port = free_port()
    extra = (
        '[offline]\nlocal_voice = "none"\n'
        f"[esphome]\nenabled = true\nport = {port}\nadvertise = false\n"
    )
    if key:
        (tmp_path / "esphome_key").write_text(KEY + "\n")
        extra += f'key_file = "{tmp_path / "esphome_key"}"\n'
    herald = Herald(tmp_path, mosquitto, emulator, extra=extra)
    herald.esphome_port = port  # type: ignore[attr-defined]
    return herald


async def in_client(coro_fn: Any) -> Any:
    def run() -> Any:
        coro: Coroutine[Any, Any, Any] = coro_fn()
        return asyncio.run(asyncio.wait_for(coro, timeout=60))

    return await trio.to_thread.run_sync(run)


async def connect(port: int, key: str | None) -> api.APIClient:
    cli = api.APIClient("127.0.0.1", port, None, noise_psk=key, client_info="herald-e2e")
    for _ in range(50):  # the server binds just after READY
        try:
            await cli.connect(login=True)
            return cli
        except api.APIConnectionError:
            await asyncio.sleep(0.1)
    await cli.connect(login=True)
    return cli


async def test_home_assistant_announces_plays_a_wav_and_sets_volume_and_mute(
    tmp_path: Path,
    mosquitto: Mosquitto,
    emulator: Emulator,
    observer: Observer,
    nursery: trio.Nursery,
) -> None:
    media = MediaServer(
        {
            "/bell.wav": Route(body=wav(synth_pcm("Ding dong."))),
            "/chime.wav": Route(body=wav(synth_pcm("Bong."))),  # Home Assistant's pre-announce
        }
    )
    await nursery.start(media.serve)
    herald = esphome_herald(tmp_path, mosquitto, emulator, key=True)
    await start_online(herald, observer)
    port = herald.esphome_port  # type: ignore[attr-defined]
    text = "Someone is at the front door."
    url = media.url("/bell.wav")
    media_url_chime = media.url("/chime.wav")

    async def scenario() -> dict[str, Any]:
        cli = await connect(port, KEY)
        entities, _ = await cli.list_entities_services()
        player = next(e for e in entities if isinstance(e, api.MediaPlayerInfo))
        states: list[Any] = []
        cli.subscribe_states(states.append)
        done = await cli.send_voice_assistant_announcement_await_response(
            "", 60, text, preannounce_media_id=media_url_chime
        )
        cli.media_player_command(player.key, media_url=url, announcement=True)
        await asyncio.sleep(3.0)  # the WAV plays (about a second)
        cli.media_player_command(player.key, volume=0.35)
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.MUTE)
        await asyncio.sleep(1.0)
        await cli.disconnect()
        return {
            "done": done,
            "entities": [type(e).__name__ for e in entities],
            "states": len(states),
        }

    result = await in_client(scenario)
    assert result["done"].success
    assert "MediaPlayerInfo" in result["entities"] and result["states"] > 0
    await observer.wait_for(lambda: json.loads(observer.last(STATE) or "{}").get("mute") is True)
    state = json.loads(observer.last(STATE) or "{}")
    assert state["volume"] == 35  # the same volume MQTT shows (and the state file keeps)
    says = [e for e in observer.events() if e["event"] == "queued"]
    assert len(says) == 2 and all(e.get("origin") == "esphome" for e in says)
    sources = [e["source"] for e in observer.events() if e["event"] == "started"]
    assert sources == ["cartesia", "media"]
    assert await stop_cleanly(herald) == 0
    # Bit-exact: the pre-announce sound, the announcement as the emulator made it (no
    # gap between them), then the WAV's samples.
    assert herald.captured() == expected("Bong.", text, "Ding dong.")


async def test_plaintext_works_and_a_wrong_key_is_refused_with_a_clear_line(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = esphome_herald(tmp_path, mosquitto, emulator, key=True)
    await start_online(herald, observer)
    port = herald.esphome_port  # type: ignore[attr-defined]

    async def wrong() -> str:
        cli = api.APIClient("127.0.0.1", port, None, noise_psk=WRONG, client_info="e2e")
        try:
            for _ in range(50):
                try:
                    await cli.connect(login=True)
                except api.InvalidEncryptionKeyAPIError as exc:
                    return type(exc).__name__
                except api.APIConnectionError:
                    await asyncio.sleep(0.1)
            return "connected"
        finally:
            await cli.disconnect(force=True)

    assert await in_client(wrong) == "InvalidEncryptionKeyAPIError"
    assert await stop_cleanly(herald) == 0
    assert "wrong encryption key" in herald.logs() and KEY not in herald.logs()

    (tmp_path / "p").mkdir()
    plain = esphome_herald(tmp_path / "p", mosquitto, emulator, key=False)
    await start_online(plain, observer)

    async def plaintext() -> str:
        cli = await connect(plain.esphome_port, None)  # type: ignore[attr-defined]
        info = await cli.device_info()
        await cli.disconnect()
        return str(info.name)

    assert await in_client(plaintext) == "kitchen"
    assert await stop_cleanly(plain) == 0
