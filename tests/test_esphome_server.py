"""herald's ESPHome server against the real peer: aioesphomeapi, Home Assistant's own
client library, over TCP on loopback, in plaintext and with Noise.

The server talks to herald through a fake `SpeakerPort` (its port); everything
between the client's socket and that port is the real code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aioesphomeapi as api
import pytest
import trio

from esphome_support import KEY, MAC, OTHER_KEY, Bridge, FakeSpeakerPort, run_client, settings
from herald.esphome.port import AnnounceOutcome, Playback
from herald.esphome.server import EsphomeServer


@pytest.fixture
def port() -> FakeSpeakerPort:
    return FakeSpeakerPort()


async def start(nursery: trio.Nursery, port: FakeSpeakerPort, **overrides: Any) -> EsphomeServer:
    server = EsphomeServer(settings(**overrides), port)
    await nursery.start(server.run)
    assert server.bound_port
    return server


@pytest.fixture
async def plain(nursery: trio.Nursery, port: FakeSpeakerPort) -> AsyncIterator[EsphomeServer]:
    yield await start(nursery, port)


def client(server: EsphomeServer, key: str | None = None) -> api.APIClient:
    assert server.bound_port is not None
    return api.APIClient("127.0.0.1", server.bound_port, None, noise_psk=key, client_info="test")


async def wait_for(condition: Any, what: str, timeout: float = 5.0) -> None:
    # The client runs on real time in its own thread: a bounded wait for its callbacks.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def test_plaintext_device_entities_states_and_every_command(
    plain: EsphomeServer, port: FakeSpeakerPort, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "herald.esphome")

    async def scenario(bridge: Bridge) -> dict[str, Any]:
        cli = client(plain)
        await cli.connect(login=True)
        info = await cli.device_info()
        entities, services = await cli.list_entities_services()
        states: list[Any] = []
        cli.subscribe_states(states.append)
        player = next(e for e in entities if isinstance(e, api.MediaPlayerInfo))
        media_states = lambda: [s for s in states if isinstance(s, api.MediaPlayerEntityState)]  # noqa: E731
        await wait_for(lambda: media_states(), "the first state")
        first = media_states()[-1]

        cli.media_player_command(player.key, volume=0.75)
        await wait_for(lambda: media_states()[-1].volume == pytest.approx(0.75), "volume 0.75")
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.MUTE)
        await wait_for(lambda: media_states()[-1].muted, "muted")
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.UNMUTE)
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.VOLUME_UP)
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.VOLUME_DOWN)
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.STOP)
        cli.media_player_command(player.key, command=api.MediaPlayerCommand.PAUSE)  # unsupported
        cli.media_player_command(player.key, media_url="http://ha:8123/a.wav")
        cli.media_player_command(player.key, media_url="http://ha:8123/b.wav", announcement=True)
        calls = await bridge.run(port.wait_calls, 8)

        # herald's own volume change (MQTT, a button) reaches Home Assistant too.
        await bridge.run_sync(port.volume.set, 20)
        await wait_for(lambda: media_states()[-1].volume == pytest.approx(0.2), "volume 0.2")
        await bridge.run_sync(plain.button_pressed, "doorbell", "double")
        await bridge.run_sync(plain.button_pressed, "nosuch", "short")  # not listed: nothing
        await wait_for(lambda: any(isinstance(s, api.Event) for s in states), "the event")
        config = await cli.get_voice_assistant_configuration(5)
        await cli.disconnect()
        return {
            "info": info,
            "entities": entities,
            "services": services,
            "first": first,
            "calls": calls,
            "events": [s for s in states if isinstance(s, api.Event)],
            "config": config,
        }

    r = await run_client(scenario)
    info = r["info"]
    assert (info.name, info.friendly_name, info.mac_address) == (
        "herald-kitchen",
        "Kitchen speaker",
        MAC,
    )
    assert info.voice_assistant_feature_flags == (
        api.VoiceAssistantFeature.VOICE_ASSISTANT | api.VoiceAssistantFeature.ANNOUNCE
    )
    assert not info.uses_password
    assert not info.api_encryption_supported
    assert info.project_version == "0.1.0"

    player, event = r["entities"]
    assert isinstance(player, api.MediaPlayerInfo)
    assert player.name == "" and not player.supports_pause
    assert [
        (f.format, f.sample_rate, f.num_channels, f.sample_bytes, f.purpose)
        for f in player.supported_formats
    ] == [
        ("wav", 24000, 1, 2, api.MediaPlayerFormatPurpose.DEFAULT),
        ("wav", 24000, 1, 2, api.MediaPlayerFormatPurpose.ANNOUNCEMENT),
    ]
    features = api.MediaPlayerEntityFeature(player.feature_flags)
    for feature in ("PLAY_MEDIA", "STOP", "VOLUME_SET", "VOLUME_MUTE", "MEDIA_ANNOUNCE"):
        assert api.MediaPlayerEntityFeature[feature] in features
    assert api.MediaPlayerEntityFeature.PAUSE not in features
    assert isinstance(event, api.EventInfo)
    assert (event.name, event.device_class, list(event.event_types)) == (
        "Button doorbell",
        "button",
        ["short", "long", "double"],
    )
    assert r["services"] == []

    first = r["first"]
    assert (first.state, first.volume, first.muted) == (api.MediaPlayerState.IDLE, 0.4, False)
    assert r["calls"] == [
        ("set_volume", 75),
        ("set_mute", True),
        ("set_mute", False),
        ("step_volume", 1),
        ("step_volume", -1),
        ("stop",),
        ("play_media", "http://ha:8123/a.wav", False),
        ("play_media", "http://ha:8123/b.wav", True),
    ]
    assert [(e.key, e.event_type) for e in r["events"]] == [(event.key, "double")]
    assert list(r["config"].available_wake_words) == []
    assert r["config"].max_active_wake_words == 0
    assert "media player command 1: not supported" in caplog.text
    assert "ESPHome API: 127.0.0.1:" in caplog.text
    assert "connected (test, API 1." in caplog.text
    with trio.fail_after(5):
        while plain.connections:
            await trio.sleep(0.01)
    assert "disconnected: disconnected by the client" in caplog.text


async def test_announce_waits_for_the_port_then_reports_finished(
    plain: EsphomeServer, port: FakeSpeakerPort
) -> None:
    port.hold = True

    async def scenario(bridge: Bridge) -> dict[str, Any]:
        cli = client(plain)
        await cli.connect(login=True)
        states: list[Any] = []
        cli.subscribe_states(states.append)
        task = asyncio.ensure_future(
            cli.send_voice_assistant_announcement_await_response(
                "http://ha:8123/api/tts_proxy/x.wav",
                30,
                "Dinner is ready",
                preannounce_media_id="http://ha:8123/chime.wav",
            )
        )
        calls = await bridge.run(port.wait_calls, 1)
        await wait_for(
            lambda: any(
                isinstance(s, api.MediaPlayerEntityState)
                and s.state == api.MediaPlayerState.PLAYING
                for s in states
            ),
            "playing",
        )
        await asyncio.sleep(0.2)
        pending = not task.done()  # nothing comes back while herald speaks
        await bridge.run_sync(port.release)
        finished = await task
        await cli.disconnect()
        return {"calls": calls, "pending": pending, "finished": finished}

    r = await run_client(scenario)
    assert r["calls"] == [
        (
            "announce",
            "Dinner is ready",
            "http://ha:8123/api/tts_proxy/x.wav",
            "http://ha:8123/chime.wav",
        )
    ]
    assert r["pending"]
    assert r["finished"].success is True


async def test_a_failed_or_empty_announcement_reports_failure(
    plain: EsphomeServer, port: FakeSpeakerPort
) -> None:
    port.outcome = AnnounceOutcome(False, "failed", "no voice")

    async def scenario(bridge: Bridge) -> tuple[bool, bool, list[Any]]:
        cli = client(plain)
        await cli.connect(login=True)
        media = await cli.send_voice_assistant_announcement_await_response("http://ha/a.wav", 10)
        empty = await cli.send_voice_assistant_announcement_await_response("", 10, "  ")
        calls = await bridge.run_sync(lambda: list(port.calls))
        await cli.disconnect()
        return media.success, empty.success, calls

    media_ok, empty_ok, calls = await run_client(scenario)
    assert (media_ok, empty_ok) == (False, False)
    assert calls == [("announce", None, "http://ha/a.wav", None)]  # the empty one never got there


async def test_noise_with_the_right_key(nursery: trio.Nursery, port: FakeSpeakerPort) -> None:
    server = await start(nursery, port, key=KEY)

    async def scenario(bridge: Bridge) -> tuple[Any, list[Any], Any]:
        cli = client(server, KEY)
        await cli.connect(login=True)
        info = await cli.device_info()
        entities, _ = await cli.list_entities_services()
        states: list[Any] = []
        cli.subscribe_states(states.append)
        cli.media_player_command(entities[0].key, volume=0.5)
        await bridge.run(port.wait_calls, 1)
        finished = await cli.send_voice_assistant_announcement_await_response("", 10, "Hello")
        await cli.disconnect()
        return info, entities, finished

    info, entities, finished = await run_client(scenario)
    assert info.name == "herald-kitchen" and info.api_encryption_supported
    assert len(entities) == 2
    assert finished.success
    assert port.calls == [("set_volume", 50), ("announce", "Hello", None, None)]


async def test_a_wrong_key_is_refused_with_a_clear_log_line(
    nursery: trio.Nursery, port: FakeSpeakerPort, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start(nursery, port, key=KEY)

    async def scenario(bridge: Bridge) -> BaseException:
        cli = client(server, OTHER_KEY)
        try:
            await cli.connect(login=True)
        except api.APIConnectionError as exc:
            return exc
        raise AssertionError("connected with a wrong key")

    error = await run_client(scenario)
    assert isinstance(error, api.InvalidEncryptionKeyAPIError)
    with trio.fail_after(5):
        while "refused" not in caplog.text:
            await trio.sleep(0.01)
    assert (
        "disconnected: refused: wrong encryption key (Noise handshake MAC failure)" in caplog.text
    )
    assert port.calls == []
    for secret in (KEY, OTHER_KEY):
        assert secret not in caplog.text


async def test_plaintext_client_to_an_encrypted_server_and_back(
    nursery: trio.Nursery,
    plain: EsphomeServer,
    port: FakeSpeakerPort,
    caplog: pytest.LogCaptureFixture,
) -> None:
    encrypted = await start(nursery, port, key=KEY)

    async def scenario(bridge: Bridge) -> tuple[BaseException, BaseException]:
        errors = []
        for cli in (client(encrypted), client(plain, KEY)):
            try:
                await cli.connect(login=True)
            except api.APIConnectionError as exc:
                errors.append(exc)
        return errors[0], errors[1]

    needs_key, no_key = await run_client(scenario)
    assert isinstance(needs_key, api.RequiresEncryptionAPIError)
    assert isinstance(no_key, api.EncryptionPlaintextAPIError)
    with trio.fail_after(5):
        while caplog.text.count("refused") < 2:
            await trio.sleep(0.01)
    assert "the client does not use encryption, but an esphome key is set" in caplog.text
    assert "the client uses encryption, but no esphome key is configured" in caplog.text


async def test_too_many_clients_are_turned_away(
    plain: EsphomeServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(bridge: Bridge) -> int:
        clients = [client(plain) for _ in range(4)]
        for cli in clients:
            await cli.connect(login=True)
        extra = client(plain)
        try:
            await extra.connect(login=True)
        except api.APIConnectionError:
            refused = 1
        else:
            refused = 0
        for cli in clients:
            await cli.disconnect()
        return refused

    assert await run_client(scenario) == 1
    assert "refused: already 4 clients" in caplog.text


async def test_port_in_use_is_retried_not_fatal(
    nursery: trio.Nursery, port: FakeSpeakerPort, caplog: pytest.LogCaptureFixture
) -> None:
    first = await start(nursery, port)
    second = EsphomeServer(settings(port=first.bound_port), port)
    await nursery.start(second.run)  # started, though it could not bind
    assert second.bound_port is None
    assert "cannot listen on 127.0.0.1:" in caplog.text


def test_playback_states_map_to_home_assistants() -> None:
    from herald.esphome.entities import Entities, MediaState
    from herald.esphome.messages import pb

    entities = Entities(settings())
    assert entities.media_state(MediaState(Playback.ANNOUNCING, 100, True)).state == (
        pb.MEDIA_PLAYER_STATE_PLAYING
    )
