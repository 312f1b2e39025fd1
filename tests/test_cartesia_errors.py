"""Cartesia's errors in both shapes (issue 13): "Title: Message" before 2026-03-01,
structured JSON from it on. herald reads either into the same typed error, over the
real WebSocket and over REST, against the emulator (Cartesia as of December 2026)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from cartesia_emulator import VOICES, Emulator
from herald.cartesia.client import CartesiaClient, CloudState
from herald.cartesia.errors import (
    CartesiaError,
    ConfigRejected,
    DictionaryNotFound,
    ModelUnavailable,
    RequestRejected,
    VoiceNotFound,
    error_from,
    error_from_body,
)
from herald.cartesia.rest import CartesiaRest
from herald.cartesia.ws_adapter import TrioWsConnector
from herald.secret import Secret
from herald.voice import VoiceParams

LEGACY, STRUCTURED = "2025-04-16", "2026-08-14"
PARAMS = VoiceParams(model="sonic-3", voice=VOICES[0].id, language="en", sample_rate=24000)


@asynccontextmanager
async def client_for(emu: Emulator, version: str) -> AsyncIterator[CartesiaClient]:
    connector = TrioWsConnector(emu.ws_url, Secret("sk_car_test"), version)
    client = CartesiaClient(connector, rng=random.Random(7))
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        await client.status.wait_until(lambda s: s.state is CloudState.ONLINE)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()


async def ws_error(emu: Emulator, version: str, params: VoiceParams) -> CartesiaError:
    async with client_for(emu, version) as client, await client.open_context(params) as context:
        await context.push("Hello there, this is a test.")
        await context.finish()
        with pytest.raises(CartesiaError) as info:
            while await context.receive() is not None:
                pass
    return info.value


CASES = [
    (dataclasses.replace(PARAMS, model="sonic-2-2025-03-07"), ModelUnavailable, "cartesia.model"),
    (dataclasses.replace(PARAMS, model="sonic-english"), ModelUnavailable, "cartesia.model"),
    (dataclasses.replace(PARAMS, model="sonic-9"), ModelUnavailable, "cartesia.model"),
    (dataclasses.replace(PARAMS, voice="no-such-voice"), VoiceNotFound, "cartesia.voice"),
    (
        dataclasses.replace(PARAMS, pronunciation_dict_id="pdict_gone"),
        DictionaryNotFound,
        "cartesia.pronunciation_dict_id",
    ),
]


@pytest.mark.parametrize(("params", "kind", "key"), CASES)
async def test_both_shapes_give_the_same_typed_error_on_the_websocket(
    emulator: Emulator,
    autojump_clock: trio.testing.MockClock,
    params: VoiceParams,
    kind: type[ConfigRejected],
    key: str,
) -> None:
    legacy = await ws_error(emulator, LEGACY, params)
    structured = await ws_error(emulator, STRUCTURED, params)
    for error in (legacy, structured):
        assert type(error) is kind, (error, error.error_code)
        assert error.config_key == key
        assert "\n" not in str(error) and "sk_car_test" not in str(error)
    assert structured.request_id and legacy.request_id is None
    if kind is not DictionaryNotFound:  # the legacy dictionary error is vaguer by design
        assert legacy.error_code == structured.error_code


@pytest.mark.parametrize("version", [LEGACY, STRUCTURED])
async def test_rest_errors_in_either_shape(emulator: Emulator, version: str) -> None:
    rest = CartesiaRest(emulator.http_url, Secret("sk_car_test"), version)
    with pytest.raises(ModelUnavailable) as info:
        await rest.tts_bytes("Hi there.", dataclasses.replace(PARAMS, model="sonic"))
    assert "sunset" in str(info.value).lower()
    with pytest.raises(VoiceNotFound):
        await rest.get_voice("no-such-voice")


def test_the_two_shapes_of_one_error_parse_alike() -> None:
    legacy = error_from(400, legacy="Model sunsetted: The model sonic has been sunsetted.")
    structured = error_from(
        400,
        title="Model sunsetted",
        message="The model sonic has been sunsetted.",
        error_code="model_sunsetted",
        request_id="r-1",
    )
    assert type(legacy) is type(structured) is ModelUnavailable
    assert (
        legacy.message
        == structured.message
        == ("Model sunsetted: The model sonic has been sunsetted.")
    )
    assert legacy.error_code == structured.error_code == "model_sunsetted"


def test_bodies_that_are_not_errors_are_still_one_line() -> None:
    assert isinstance(error_from_body(400, b"\xff\xfe garbage"), RequestRejected)
    assert str(error_from_body(500, b"")) == "500: no details"
    deep = b"[" * 5000
    assert "no details" not in str(error_from_body(400, deep))  # a RecursionError is caught
    long = error_from_body(400, b'{"title": "T", "message": "' + b"x" * 5000 + b'"}')
    assert len(str(long)) < 400
