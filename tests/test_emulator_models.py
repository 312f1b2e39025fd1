"""Model ids as of the emulated day: the current ones, the sunset ones (model_sunsetted on
every version), ids that never existed (model_not_found), and the language limits of the
snapshots that were partly sunset on 2026-06-01."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from cartesia_emulator import MODELS, SERVICE_DATE, VERSIONS, Emulator, current_models, synth_pcm
from test_emulator_ws import audio_of, connect, gen, recv, send, until_end

KEY = "sk_car_test"
CURRENT = [
    "sonic-3",
    "sonic-3-2026-01-12",
    "sonic-3.5",
    "sonic-3.5-2026-05-04",
    "sonic-3.6",
    "sonic-3.6-2026-08-27",
    "sonic-3-latest",
    "sonic-latest",
]
SUNSET_IN_JUNE = [
    "sonic",
    "sonic-english",
    "sonic-multilingual",
    "sonic-2-2025-03-07",
    "sonic-turbo-2025-03-07",
]
SUNSET_IN_OCTOBER = [
    "sonic-2",
    "sonic-2-2025-04-16",
    "sonic-2-2025-05-08",
    "sonic-2-2025-06-11",
    "sonic-turbo",
    "sonic-turbo-2025-06-04",
    "sonic-3-2025-10-27",
]
SUNSET_BODY = {
    "error_code": "model_sunsetted",
    "title": "Model sunsetted",
    "message": "The requested model has been sunsetted and is no longer available.",
}
JULY = dt.date(2026, 7, 1)  # between the June and the October sunsets


def test_the_emulated_day_and_its_models() -> None:
    assert SERVICE_DATE.isoformat() == "2026-12-03"
    assert current_models() == frozenset(CURRENT)
    assert current_models(JULY) == frozenset(CURRENT + SUNSET_IN_OCTOBER)
    assert current_models(dt.date(2026, 5, 31)) >= frozenset(SUNSET_IN_JUNE)
    assert set(MODELS) >= set(CURRENT + SUNSET_IN_JUNE + SUNSET_IN_OCTOBER)


async def test_current_models_speak(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        for model in CURRENT:
            await send(ws, gen(model, "Hi there.", more=False, model_id=model, language="en"))
        got = await until_end(ws, *CURRENT)
    assert all(audio_of(msgs) == synth_pcm("Hi there.") for msgs in got.values())


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("model", SUNSET_IN_JUNE + SUNSET_IN_OCTOBER)
async def test_sunset_models_answer_model_sunsetted(
    emulator: Emulator, version: str, model: str
) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Hello there.", more=False, model_id=model))
        msg = await recv(ws)
    assert (msg["type"], msg["status_code"], msg["done"]) == ("error", 400, True)
    if version >= "2026-03-01":
        assert {k: msg[k] for k in SUNSET_BODY} == SUNSET_BODY
        assert msg["doc_url"] == (
            "https://docs.cartesia.ai/build-with-cartesia/tts-models/api-changes"
        )
    else:
        assert msg["error"] == f"{SUNSET_BODY['title']}: {SUNSET_BODY['message']}"


@pytest.mark.parametrize("version", ["2025-04-16", "2026-08-14"])
async def test_sunset_model_on_tts_bytes(emulator: Emulator, version: str) -> None:
    body = {
        "model_id": "sonic-english",
        "transcript": "Hello.",
        "voice": {"mode": "id", "id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
    }
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.post(
            "/tts/bytes", json=body, headers={"X-API-Key": KEY, "Cartesia-Version": version}
        )
    assert reply.status_code == 400
    if version >= "2026-03-01":
        error = reply.json()
        assert {k: error[k] for k in SUNSET_BODY} == SUNSET_BODY
        assert isinstance(error["request_id"], str)
    else:
        assert reply.text == f"{SUNSET_BODY['title']}: {SUNSET_BODY['message']}"


# Dated ids of snapshots that never existed, and ids of other vendors.
@pytest.mark.parametrize(
    "model",
    ["sonic-3-2026-12-01", "sonic-3.5-2026-01-01", "sonic-4", "sonic-2-2099-01-01", "tts-1", ""],
)
async def test_models_that_never_existed_are_model_not_found(
    emulator: Emulator, model: str
) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello there.", more=False, model_id=model))
        msg = await recv(ws)
    assert (msg["status_code"], msg["error_code"], msg["title"]) == (
        400,
        "model_not_found",
        "Invalid model",
    )


async def test_the_day_can_move_under_a_running_emulator(emulator: Emulator) -> None:
    emulator.today = JULY
    async with connect(emulator) as ws:
        await send(ws, gen("a", "Still here.", more=False, model_id="sonic-3-2025-10-27"))
        ok = (await until_end(ws, "a"))["a"]
        emulator.today = dt.date(2026, 10, 21)  # "sunsetted after October 20, 2026"
        await send(ws, gen("b", "Gone now.", more=False, model_id="sonic-3-2025-10-27"))
        gone = await recv(ws)
    assert audio_of(ok) == synth_pcm("Still here.")
    assert gone["error_code"] == "model_sunsetted"


SONIC_2_KEPT = ["en", "de", "es", "fr", "ja", "ko", "pt", "zh"]
DROPPED = ["it", "nl", "pl", "ru", "sv", "tr"]


@pytest.mark.parametrize(
    ("model", "kept"),
    [
        ("sonic-2-2025-04-16", SONIC_2_KEPT),
        ("sonic-2-2025-05-08", SONIC_2_KEPT),
        ("sonic-2-2025-06-11", SONIC_2_KEPT),
        ("sonic-2", SONIC_2_KEPT),
        ("sonic-turbo-2025-06-04", [*SONIC_2_KEPT, "hi"]),
    ],
)
async def test_language_limits_of_partly_sunset_snapshots(
    emulator: Emulator, model: str, kept: list[str]
) -> None:
    emulator.today = JULY
    refused = [*DROPPED, *([] if "hi" in kept else ["hi"]), "ar"]
    async with connect(emulator) as ws:
        for language in kept + refused:
            await send(ws, gen(language, "Hi.", more=False, model_id=model, language=language))
        got = await until_end(ws, *kept, *refused)
        await send(ws, gen("auto", "Hi.", more=False, model_id=model))  # no language: fine
        auto = (await until_end(ws, "auto"))["auto"]
    for language in kept:
        assert got[language][-1]["type"] == "done", language
    for language in refused:
        (err,) = got[language]
        assert (err["status_code"], err["error_code"]) == (400, "language_not_supported")
        assert f"does not support language {language!r}" in str(err["message"])
    assert auto[-1]["type"] == "done"


async def test_before_june_the_snapshots_spoke_every_language(emulator: Emulator) -> None:
    emulator.today = dt.date(2026, 5, 31)
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Ciao.", more=False, model_id="sonic-2-2025-06-11", language="it"))
        await send(ws, gen("d", "Hi.", more=False, model_id="sonic-english", language="en"))
        got = await until_end(ws, "c", "d")
    assert got["c"][-1]["type"] == got["d"][-1]["type"] == "done"


async def test_an_unknown_language_is_refused_by_every_model(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hi.", more=False, model_id="sonic-3.6", language="xx"))
        msg = await recv(ws)
    assert (msg["status_code"], msg["error_code"]) == (400, "language_not_supported")
