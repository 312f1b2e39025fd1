"""Writes clips into a cache in a tight loop, until killed; driven by cache_crash.py.

    python bench/cache_writer.py DIR MAX_BYTES SEED [--naive]

Each clip's audio is a pure function of its text (`expected_pcm`), so whoever reads
the cache afterwards can tell a clip served intact from garbage without trusting
the cache's own checksums. Prints ``ready`` as it starts, then ``b`` when it begins
a clip and ``c`` when the commit returned, one per line, unbuffered.

cache_crash.py either runs this file (``--spawn exec``) or forks and calls
`write_forever` (``--spawn fork``, the default: no interpreter start-up per kill).

``--naive`` writes the final file in place, without temp file, fsync or rename: the
control that shows the kills do land mid-write.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from pathlib import Path
from typing import NoReturn

from herald.cache import ClipCache, ClipMeta, clip_key
from herald.cache.format import encode
from herald.voice import VoiceParams

PARAMS = VoiceParams(model="sonic-3", voice="bench", language="en", sample_rate=24000)
PHRASES = 48


def expected_pcm(text: str) -> bytes:
    """The audio the writer stores for ``text``: 2 to ~80 KB, whole s16le samples."""
    seed = hashlib.sha256(text.encode()).digest()
    n = 2 * (1000 + int.from_bytes(seed[:4], "little") % 40_000)
    return hashlib.shake_256(seed).digest(n)


def write_atomic(cache: ClipCache, text: str, rng: random.Random) -> None:
    audio = expected_pcm(text)
    key = clip_key(text, PARAMS, "cartesia")
    with cache.begin(key, ClipMeta.from_params(text, PARAMS, "cartesia")) as w:
        i = 0
        while i < len(audio):
            n = rng.randrange(256, 8192)
            w.append(audio[i : i + n])
            i += n
        w.commit()


def write_naive(cache: ClipCache, text: str, rng: random.Random) -> None:
    audio = expected_pcm(text)
    key = clip_key(text, PARAMS, "cartesia")
    blob = encode(key, ClipMeta.from_params(text, PARAMS, "cartesia"), audio)
    with open(cache.path(key), "wb") as f:  # in place: a kill leaves a partial file
        i = 0
        while i < len(blob):
            n = rng.randrange(256, 8192)
            f.write(blob[i : i + n])
            f.flush()
            i += n


def write_forever(directory: Path, max_bytes: int, seed: int, naive: bool, out: int) -> NoReturn:
    """Open the cache and write clips until killed; markers go to the file descriptor
    ``out``, unbuffered. ``ready`` comes before the cache is opened, so kills also
    land in the start-up scan and temp-file clean-up."""
    os.write(out, b"ready\n")
    rng = random.Random(seed)
    cache = ClipCache(directory, max_bytes)
    write = write_naive if naive else write_atomic
    while True:
        text = f"phrase number {rng.randrange(PHRASES)}"
        if rng.random() < 0.3:
            cache.get(clip_key(text, PARAMS, "cartesia"))  # a hit marks it used, like playback
        os.write(out, b"b\n")
        write(cache, text, rng)
        os.write(out, b"c\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("max_bytes", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--naive", action="store_true")
    args = parser.parse_args()
    write_forever(args.dir, args.max_bytes, args.seed, args.naive, sys.stdout.fileno())


if __name__ == "__main__":
    main()
