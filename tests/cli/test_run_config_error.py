"""`herald run` with a config it cannot use exits 78 (EX_CONFIG) after one line naming
the problem: systemd/herald.service has RestartPreventExitStatus=78, so the unit stays
failed with that line in `systemctl status` instead of restarting in a loop. The other
commands keep exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from repo import REPO


def herald(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CARTESIA_API_KEY", "HERALD_CONFIG")}
    return subprocess.run(
        [sys.executable, "-m", "herald", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this is not toml\n", "TOML syntax error"),
        ("[audio]\nvolume = 500\n", "audio.volume"),
        (None, "cannot read config file"),  # a directory where the file should be
    ],
)
def test_run_exits_78_with_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    config = tmp_path / "config.toml"
    if content is None:
        config.mkdir()
    else:
        config.write_text(content)
    result = herald("run", "--config", str(config))
    assert result.returncode == 78, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("herald: ") and expected in lines[0], lines


def test_other_commands_still_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("this is not toml\n")
    assert herald("doctor", "--config", str(config)).returncode == 1
    assert herald("say", "hi", "--config", str(config)).returncode == 1


def test_unit_does_not_restart_on_78() -> None:
    unit = (REPO / "systemd/herald.service").read_text()
    assert "RestartPreventExitStatus=78" in unit.splitlines()
