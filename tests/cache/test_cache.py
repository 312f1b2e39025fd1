"""The clip cache: keys, the file format, verified reads, atomic writes, LRU and the
CLI helpers. Plain sync tests on real files in tmp_path."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import stat
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.cache import ClipCache, ClipMeta, CorruptClip, clip_key, normalize_text
from herald.cache.format import FIXED_HEADER_SIZE, MAGIC, decode, encode
from herald.cache.key import Source
from herald.cli.cache import (
    CacheUnavailable,
    list_lines,
    progress_line,
    prune,
    read_phrases,
)
from herald.config import CacheConfig
from herald.voice import VoiceParams

PARAMS = VoiceParams(model="sonic-3", voice="voice-a", language="en", sample_rate=24000)


def pcm(n: int, seed: int = 0) -> bytes:
    """``n`` bytes of deterministic, non-repeating 'audio' (n even for s16le)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += zlib.crc32(f"{seed}:{i}".encode()).to_bytes(4, "little")
        i += 1
    return bytes(out[:n])


def put(
    cache: ClipCache,
    text: str,
    audio: bytes,
    *,
    params: VoiceParams = PARAMS,
    source: Source = "cartesia",
    chunk: int = 4096,
) -> str:
    key = clip_key(text, params, source)
    with cache.begin(key, ClipMeta.from_params(text, params, source)) as w:
        for i in range(0, len(audio), chunk):
            w.append(audio[i : i + chunk])
        assert w.commit()
    return key


def files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# --- keys ---


def test_normalize_collapses_whitespace_and_composes_unicode() -> None:
    assert normalize_text("Hello  world") == normalize_text(" Hello world ") == "Hello world"
    assert normalize_text("a\t\n b\u00a0 c") == "a b c"
    assert normalize_text("Cafe\u0301") == normalize_text("Caf\u00e9")
    # case and punctuation change speech: kept
    assert normalize_text("Hello world!") != normalize_text("hello world")


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_key_normalizes_text() -> None:
    assert clip_key("Hello  world", PARAMS, "cartesia") == clip_key(
        " Hello world ", PARAMS, "cartesia"
    )
    assert clip_key("Hello world", PARAMS, "cartesia") != clip_key(
        "Hello world.", PARAMS, "cartesia"
    )


def test_local_and_cloud_clips_are_keyed_apart() -> None:
    assert clip_key("Hi", PARAMS, "cartesia") != clip_key("Hi", PARAMS, "local")
    with pytest.raises(ValueError, match="source"):
        clip_key("Hi", PARAMS, "piper")  # type: ignore[arg-type]


CHANGED: dict[str, Any] = {
    "model": "sonic-2",
    "voice": "voice-b",
    "language": "fr",
    "sample_rate": 16000,
    "encoding": "pcm_f32le",
    "speed": 1.2,
    "emotion": "positivity",
    "volume": 0.5,
    "pronunciation_dict_id": "dict-1",
}


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(VoiceParams)])
def test_every_voice_setting_changes_the_key(field: str) -> None:
    changed = dataclasses.replace(PARAMS, **{field: CHANGED[field]})
    assert clip_key("Hi", changed, "cartesia") != clip_key("Hi", PARAMS, "cartesia")


def test_equal_numbers_give_equal_keys() -> None:
    a = dataclasses.replace(PARAMS, speed=1.0)
    b = dataclasses.replace(PARAMS, speed=1)
    assert clip_key("Hi", a, "cartesia") == clip_key("Hi", b, "cartesia")
    assert clip_key("Hi", a, "cartesia") != clip_key("Hi", PARAMS, "cartesia")  # None


# --- format ---

META = ClipMeta.from_params("Hello world", PARAMS, "cartesia")
KEY = clip_key("Hello world", PARAMS, "cartesia")


@given(st.binary(max_size=4000), st.text(max_size=200))
def test_format_round_trip(payload: bytes, text: str) -> None:
    meta = ClipMeta.from_params(text, PARAMS, "local")
    clip = decode(encode(KEY, meta, payload), key=KEY)
    assert clip.pcm == payload
    assert clip.meta == meta


