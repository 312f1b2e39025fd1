"""Whether the rewind (herald/audio/alsa_sink.py `_Rewind`) finds pyalsaaudio's
``snd_pcm_t`` on this machine's build: the struct read through ctypes matches the
PCM's type, mode and name, alsa-lib names the handle the same, and frames written
through it can be taken back. Run where no sound card is needed (ALSA's ``file``
plugin into /dev/null), e.g. in a foreign-architecture chroot under qemu-user::

    scripts/chroot.sh --arch armhf trixie bash scripts/rewind_layout_check.sh

Prints the figures and exits 1 if the handle is not found or does not rewind.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import sysconfig

from herald.audio.alsa_sink import AlsaDevice, _PcmObjectHead, _pyalsaaudio_version, _Rewind
from herald.audio.sink import Geometry

RATE = 24000


def main() -> int:
    print(
        f"machine {platform.machine()}, Python {platform.python_version()}"
        f" ({sysconfig.get_platform()}), pointer {ctypes.sizeof(ctypes.c_void_p)} bytes,"
        f" pyalsaaudio {_pyalsaaudio_version()}"
    )
    offsets = ", ".join(
        f"{name} +{getattr(_PcmObjectHead, name).offset}" for name, _ in _PcmObjectHead._fields_
    )
    print(f"alsapcm_t as read: {offsets}")
    device = AlsaDevice("file:FILE=/dev/null,FORMAT=raw")
    sink = device.open(Geometry.request(RATE, 0.010, 16))
    try:
        rewind = _Rewind.of(sink._pcm, device.name)  # type: ignore[arg-type]
        if rewind is None:
            print("FAIL: the handle was not recognised: no rewind on this build")
            return 1
        sink._rewind = rewind  # the file plugin has no card: the sink would not use it
        written = sink.write(bytes(2 * 1000))
        can = sink.rewindable()
        taken = sink.rewind(100)
        print(f"wrote {written} frames, {can} rewindable, rewound {taken} of 100")
        if not (written == 1000 and 0 < can <= 1000 and taken == 100):
            print("FAIL: alsa-lib did not rewind through the handle")
            return 1
    finally:
        sink.close()
    print("OK: the rewind finds and uses pyalsaaudio's handle on this build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
