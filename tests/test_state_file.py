"""The runtime settings file: round trip, corrupt files, crash safety, the start volume."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from herald.control.state_file import SavedState, initial_volume, load_state, save_state


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.json"


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_round_trip_creates_the_directory(path: Path) -> None:
    state = SavedState(volume=40, mute=True, voice="joe", config_volume=100)
    save_state(path, state)
    assert load_state(path) == state
    assert json.loads(path.read_text()) == {
        "version": 1,
        "volume": 40,
        "mute": True,
        "voice": "joe",
        "config_volume": 100,
    }
    save_state(path, SavedState(volume=0))
    assert load_state(path) == SavedState(volume=0, mute=False, voice=None, config_volume=None)
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_missing_file_is_a_first_start(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load_state(path) is None
    assert warnings(caplog) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "it is empty"),
        (b"\0\0\0\0", "JSON is malformed"),  # what some filesystems leave after a power cut
        (b"garbage", "JSON is malformed"),
        (b"\xff\xfe\x00", "JSON is malformed"),
        (b'{"version":1,"volume":4', "truncated"),
        (b"[1, 2]", "Expected `object`, got `array`"),
        (b'{"volume":40}', "missing required field `version`"),
        (b'{"version":2,"volume":40}', "format version 2, this herald reads 1"),
        (b'{"version":"1","volume":40}', "Expected `int`, got `str` - at `$.version`"),
        (b'{"version":1}', "missing required field `volume`"),
        (b'{"version":1,"volume":"40"}', "Expected `int`, got `str` - at `$.volume`"),
        (b'{"version":1,"volume":101}', "Expected `int` <= 100 - at `$.volume`"),
        (b'{"version":1,"volume":-1}', "Expected `int` >= 0 - at `$.volume`"),
        (b'{"version":1,"volume":40,"mute":1}', "Expected `bool`, got `int` - at `$.mute`"),
        (b'{"version":1,"volume":40,"voice":""}', "at `$.voice`"),
        (b'{"version":1,"volume":40,"config_volume":300}', "at `$.config_volume`"),
    ],
)
def test_unusable_file_is_ignored_with_one_warning(
    path: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    path.parent.mkdir()
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="herald.state"):
        assert load_state(path) is None
    [message] = warnings(caplog)
    assert str(path) in message
    assert reason in message


def test_unreadable_file_is_ignored_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.mkdir(parents=True)  # reading a directory fails with an OSError
    assert load_state(path) is None
    [message] = warnings(caplog)
    assert str(path) in message and "cannot read it" in message


def test_an_invalid_state_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="volume must be 0 to 100, not 101"):
        SavedState(volume=101)
    with pytest.raises(ValueError, match="config_volume must be 0 to 100, not -1"):
        SavedState(volume=5, config_volume=-1)


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_crash_mid_save_leaves_the_old_file(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failing: str
) -> None:
    old = SavedState(volume=40, config_volume=100)
    save_state(path, old)

    def crash(*args: object) -> None:
        raise OSError(5, "Input/output error")

    if failing == "write":
        # A write that gets half the bytes out, then the disk fails.
        real_fdopen = os.fdopen

        class HalfFile:
            def __init__(self, fd: int, mode: str) -> None:
                self.f = real_fdopen(fd, mode)

            def __enter__(self) -> HalfFile:
                return self

            def __exit__(self, *exc: object) -> None:
                self.f.close()

            def write(self, data: bytes) -> int:
                self.f.write(data[: len(data) // 2])
                self.f.flush()
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fdopen", HalfFile)
    else:
        monkeypatch.setattr(os, failing, crash)
    with pytest.raises(OSError):
        save_state(path, SavedState(volume=90, mute=True))
    monkeypatch.undo()

    assert load_state(path) == old
    assert warnings(caplog) == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_a_temp_file_left_by_a_power_cut_is_never_read(path: Path) -> None:
    old = SavedState(volume=40)
    save_state(path, old)
    (path.parent / ".state.json.abc123.tmp").write_bytes(b'{"version":1,"vol')
    assert load_state(path) == old
    save_state(path, SavedState(volume=50))
    assert load_state(path) == SavedState(volume=50)


def test_a_directory_that_cannot_be_created_raises(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OSError):
        save_state(tmp_path / "file" / "state.json", SavedState(volume=1))


def test_initial_volume() -> None:
    # First start: the config.
    assert initial_volume(None, 70) == 70
    # Changed at runtime, config unchanged since: the saved volume.
    assert initial_volume(SavedState(volume=25, config_volume=70), 70) == 25
    # The user edited audio.volume since: the config wins.
    assert initial_volume(SavedState(volume=25, config_volume=70), 50) == 50
    assert initial_volume(SavedState(volume=25, config_volume=70), 25) == 25
    # Saved without the config's volume: no edit can be seen, keep the saved one.
    assert initial_volume(SavedState(volume=25), 50) == 25
    # Mute is separate: a muted state still restores its volume.
    assert initial_volume(SavedState(volume=25, mute=True, config_volume=70), 70) == 25
