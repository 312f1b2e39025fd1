"""The official SDK (4.x) clones a voice from the emulator and speaks with it: the
emulator's POST /voices/clone accepts what the SDK sends and answers in a shape the
SDK's own models validate strictly."""

from __future__ import annotations

import io
from pathlib import Path

import cartesia
import pytest
from cartesia.types import VoiceMetadata

from cartesia_emulator import Emulator, synth_pcm
from sdk_rig import Sdk
from voice_clips import wav_bytes


@pytest.fixture
def sdk(tls_emulator: Emulator, ca_file: Path, api_key: str) -> Sdk:
    return Sdk(tls_emulator, ca_file, api_key)


async def test_sdk_clones_lists_and_speaks(sdk: Sdk) -> None:
    def clone_and_speak() -> tuple[VoiceMetadata, list[str], bytes]:
        client = sdk.client()
        made = client.voices.clone(
            clip=("nan.wav", io.BytesIO(wav_bytes(6.0)), "audio/wav"),
            name="Nan",
            language="en",
            description="Nan reading a story",
        )
        ids = [v.id for v in client.voices.list(limit=10)]
        audio = client.tts.generate(
            model_id="sonic-3",
            transcript="Once upon a time.",
            voice={"id": made.id},
            output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
        ).read()
        return made, ids, audio

    made, ids, audio = await sdk.run(clone_and_speak)
    assert isinstance(made, VoiceMetadata)
    assert (made.name, made.language, made.access, made.visibility) == (
        "Nan",
        "en",
        "private",
        "owner",
    )
    assert ids[-1] == made.id
    assert audio == synth_pcm("Once upon a time.")


async def test_sdk_sees_a_short_clip_as_a_bad_request(sdk: Sdk) -> None:
    def short() -> None:
        sdk.client().voices.clone(
            clip=("s.wav", io.BytesIO(wav_bytes(2.0)), "audio/wav"), name="S", language="en"
        )

    with pytest.raises(cartesia.BadRequestError) as info:
        await sdk.run(short)
    assert info.value.body["error_code"] == "clip_too_short"  # type: ignore[index]
