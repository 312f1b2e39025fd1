"""Where the local voice cannot be installed (32-bit ARM: no onnxruntime wheel, so no
herald[piper]): herald runs as with ``local_voice = "none"`` and doctor says why.

The missing package is made missing the way Python's import system documents:
``sys.modules[name] = None`` makes ``import name`` fail and ``find_spec`` return None.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from herald.cli.doctor import check_local_voice
from herald.config import build_config
from herald.local_voice import LocalVoiceError, PiperVoice, unavailable_reason


def test_available_where_piper_is_installed() -> None:
    assert unavailable_reason() is None


@pytest.mark.parametrize("missing", ["onnxruntime", "piper"])
def test_unavailable_names_what_is_missing(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)
    reason = unavailable_reason()
    assert reason is not None
    assert reason.startswith("local voice unavailable on this platform")
    assert f"{missing} not installed" in reason
    with pytest.raises(LocalVoiceError, match="unavailable on this platform"):
        PiperVoice(None, 24000)


async def test_doctor_line(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = build_config({}, {})
    ok = await check_local_voice(cfg)
    assert ok.status == "ok" and "en_US-joe-medium" in ok.detail
    off = await check_local_voice(build_config({"offline": {"local_voice": "none"}}, {}))
    assert off.status == "skip" and "off" in off.detail
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    missing = await check_local_voice(cfg)
    assert missing.status == "skip"  # a platform limit, not a fault: doctor still passes
    assert "local voice unavailable on this platform" in missing.line()


def test_herald_doctor_says_so(tmp_path: Path) -> None:
    """The real command, in a Python where onnxruntime cannot be imported."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['onnxruntime'] = None\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = 9\n[cache]\ndir = "{tmp_path / "cache"}"\n'
        f'[audio]\ndevice = "file:FILE={tmp_path / "out.raw"},FORMAT=raw"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("CARTESIA_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "herald", "doctor", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.split()[1:2] == ["local"]]
    assert len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith("skip") and "unavailable on this platform" in lines[0]
