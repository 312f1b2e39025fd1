"""The ``herald`` command, run as a real subprocess against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import trio

from cartesia_emulator import VOICES, Emulator, synth_pcm
from daemon_harness import nonzero
from voice_clips import wav_bytes

KEY = "sk_car_test"


def write_config(tmp_path: Path, emu: Emulator, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[cartesia]
url = "{emu.ws_url}"
api_url = "{emu.http_url}"

[cache]
dir = "{tmp_path / "cache"}"
{extra}
"""
    )
    return path


async def herald(*args: str, key: str | None = KEY) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("CARTESIA_API_KEY", "HERALD_CONFIG")}
    if key is not None:
        env["CARTESIA_API_KEY"] = key
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "herald", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )


async def test_say_writes_a_wav_equal_to_the_emulators_audio(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path, emulator)
    out = tmp_path / "out.wav"
    text = "Hello there, this is herald."
    result = await herald("say", text, "--wav", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr.decode()
    with wave.open(str(out)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        samples = wav.readframes(wav.getnframes())
    assert samples == synth_pcm(text, 24000)


async def test_say_honours_the_configured_sample_rate(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, emulator, "[audio]\nsample_rate = 16000\n")
    out = tmp_path / "out.wav"
    result = await herald("say", "Sixteen kilohertz.", "--wav", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr.decode()
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 16000
        assert wav.readframes(wav.getnframes()) == synth_pcm("Sixteen kilohertz.", 16000)


async def test_say_with_a_rejected_key_fails_with_one_line_and_no_key(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path, emulator)
    secret = "sk_car_not_the_right_one"
    result = await herald(
        "say", "Hi!", "--wav", str(tmp_path / "x.wav"), "--config", str(config), key=secret
    )
    assert result.returncode == 1
    err = result.stderr.decode()
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert "401" in err
    assert "API key" in err
    assert secret not in err
    assert secret not in result.stdout.decode()
    assert not (tmp_path / "x.wav").exists()


async def test_say_without_a_key_says_how_to_set_one(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, emulator)
    result = await herald(
        "say", "Hi!", "--wav", str(tmp_path / "x.wav"), "--config", str(config), key=None
    )
    assert result.returncode == 1
    assert "CARTESIA_API_KEY" in result.stderr.decode()


async def test_voices_lists_every_page(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, emulator)
    result = await herald("voices", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr.decode()
    listed = json.loads(result.stdout)
    assert sorted(v["id"] for v in listed) == sorted(v.id for v in VOICES)
    plain = await herald("voices", "--config", str(config))
    assert plain.returncode == 0
    assert len(plain.stdout.decode().splitlines()) == len(VOICES)


async def test_config_check_names_all_three_errors(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        """
[mqtt]
port = 70000
hots = "broker.lan"

[audio]
volume = "loud"
"""
    )
    result = await herald("config", "check", "--config", str(config))
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "mqtt.port" in err
    assert "70000" in err
    assert "mqtt.hots" in err
    assert "audio.volume" in err
    assert "'loud'" in err or '"loud"' in err


async def test_config_check_passes_on_the_example_config() -> None:
    example = Path(__file__).parent.parent / "config" / "herald.toml"
    result = await herald("config", "check", "--config", str(example))
    assert result.returncode == 0, result.stderr.decode()
    assert b"OK" in result.stdout


async def test_config_check_never_prints_the_key(tmp_path: Path) -> None:
    secret = "sk_car_super_secret_value"
    key_file = tmp_path / "key"
    key_file.write_text(secret + "\n")
    config = tmp_path / "c.toml"
    config.write_text(f'[cartesia]\napi_key_file = "{key_file}"\nmodel = 3\n')
    result = await herald("config", "check", "--config", str(config), key=secret)
    assert result.returncode != 0
    assert secret not in (result.stdout + result.stderr).decode()


async def test_say_plays_through_the_jitter_buffer_and_alsa_bit_exact(
    emulator: Emulator, tmp_path: Path
) -> None:
    """emulator → client → jitter buffer → pyalsaaudio → ALSA's file plugin."""
    raw = tmp_path / "speaker.raw"
    config = write_config(tmp_path, emulator, f'[audio]\ndevice = "file:FILE={raw},FORMAT=raw"\n')
    text = "Hello there, this is herald playing through ALSA."
    emulator.faults.chunk_samples = 480
    emulator.faults.chunk_delay = 0.005
    emulator.faults.chunk_jitter = 0.02
    result = await herald("say", text, "--config", str(config))
    assert result.returncode == 0, result.stderr.decode()
    assert nonzero(raw.read_bytes()) == nonzero(synth_pcm(text, 24000))


async def test_say_to_a_missing_device_fails_with_one_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path, emulator, '[audio]\ndevice = "hw:CARD=NoSuchCard"\n')
    result = await herald("say", "Hi there!", "--config", str(config))
    assert result.returncode == 1
    err = result.stderr.decode().strip()
    assert len(err.splitlines()) == 1
    assert "NoSuchCard" in err


async def test_cache_warm_list_prune(emulator: Emulator, tmp_path: Path) -> None:
    from herald.app import voice_defaults
    from herald.cache import ClipCache, clip_key
    from herald.config import load_config

    config = write_config(tmp_path, emulator)
    phrases = tmp_path / "phrases.txt"
    phrases.write_text(
        "# doorbell and friends\nSomeone is at the front door.\n\nDinner is ready.\n"
    )
    result = await herald(
        "cache", "warm", "Good morning.", "--file", str(phrases), "--config", str(config)
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "warmed 3" in result.stdout.decode()
    again = await herald("cache", "warm", "Dinner is ready.", "--config", str(config))
    assert "warmed 0 phrase(s); 1 already cached" in again.stdout.decode()
    # the daemon's key: what `herald run` looks up finds exactly the emulator's audio
    cfg = load_config(config, {})
    cache = ClipCache.from_config(cfg.cache)
    clip = cache.get(clip_key("Dinner is ready.", voice_defaults(cfg), "cartesia"))
    assert clip is not None and clip.pcm == synth_pcm("Dinner is ready.", 24000)
    listed = await herald("cache", "list", "--config", str(config))
    assert listed.returncode == 0
    out = listed.stdout.decode()
    assert "Good morning." in out and "front door" in out
    pruned = await herald("cache", "prune", "--all", "--config", str(config))
    assert pruned.returncode == 0, pruned.stderr.decode()
    assert ClipCache.from_config(cfg.cache).entries() == []


# --- voices: listing, cloning, mixing ------------------------------------------------


def transcripts(emu: Emulator) -> list[str]:
    """What each context was asked to say: its transcripts joined, in order."""
    joined: dict[str, str] = {}
    for r in emu.received:
        cid = r.msg.get("context_id")
        if isinstance(cid, str) and isinstance(r.msg.get("transcript"), str):
            joined[cid] = joined.get(cid, "") + str(r.msg["transcript"])
    return list(joined.values())


def sent_voices(emu: Emulator) -> list[object]:
    return [r.msg["voice"] for r in emu.received if str(r.msg.get("transcript", "")).strip()]


async def test_voices_follows_the_cursor_over_several_pages(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.faults.page_cap = 4  # fewer than herald asks for: it must follow the cursor
    for version in ("2025-04-16", "2026-08-14"):
        config = config_with(tmp_path, emulator, f'version = "{version}"')
        result = await herald("voices", "--json", "--config", str(config))
        assert result.returncode == 0, result.stderr.decode()
        listed = json.loads(result.stdout)
        assert [v["id"] for v in listed] == [v.id for v in VOICES]
        assert set(listed[0]) == {"id", "name", "language", "description"}
        assert listed[7]["language"] == "fr"


async def test_clone_round_trip_listed_and_spoken(emulator: Emulator, tmp_path: Path) -> None:
    clip = tmp_path / "grandma.wav"
    clip.write_bytes(wav_bytes(6.0))
    config = write_config(tmp_path, emulator)
    result = await herald(
        "voices", "clone", str(clip), "--name", "Grandma Rose", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    (new,) = [v for v in emulator.catalogue if v.name == "Grandma Rose"]
    assert f'cloned "Grandma Rose" from 6.0 s of audio: {new.id}' in out
    assert f'  voice = "{new.id}"' in out.splitlines()
    assert f'  voices = [{{name = "grandma-rose", id = "{new.id}"}}]' in out.splitlines()
    assert new.language == "en" and new.is_owner
    listed = await herald("voices", "--json", "--config", str(config))
    assert json.loads(listed.stdout)[-1] == {
        "id": new.id,
        "name": "Grandma Rose",
        "language": "en",
        "description": "",
    }
    # The line it printed, in the config: `herald say` speaks with the new voice.
    named = config.read_text().replace(
        "[cartesia]\n", f'[cartesia]\nvoice = "grandma-rose"\n{out.splitlines()[-1].strip()}\n'
    )
    config.write_text(named)
    wav = tmp_path / "out.wav"
    said = await herald("say", "Hello, my dear.", "--wav", str(wav), "--config", str(config))
    assert said.returncode == 0, said.stderr.decode()
    assert sent_voices(emulator) == [{"mode": "id", "id": new.id}]


async def test_clone_json_and_language(emulator: Emulator, tmp_path: Path) -> None:
    clip = tmp_path / "abuela.wav"
    clip.write_bytes(wav_bytes(5.0, rate=44100, channels=2))
    config = write_config(tmp_path, emulator, "")
    config.write_text(
        config.read_text().replace("[cartesia]\n", '[cartesia]\nlanguage = "pt-BR"\n')
    )
    result = await herald(
        "voices", "clone", str(clip), "--name", "Vó", "--json", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr.decode()
    made = json.loads(result.stdout)
    assert (made["name"], made["language"]) == ("Vó", "pt")  # a bare code for the clone
    spanish = await herald(
        "voices", "clone", str(clip), "--name", "Abuela", "--language", "es",
        "--description", "Abuela Carmen", "--config", str(config),
    )  # fmt: skip
    assert spanish.returncode == 0, spanish.stderr.decode()
    assert [(v.language, v.description) for v in emulator.catalogue][-1] == ("es", "Abuela Carmen")


async def test_clone_checks_the_file_first_in_one_line(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, emulator)
    short = tmp_path / "short.wav"
    short.write_bytes(wav_bytes(3.2))
    mp3 = tmp_path / "voice.mp3"
    mp3.write_bytes(b"ID3\x04\x00" + b"\x00" * 5000)
    cases = [
        (short, "3.2 s of audio; a clone needs at least 5 s"),
        (mp3, "not a WAV file (no RIFF/WAVE header); convert it first"),
        (tmp_path / "missing.wav", "cannot read"),
        (tmp_path, "cannot read"),
    ]
    for path, words in cases:
        result = await herald("voices", "clone", str(path), "--name", "X", "--config", str(config))
        err = result.stderr.decode()
        assert result.returncode == 1, err
        assert len(err.strip().splitlines()) == 1 and words in err, err
        assert str(path) in err
    bad_language = await herald(
        "voices", "clone", str(short), "--name", "X", "--language", "English",
        "--config", str(config),
    )  # fmt: skip
    assert bad_language.returncode == 1
    assert len(emulator.catalogue) == len(VOICES)  # nothing was uploaded


async def test_clone_error_from_cartesia_is_one_line_without_the_key(
    emulator: Emulator, tmp_path: Path
) -> None:
    clip = tmp_path / "x.wav"
    clip.write_bytes(wav_bytes(6.0))
    config = write_config(tmp_path, emulator)
    secret = "sk_car_wrong_secret_value"
    result = await herald(
        "voices", "clone", str(clip), "--name", "X", "--config", str(config), key=secret
    )
    err = result.stderr.decode()
    assert result.returncode == 1 and len(err.strip().splitlines()) == 1
    assert "401" in err and secret not in err + result.stdout.decode()


def config_with(tmp_path: Path, emu: Emulator, cartesia: str, extra: str = "") -> Path:
    config = write_config(tmp_path, emu, extra)
    config.write_text(config.read_text().replace("[cartesia]\n", f"[cartesia]\n{cartesia}\n"))
    return config


REMOVED = "Cartesia removed voice embeddings and mixing on 2026-06-01"


async def test_voices_mix_is_gone_and_says_why(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, emulator)
    result = await herald("voices", "mix", VOICES[1].id, "--name", "blend", "--config", str(config))
    err = result.stderr.decode()
    assert result.returncode == 1 and len(err.strip().splitlines()) == 1
    assert REMOVED in err and "herald voices clone" in err
    assert not emulator.received and emulator.connections_opened == 0  # nothing was asked


@pytest.mark.parametrize("version", ["2025-04-16", "2025-11-04", "2026-08-14"])
async def test_config_check_refuses_a_mix_block_on_any_version(
    tmp_path: Path, version: str
) -> None:
    embedding = "[" + ", ".join(["0.1"] * 192) + "]"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[cartesia]\nversion = "{version}"\nvoice = "blend"\n'
        f'[[cartesia.mix]]\nname = "blend"\nvoices = [{{embedding = {embedding}}}]\n'
    )
    result = await herald("config", "check", "--config", str(config))
    header, *errors = result.stderr.decode().strip().splitlines()
    assert result.returncode == 1 and header.endswith("1 error(s)")
    (line,) = errors  # one line, nothing else wrong
    assert "cartesia.mix:" in line and REMOVED in line and "herald voices clone" in line
    without = config.read_text().split("[[cartesia.mix]]")[0].replace('voice = "blend"\n', "")
    config.write_text(without)
    assert (await herald("config", "check", "--config", str(config))).returncode == 0


# --- transforms and generation settings from `herald say` and `cache warm` ------------

TRANSFORMS = """
[[transforms]]
replace = {Siobhan = "Shiv-awn"}

[[transforms]]
spell = "phone_numbers"

[[transforms]]
pause_after_questions = 0.6
"""


async def test_say_sends_the_transformed_text_and_generation_settings(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.pronunciation_dicts.add("pdict_home")  # the account has it
    config = config_with(
        tmp_path,
        emulator,
        'speed = 0.9\nemotion = "calm"\nloudness = 1.25\npronunciation_dict_id = "pdict_home"',
        TRANSFORMS,
    )
    text = "Siobhan, is that you? Call 555-123-4567 please."
    wav = tmp_path / "out.wav"
    result = await herald("say", text, "--wav", str(wav), "--config", str(config))
    assert result.returncode == 0, result.stderr.decode()
    expected = 'Shiv-awn, is that you?<break time="0.6s"/> Call <spell>555-123-4567</spell> please.'
    assert transcripts(emulator) == [expected]
    first = next(r.msg for r in emulator.received if r.msg.get("transcript"))
    assert first["generation_config"] == {"speed": 0.9, "emotion": "calm", "volume": 1.25}
    assert first["pronunciation_dict_id"] == "pdict_home"
    with wave.open(str(wav)) as w:
        assert w.readframes(w.getnframes()) == synth_pcm(expected, 24000)


async def test_cache_warm_keys_the_transformed_text(emulator: Emulator, tmp_path: Path) -> None:
    from herald.cache import ClipCache, clip_key
    from herald.config import load_config
    from herald.speech.voicing import Voicing, voice_defaults

    config = config_with(tmp_path, emulator, "", TRANSFORMS)
    phrase = "Siobhan? Ring 555-123-4567."
    result = await herald("cache", "warm", phrase, "--config", str(config))
    assert result.returncode == 0, result.stderr.decode()
    spoken = 'Shiv-awn?<break time="0.6s"/> Ring <spell>555-123-4567</spell>.'
    assert transcripts(emulator) == [spoken]
    cfg = load_config(config, {})
    assert Voicing.from_config(cfg).text(phrase) == spoken
    cache = ClipCache.from_config(cfg.cache)
    clip = cache.get(clip_key(spoken, voice_defaults(cfg), "cartesia"))
    assert clip is not None and clip.pcm == synth_pcm(spoken, 24000)
    assert cache.get(clip_key(phrase, voice_defaults(cfg), "cartesia")) is None
