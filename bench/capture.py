"""Read an ALSA capture device and log every read: for bench/ttfa.py's ``--dac-capture``.

Each read is appended to ``PATH`` as a record: its ``time.monotonic()`` (a little-endian
double), the byte count (uint32), then the samples (S16_LE, mono, 24 kHz). It runs in a
process of its own so that its wake-ups, every capture period, never take the GIL of
the bench process, where the emulator and the proxy serve both subjects; on the
emulated VM, a capture thread in that process slowed every say's round trip.

    python bench/capture.py DEVICE PATH
"""

from __future__ import annotations

import struct
import sys
import time

import alsaaudio  # type: ignore[import-not-found]

RATE = 24000
HEADER = struct.Struct("<dI")
PERIOD = 96  # 4 ms: snd-aloop moves audio once per jiffy at best (HZ=250 on Debian)


def main() -> None:
    device, path = sys.argv[1], sys.argv[2]
    pcm = alsaaudio.PCM(
        alsaaudio.PCM_CAPTURE,
        rate=RATE,
        channels=1,
        format=alsaaudio.PCM_FORMAT_S16_LE,
        periodsize=PERIOD,
        periods=8,
        device=device,
    )
    with open(path, "wb", buffering=0) as out:
        print("READY", flush=True)
        while True:
            n, data = pcm.read()
            if n > 0:
                out.write(HEADER.pack(time.monotonic(), len(data)) + data)


if __name__ == "__main__":
    main()
