"""Crash test of the clip cache: SIGKILL a writer at random moments, then verify.

    python bench/cache_crash.py [--iterations 100] [--seed 1] [--naive] [--json]
                                [--spawn fork|exec] [--quick] [--save PATH]

Each iteration starts a writer (bench/cache_writer.py: forked from this process, or
with --spawn exec run in a new interpreter) on the same cache directory; it writes
clips in a tight loop, teeing chunks like the daemon does. It is killed with SIGKILL
after a random delay (seeded), and then opens the cache as the daemon would after
a crash and calls get() for every clip file. A served clip must be exactly the
audio its text stands for (the writer's audio is a pure function of the text); a
clip served otherwise is counted in ``served_bad``, which must be 0.

With --naive the writer writes files in place (no temp file, no rename): the
control, where the kills leave partial files that verification has to catch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchlib import Results, machine
from cache_writer import PARAMS, expected_pcm, write_forever
from herald.cache import ClipCache, clip_key
from herald.cache.files import CLIP_SUFFIX, TEMP_PREFIX

WRITER = Path(__file__).with_name("cache_writer.py")


@dataclass
class Result:
    mode: str
    spawn: str
    iterations: int = 0
    kills: int = 0
    kills_mid_write: int = 0  # the writer had begun a clip and not finished its commit
    commits: int = 0
    temp_leftovers: int = 0  # temp files found after kills (all removed on open)
    temp_cleaned: int = 0
    corrupt_removed: int = 0  # files that failed verification: deleted, not served
    served_ok: int = 0  # get() calls that returned the exact audio
    served_bad: int = 0  # get() calls that returned anything else: must be 0
    over_cap: int = 0  # checks where the cache held more than max_bytes after opening
    final_clips: int = 0
    final_bytes: int = 0
    max_bytes: int = 0
    seconds: float = 0.0


def verify(directory: Path, max_bytes: int, result: Result) -> None:
    """Open the cache as after a crash and get() every clip in it."""
    cache = ClipCache(directory, max_bytes)
    if cache.error is not None:
        raise SystemExit(cache.error)
    result.temp_cleaned += cache.stats.temp_removed
    for path in sorted(directory.glob(f"*{CLIP_SUFFIX}")):
        key = path.name.removesuffix(CLIP_SUFFIX)
        clip = cache.get(key)
        if clip is None:
            continue
        text = clip.meta.text
        intact = (
            clip.pcm == expected_pcm(text)
            and clip_key(text, PARAMS, clip.meta.source) == key
            and clip.meta.source == "cartesia"
        )
        if intact:
            result.served_ok += 1
        else:
            result.served_bad += 1
    result.corrupt_removed += cache.stats.corrupt_removed
    if cache.total_bytes > max_bytes:
        result.over_cap += 1
    result.final_clips = len(cache)
    result.final_bytes = cache.total_bytes


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_line(fd: int) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


def _start_writer(
    directory: Path, max_bytes: int, seed: int, naive: bool, spawn: str
) -> tuple[int, int]:
    """Start a writer; returns its pid and the read end of its marker pipe."""
    r, w = os.pipe()
    if spawn == "fork":
        pid = os.fork()
        if pid == 0:  # the child: write until killed; never return into the parent's code
            try:
                os.close(r)
                write_forever(directory, max_bytes, seed, naive, w)
            finally:
                os._exit(70)
    else:
        cmd = [sys.executable, str(WRITER), str(directory), str(max_bytes), str(seed)]
        if naive:
            cmd.append("--naive")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        pid = subprocess.Popen(cmd, stdout=w, env=env).pid
    os.close(w)
    return pid, r


def run(
    directory: Path,
    iterations: int = 100,
    seed: int = 1,
    *,
    naive: bool = False,
    spawn: str = "fork",
    max_bytes: int = 1_000_000,
    max_delay: float = 0.05,
) -> Result:
    """Kill a writer ``iterations`` times, verifying the whole cache after each kill."""
    rng = random.Random(seed)
    result = Result(mode="naive" if naive else "atomic", spawn=spawn, max_bytes=max_bytes)
    started = time.monotonic()
    for _ in range(iterations):
        pid, r = _start_writer(directory, max_bytes, rng.randrange(2**32), naive, spawn)
        try:
            if _read_line(r) != b"ready\n":
                raise SystemExit(f"writer did not start ({os.waitpid(pid, 0)[1]:#x})")
            time.sleep(rng.uniform(0, max_delay))
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            markers = _read_all(r).split()
        finally:
            os.close(r)
        if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGKILL:
            raise SystemExit(f"writer ended by itself (status {status:#x})")
        result.iterations += 1
        result.kills += 1
        result.commits += markers.count(b"c")
        if markers and markers[-1] == b"b":
            result.kills_mid_write += 1
        result.temp_leftovers += sum(1 for p in directory.glob(f"{TEMP_PREFIX}*"))
        verify(directory, max_bytes, result)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--naive", action="store_true", help="control: write in place")
    parser.add_argument("--max-bytes", type=int, default=1_000_000)
    parser.add_argument(
        "--spawn",
        choices=("fork", "exec"),
        default="fork",
        help="fork this process (fast) or run cache_writer.py in a new interpreter",
    )
    parser.add_argument("--dir", type=Path, help="cache directory (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="20 iterations")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON, for the report)")
    args = parser.parse_args()
    if args.quick:
        args.iterations = 20
    report = Results("cache_crash", quick=args.quick)  # made now: it times the run
    with tempfile.TemporaryDirectory(prefix="herald-crash-") as tmp:
        directory = args.dir or Path(tmp)
        result = run(
            directory,
            args.iterations,
            args.seed,
            naive=args.naive,
            spawn=args.spawn,
            max_bytes=args.max_bytes,
        )
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        for name, value in asdict(result).items():
            print(f"{name:>16}: {value}")
    if args.save:
        report.figures.update(asdict(result), machine=machine())
        report.goal(
            f"clips served that fail verification, after {result.kills} SIGKILLs"
            f" ({result.kills_mid_write} mid-write)",
            str(result.served_bad),
            "0",
            result.served_bad == 0,
        )
        over = result.over_cap
        report.goal("cache over its cap after a kill", str(over), "0", not over)
        report.save(args.save)
    sys.exit(1 if result.served_bad or result.over_cap else 0)


if __name__ == "__main__":
    main()