@settings(max_examples=300)
@given(st.data())
def test_any_flipped_byte_or_truncation_is_detected(data: st.DataObject) -> None:
    blob = encode(KEY, META, pcm(600))
    pos = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(blob)
    flipped[pos] ^= 1 << bit
    with pytest.raises(CorruptClip):
        decode(bytes(flipped), key=KEY)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(CorruptClip):
        decode(blob[:cut], key=KEY)


def test_header_layout() -> None:
    blob = encode(KEY, META, b"\x01\x02")
    assert blob[:8] == MAGIC == b"HRLDCLIP"
    assert FIXED_HEADER_SIZE == 80
    version, _, rate = struct.unpack_from("<HHI", blob, 8)
    assert (version, rate) == (1, 24000)
    assert blob[16:32].rstrip(b"\0") == b"pcm_s16le"
    assert blob.endswith(b"\x01\x02")


# --- store: round trip, abort ---


def test_repeated_text_is_bit_exact(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    audio = pcm(100_000)
    key = put(cache, "Good  morning", audio, chunk=1000)
    again = clip_key(" Good morning ", PARAMS, "cartesia")
    assert again == key
    for c in (cache, ClipCache(tmp_path, 10 << 20)):  # and after a restart
        clip = c.get(again)
        assert clip is not None
        assert clip.pcm == audio
        assert clip.meta.text == "Good morning"
        assert clip.meta.source == "cartesia"
        assert clip.duration == pytest.approx(100_000 / 2 / 24000)
    assert files(tmp_path) == [f"{key}.clip"]
    assert stat.S_IMODE((tmp_path / f"{key}.clip").stat().st_mode) == 0o640


def test_local_clip_is_never_served_as_cloud_audio(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    put(cache, "Hi", pcm(1000), source="local")
    assert cache.get(clip_key("Hi", PARAMS, "cartesia")) is None
    local = cache.get(clip_key("Hi", PARAMS, "local"))
    assert local is not None and local.meta.source == "local"


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "c", 10 << 20)
    w = cache.begin(KEY, META)
    w.append(pcm(10_000))
    w.abort()
    w.append(pcm(10))  # ignored once closed
    assert not w.commit()
    assert w.state == "aborted"
    assert files(tmp_path / "c") == []
    assert cache.get(KEY) is None
    assert cache.stats.aborted == 1


def test_interrupted_audio_is_not_cached(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted), cache.begin(KEY, META) as w:
        w.append(pcm(4000))
        raise Interrupted  # e.g. trio.Cancelled, or the socket failed before done
    with cache.begin(KEY, META) as w:
        w.append(pcm(4000))  # left without commit: no done received
    assert files(tmp_path) == []
    assert cache.get(KEY) is None


def test_empty_or_partial_sample_audio_is_refused(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    assert not cache.begin(KEY, META).commit()
    w = cache.begin(KEY, META)
    w.append(b"\x00\x01\x02")  # s16le: 1.5 samples
    assert not w.commit()
    assert w.state == "rejected"
    assert files(tmp_path) == []


def test_writer_streams_to_disk(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 100 << 20)
    w = cache.begin(KEY, META)
    for _ in range(16):
        w.append(pcm(65536))
    (tmp,) = tmp_path.iterdir()
    assert tmp.name.startswith(f".tmp-{os.getpid()}-")
    assert tmp.stat().st_size >= 15 * 65536  # on disk already, not held in RAM
    assert w.commit()
    assert files(tmp_path) == [f"{KEY}.clip"]


# --- store: verification ---


def _corrupt_cases(blob: bytes) -> dict[str, tuple[bytes, str]]:
    meta_len, payload_len = struct.unpack_from("<IQ", blob, 32)
    flipped = bytearray(blob)
    flipped[-100] ^= 0x10
    magic = b"RIFFWAVE" + blob[8:]
    # A payload length that disagrees with the file, with a valid header checksum:
    # the length check alone must catch it.
    longer = bytearray(blob)
    struct.pack_into("<Q", longer, 36, payload_len + 2)
    crc = zlib.crc32(bytes(longer[80 : 80 + meta_len]), zlib.crc32(bytes(longer[:76])))
    struct.pack_into("<I", longer, 76, crc)
    huge_meta = bytearray(blob)
    struct.pack_into("<I", huge_meta, 32, 1 << 30)
    return {
        "truncated": (blob[:-1000], "truncated payload"),
        "truncated header": (blob[:40], "truncated header"),
        "flipped byte": (bytes(flipped), "payload checksum"),
        "wrong magic": (magic, "bad magic"),
        "bad payload length": (bytes(longer), "truncated payload"),
        "bad metadata length": (bytes(huge_meta), "metadata length"),
        "trailing bytes": (blob + b"\0\0", "after the payload"),
        "empty": (b"", "truncated header"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases(encode(KEY, META, pcm(4000)))))
def test_corrupt_clip_is_detected_deleted_and_not_played(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    key = put(cache, "Hello world", pcm(4000))
    path = tmp_path / f"{key}.clip"
    data, reason = _corrupt_cases(path.read_bytes())[case]
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="herald.cache"):
        assert cache.get(key) is None
    assert not path.exists()
    assert cache.stats.corrupt_removed == 1
    assert cache.stats.as_dict()["cache.corrupt_removed"] == 1
    assert reason in caplog.text
    assert cache.total_bytes == 0


def test_a_clip_reached_through_a_symlink_is_not_served(tmp_path: Path) -> None:
    # A valid clip elsewhere, linked into the cache under its own key: reading it
    # would follow the link anywhere (issue 14). The link goes, its target stays.
    elsewhere = ClipCache(tmp_path / "elsewhere", 10 << 20)
    key = put(elsewhere, "Linked.", pcm(4000))
    target = tmp_path / "elsewhere" / f"{key}.clip"
    before = target.read_bytes()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{key}.clip").symlink_to(target)
    assert ClipCache(tmp_path / "cache", 10 << 20).get(key) is None
    assert target.read_bytes() == before


def test_clip_under_another_key_is_not_served(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    key = put(cache, "Hello world", pcm(4000))
    other = clip_key("Goodbye", PARAMS, "cartesia")
    (tmp_path / f"{key}.clip").rename(tmp_path / f"{other}.clip")
    assert ClipCache(tmp_path, 10 << 20).get(other) is None
    assert files(tmp_path) == []


def test_scan_at_start_reads_no_clip(tmp_path: Path) -> None:
    key = clip_key("x", PARAMS, "cartesia")
    (tmp_path / f"{key}.clip").write_bytes(b"\xff" * 1000)  # garbage of plausible size
    (tmp_path / f"{KEY}.clip").write_bytes(b"\xff" * 10)  # smaller than any header
    cache = ClipCache(tmp_path, 10 << 20)
    assert cache.stats.corrupt_removed == 1  # only the one stat alone condemns
    assert len(cache) == 1 and cache.total_bytes == 1000
    assert cache.get(key) is None
    assert cache.stats.corrupt_removed == 2
    assert files(tmp_path) == []


# --- store: LRU and the cap ---


def _clip_size(cache: ClipCache, key: str) -> int:
    return cache.path(key).stat().st_size


def test_lru_eviction_keeps_the_cap(tmp_path: Path) -> None:
    probe = ClipCache(tmp_path / "probe", 10 << 20)
    size = _clip_size(probe, put(probe, "a", pcm(10_000)))
    cap = 3 * size + size // 2  # room for three clips
    cache = ClipCache(tmp_path / "c", cap)
    a, b, c = (put(cache, t, pcm(10_000, i)) for i, t in enumerate("abc"))
    for age, key in ((300, a), (200, b), (100, c)):  # a is the least recently used
        t = 1_700_000_000 - age
        os.utime(cache.path(key), (t, t))
    cache = ClipCache(tmp_path / "c", cap)  # restart: last use comes from mtime
    assert cache.get(a) is not None  # a hit makes a the most recently used
    d = put(cache, "d", pcm(10_000, 3))
    assert cache.total_bytes <= cap
    assert cache.get(b) is None and not cache.path(b).exists()
    assert all(cache.path(k).exists() for k in (a, c, d))  # (a get would mark them used)
    e = put(cache, "e", pcm(10_000, 4))
    assert not cache.path(c).exists()
    assert {k for k in (a, c, d, e) if cache.path(k).exists()} == {a, d, e}
    assert cache.stats.evicted == 2
    assert sum(p.stat().st_size for p in (tmp_path / "c").iterdir()) <= cap


def test_lower_cap_is_enforced_at_start(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    keys = [put(cache, str(i), pcm(10_000, i)) for i in range(5)]
    for i, key in enumerate(keys):
        os.utime(cache.path(key), (1_700_000_000 + i, 1_700_000_000 + i))
    size = _clip_size(cache, keys[0])
    small = ClipCache(tmp_path, 2 * size)
    assert [cache.path(k).exists() for k in keys] == [False, False, False, True, True]
    assert small.total_bytes == 2 * size


def test_hits_write_the_mtime_at_most_once_per_interval(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    key = put(cache, "a", pcm(1000))
    os.utime(cache.path(key), (1_000_000, 1_000_000))
    cache = ClipCache(tmp_path, 10 << 20)
    assert cache.get(key) is not None
    touched = cache.path(key).stat().st_mtime
    assert touched > 1_000_000
    os.utime(cache.path(key), (2_000_000_000, 2_000_000_000))
    assert cache.get(key) is not None  # within the interval: no second write
    assert cache.path(key).stat().st_mtime == 2_000_000_000


def test_a_clip_larger_than_the_cap_is_not_kept(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 20_000)
    small = put(cache, "small", pcm(2000))
    key = clip_key("big", PARAMS, "cartesia")
    w = cache.begin(key, ClipMeta.from_params("big", PARAMS, "cartesia"))
    for i in range(10):
        w.append(pcm(4000, i))
    assert not w.commit()
    assert files(tmp_path) == [f"{small}.clip"]  # and nothing else was evicted for it
    assert cache.get(small) is not None


# --- store: crash leftovers, bad directories ---


def test_stale_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    dead = tmp_path / ".tmp-999999999-0123abcd"  # above pid_max: no such process
    odd = tmp_path / ".tmp-garbage"
    live = tmp_path / ".tmp-1-0123abcd"  # pid 1 is alive: a writer in another process
    mine = tmp_path / f".tmp-{os.getpid()}-0123abcd"
    foreign = tmp_path / "notes.txt"
    for p in (dead, odd, live, mine, foreign):
        p.write_bytes(b"partial")
    cache = ClipCache(tmp_path, 10 << 20)
    assert files(tmp_path) == sorted([live.name, mine.name, foreign.name])
    assert cache.stats.temp_removed == 2
    assert len(cache) == 0


def test_missing_dir_is_created(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    cache = ClipCache.from_config(CacheConfig(dir=str(d), max_mb=3))
    assert cache.enabled and d.is_dir()
    assert cache.max_bytes == 3 * 1024 * 1024
    assert stat.S_IMODE(d.stat().st_mode) == 0o750 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _assert_acts_as_empty(cache: ClipCache) -> None:
    assert not cache.enabled and cache.error is not None
    assert cache.get(KEY) is None
    w = cache.begin(KEY, META)
    w.append(pcm(100))
    assert not w.commit()
    assert cache.entries() == []
    assert cache.total_bytes == 0
    with pytest.raises(CacheUnavailable, match="unusable"):
        list_lines(cache)


def test_dir_that_cannot_be_created_acts_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("x")
    with caplog.at_level(logging.ERROR, logger="herald.cache"):
        cache = ClipCache(tmp_path / "file" / "cache", 1 << 20)
        _assert_acts_as_empty(cache)
    assert len(caplog.records) == 1  # reported once
    assert str(tmp_path / "file" / "cache") in caplog.text


def test_write_errors_at_run_time_are_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = tmp_path / "c"
    cache = ClipCache(d, 1 << 20)
    d.rmdir()  # e.g. the card was remounted read-only
    with caplog.at_level(logging.ERROR, logger="herald.cache"):
        for _ in range(3):
            w = cache.begin(KEY, META)
            w.append(pcm(100))
            assert not w.commit()
            assert w.state == "failed"
    assert len(caplog.records) == 1
    assert cache.stats.write_errors == 3
    d.mkdir()
    put(cache, "Hello world", pcm(100))  # recovers by itself


def test_concurrent_writers_and_readers(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 200_000)
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(30):
            text = f"phrase {(n * 7 + i) % 12}"
            key = clip_key(text, PARAMS, "cartesia")
            clip = cache.get(key)
            if clip is not None and clip.pcm != pcm(6000, hash(text) % 1000):
                errors.append(text)
            put(cache, text, pcm(6000, hash(text) % 1000))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.stats.corrupt_removed == 0
    on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert on_disk == cache.total_bytes <= 200_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


# --- maintenance and CLI helpers ---


def test_entries_list_and_prune(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, 10 << 20)
    good = put(cache, "Turn   the lights off", pcm(48_000))
    bad = put(cache, "broken", pcm(4000))
    blob = bytearray(cache.path(bad).read_bytes())
    blob[-1] ^= 1  # payload damage: only a full read finds it
    cache.path(bad).write_bytes(bytes(blob))
    headless = put(cache, "headless", pcm(4000))
    cache.path(headless).write_bytes(b"NOTACLIP" + bytes(200))
    (tmp_path / ".tmp-999999999-dead").write_bytes(b"x")

    infos = {i.key: i for i in cache.entries()}
    assert infos[good].text == "Turn the lights off"
    assert infos[good].duration == pytest.approx(1.0)
    assert infos[good].source == "cartesia" and infos[good].voice == "voice-a"
    assert infos[bad].error is None  # header is fine
    error = infos[headless].error
    assert error is not None and "magic" in error

    lines = list_lines(cache)
    assert lines[0].split()[:3] == ["KEY", "SOURCE", "VOICE"]
    assert any(good[:12] in line and "Turn the lights off" in line for line in lines)
    assert any(headless[:12] in line and "CORRUPT" in line for line in lines)
    assert lines[-1].startswith("3 clips,") and "1 corrupt" in lines[-1]

    summary = prune(cache, all=False)
    assert summary.startswith("removed 2 corrupt clips, 0 clips over the size cap and 1 ")
    assert files(tmp_path) == [f"{good}.clip"]
    assert cache.get(good) is not None

    summary = prune(cache, all=True)
    assert "1 clips" in summary and "0 clips kept" in summary
    assert files(tmp_path) == []
    assert list_lines(cache)[-1].startswith("0 clips,")


def test_read_phrases(tmp_path: Path) -> None:
    f = tmp_path / "phrases.txt"
    f.write_text("# morning\nGood  morning\n\n  Dinner is ready \nGood morning\n", "utf-8")
    assert read_phrases(["Hello", "Good morning"], f) == [
        "Hello",
        "Good morning",
        "Dinner is ready",
    ]
    assert read_phrases([], io.StringIO("a\nb\n")) == ["a", "b"]
    assert read_phrases(["x"], None) == ["x"]
    with pytest.raises(ValueError, match="no phrases"):
        read_phrases(["  "], io.StringIO("# only a comment\n"))
    with pytest.raises(OSError):
        read_phrases([], tmp_path / "missing.txt")


def test_progress_line() -> None:
    assert progress_line(0, 4, width=8) == "[........] 0/4"
    assert progress_line(2, 4, "Hello", width=8) == "[####....] 2/4  Hello"
    assert progress_line(10, 10, width=4) == "[####] 10/10"
