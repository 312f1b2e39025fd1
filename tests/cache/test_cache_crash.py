"""SIGKILL a clip writer at random moments, 100 times, and check that the cache never
serves a clip that fails verification (bench/cache_crash.py does the work)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from repo import REPO

BENCH = REPO / "bench" / "cache_crash.py"


def crash_run(tmp_path: Path, *args: str) -> dict[str, int | float | str]:
    cache_dir = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--json", "--dir", str(cache_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout, proc.stderr
    figures: dict[str, int | float | str] = json.loads(proc.stdout)
    print(figures)  # shown with pytest -s, and on failure
    assert proc.returncode == 0, proc.stderr
    return figures


def test_100_kills_never_serve_a_bad_clip(tmp_path: Path) -> None:
    r = crash_run(tmp_path, "--iterations", "100", "--seed", "1")
    assert r["kills"] == 100
    assert r["served_bad"] == 0
    assert r["corrupt_removed"] == 0  # atomic writes: a kill never leaves a partial clip
    assert r["temp_cleaned"] == r["temp_leftovers"]
    assert r["over_cap"] == 0
    assert isinstance(r["served_ok"], int) and r["served_ok"] > 0
    assert isinstance(r["kills_mid_write"], int) and r["kills_mid_write"] >= 50
    assert isinstance(r["commits"], int) and r["commits"] > 0


def test_kills_of_a_separately_started_writer(tmp_path: Path) -> None:
    r = crash_run(tmp_path, "--iterations", "5", "--seed", "2", "--spawn", "exec")
    assert r["kills"] == 5
    assert r["served_bad"] == 0
    assert r["corrupt_removed"] == 0


def test_control_in_place_writes_leave_partial_clips_that_are_caught(tmp_path: Path) -> None:
    r = crash_run(tmp_path, "--iterations", "30", "--seed", "3", "--naive")
    assert isinstance(r["corrupt_removed"], int) and r["corrupt_removed"] > 0
    assert r["served_bad"] == 0
