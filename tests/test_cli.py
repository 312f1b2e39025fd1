"""The ``herald`` command, run as a real subprocess against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import trio

from cartesia_emulator import VOICES, Emulator, synth_pcm
from daemon_harness import nonzero

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
