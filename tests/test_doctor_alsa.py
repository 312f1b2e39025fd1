"""`herald doctor`'s sound lines (issues 15.4, 19.2): the cards, who holds a busy
device (herald itself is fine), and ALSA's `default` going to a Desktop sound server.

/proc and alsa-lib's configuration come from the recorded trees in
tests/fixtures/doctor (README there says where each file came from); alsa-lib itself
reads the configuration, and the real pyalsaaudio opens the device.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import trio

from herald.cli.doctor import System, alsa_open_failure, card_lines, check_alsa
from herald.cli.doctor_alsa import (
    Card,
    Holder,
    Server,
    cards_of,
    holders,
    is_herald_daemon,
    read_cards,
    sound_server,
)
from herald.config import build_config

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doctor"
PI4 = FIXTURES / "pi4-usb-busy" / "proc"
ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
BUSY = "Device or resource busy [plughw:CARD=Audio,DEV=0]"  # pyalsaaudio's text for EBUSY
USB = "plughw:CARD=Audio,DEV=0"


def alsa_path(*folders: str) -> str:
    """The system's alsa.conf, then the recorded files, as $ALSA_CONFIG_PATH."""
    if not ALSA_CONF.exists():
        pytest.skip("alsa-lib's alsa.conf is not installed")
    files = [str(f) for d in folders for f in sorted((FIXTURES / "alsa" / d).glob("*.conf"))]
    return ":".join([str(ALSA_CONF), *files])


def test_the_cards_of_a_pi_4() -> None:
    cards = read_cards(PI4)
    assert cards == [
        Card(0, "vc4hdmi0", "vc4-hdmi", "vc4-hdmi-0", (0,)),
        Card(1, "vc4hdmi1", "vc4-hdmi", "vc4-hdmi-1", (0,)),
        Card(2, "Headphones", "bcm2835_headpho", "bcm2835 Headphones", (0,)),
        Card(3, "Audio", "USB-Audio", "KT USB Audio", (0,)),
    ]
    assert [c.line() for c in card_lines(cards)] == [
        "ok    card      0 vc4hdmi0: vc4-hdmi-0 (audio.device hdmi:CARD=vc4hdmi0,DEV=0)",
        "ok    card      1 vc4hdmi1: vc4-hdmi-1 (audio.device hdmi:CARD=vc4hdmi1,DEV=0)",
        "ok    card      2 Headphones: bcm2835 Headphones "
        "(audio.device plughw:CARD=Headphones,DEV=0)",
        "ok    card      3 Audio: KT USB Audio (audio.device plughw:CARD=Audio,DEV=0)",
    ]


def test_no_driver_and_no_cards(tmp_path: Path) -> None:
    assert read_cards(tmp_path) is None
    assert [c.line() for c in card_lines(None)] == [
        "skip  card      no /proc/asound/cards: no sound driver is loaded"
    ]
    (tmp_path / "asound").mkdir()
    (tmp_path / "asound" / "cards").write_text("--- no soundcards ---\n")  # the kernel's text
    assert read_cards(tmp_path) == []
    assert card_lines([])[0].line() == (
        "skip  card      no sound cards (/proc/asound/cards lists none)"
    )


def test_device_names_to_cards() -> None:
    cards = read_cards(PI4) or []
    assert cards_of(USB, cards) == {3}
    assert cards_of("hw:3,0", cards) == {3}
    assert cards_of("hdmi:CARD=vc4hdmi1,DEV=0", cards) == {1}
    assert cards_of("sysdefault:CARD=Headphones", cards) == {2}
    assert cards_of("default", cards) is None
    assert cards_of("file:FILE=/tmp/x.raw,FORMAT=raw", cards) is None
    assert cards_of("plughw:CARD=Nope,DEV=0", cards) is None


def test_who_holds_the_usb_card() -> None:
    # Only playback substreams count: the capture side (an arecord) is not in the way.
    assert holders(PI4) == [Holder(964, "pulseaudio", 3, herald=False)]
    assert holders(PI4, {2}) == []  # the headphones' eight substreams are all closed


def herald_holds_it(tmp_path: Path) -> Path:
    """The Pi 4 tree with `herald run` holding the USB card, its argv from the unit's
    ExecStart (the console script runs under the venv's python3)."""
    proc = tmp_path / "proc"
    shutil.copytree(PI4, proc, symlinks=True)
    unit = (REPO / "systemd" / "herald.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    argv = [str(Path(argv[0]).parent / "python3"), *argv]
    (proc / "964" / "comm").write_text("herald\n")
    (proc / "964" / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return proc


def test_a_device_herald_holds_is_fine(tmp_path: Path) -> None:
    proc = herald_holds_it(tmp_path)
    [holder] = holders(proc, {3})
    assert holder == Holder(964, "herald", 3, herald=True)
    line = alsa_open_failure(USB, 24000, BUSY, None, [holder], read_cards(proc) or [])
    assert line.line() == (
        "ok    alsa      'plughw:CARD=Audio,DEV=0' is in use by herald (pid 964): the running "
        "daemon holds it while it speaks and for 30 s after"
    )


def test_herald_run_is_told_from_other_herald_commands() -> None:
    venv = "/opt/herald/venv/bin"
    assert is_herald_daemon("herald", [f"{venv}/python3", f"{venv}/herald", "run"])
    assert is_herald_daemon("python3", ["python3", "-m", "herald", "run", "--config", "c"])
    assert not is_herald_daemon("herald", [f"{venv}/python3", f"{venv}/herald", "doctor"])
    assert not is_herald_daemon("aplay", ["aplay", "-D", "hw:0", "run.wav"])


def test_a_device_another_program_holds_names_it() -> None:
    cards = read_cards(PI4) or []
    line = alsa_open_failure(USB, 24000, BUSY, None, holders(PI4, {3}), cards)
    assert line.line() == (
        "FAIL  alsa      cannot open 'plughw:CARD=Audio,DEV=0': busy, held by pulseaudio "
        "(pid 964); fix: Desktop image: pulseaudio holds the card for the desktop session; "
        "pick another card (plughw:CARD=Headphones,DEV=0) for audio.device, or run herald "
        "as the session user"
    )
    aplay = Holder(2001, "aplay", 3, herald=False)
    line = alsa_open_failure(USB, 24000, BUSY, None, [aplay], cards)
    assert line.fix == "stop aplay (pid 2001), or make it use another device: herald needs this one"
    unseen = alsa_open_failure(USB, 24000, BUSY, None, [], cards)
    assert unseen.detail.endswith("busy, held by a program doctor cannot see")
    assert unseen.fix.startswith("run doctor as root (sudo herald doctor)")


def test_alsa_lib_reads_where_default_goes() -> None:
    pipewire = alsa_path("pipewire")
    assert sound_server("default", pipewire) == Server("PipeWire", "pcm.default", "pipewire")
    assert sound_server("pipewire", pipewire) == Server("PipeWire", "pcm.pipewire", "pipewire")
    assert sound_server(USB, pipewire) is None  # a card by name: no server in between
    assert sound_server("default", alsa_path("pulse")) == Server(
        "PulseAudio", "pcm.default", "pulse"
    )
    assert sound_server("default", alsa_path()) is None  # Lite: the card's own default
    broken = f"{ALSA_CONF}:{FIXTURES / 'README.md'}"  # not ALSA syntax: the config fails
    assert sound_server("default", broken) is None


def test_default_to_pipewire_says_desktop_image() -> None:
    cards = read_cards(PI4) or []
    server = Server("PipeWire", "pcm.default", "pipewire")
    line = alsa_open_failure("default", 24000, "Connection refused [default]", server, [], cards)
    assert line.line() == (
        "FAIL  alsa      cannot open 'default': Connection refused [default]: it goes to "
        "PipeWire (pcm.default type pipewire in ALSA's config), the sound server of a "
        "desktop session, which a system service cannot reach; fix: Desktop image: pick "
        "plughw:CARD=Audio,DEV=0 for audio.device, or run herald as the session user"
    )


DESKTOP = """
import sys
from pathlib import Path
import trio
from herald.cli.doctor import System, check_alsa
from herald.config import build_config

cfg = build_config({"audio": {"device": "default"}}, {})
for line in trio.run(lambda: check_alsa(cfg, system=System(proc=Path(sys.argv[1])))):
    print(line.line())
"""


async def test_the_real_open_of_default_on_a_desktop_image() -> None:
    # A fresh process: alsa-lib reads $ALSA_CONFIG_PATH once, for pyalsaaudio's open
    # and doctor's own look alike.
    env = {**os.environ, "ALSA_CONFIG_PATH": alsa_path("pipewire")}
    env["PYTHONPATH"] = str(REPO / "daemon")
    result = await trio.run_process(
        [sys.executable, "-c", DESKTOP, str(PI4)], capture_stdout=True, env=env
    )
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("FAIL  alsa      cannot open 'default': ")
    assert "it goes to PipeWire (pcm.default type pipewire in ALSA's config)" in lines[0]
    assert lines[0].endswith(  # the USB card is pulseaudio's: the headphones, then
        "; fix: Desktop image: pick plughw:CARD=Headphones,DEV=0 for audio.device, or run "
        "herald as the session user"
    )
    assert [line.split()[0:2] for line in lines[1:]] == [["ok", "card"]] * 4


async def test_the_real_open_through_the_file_plugin(tmp_path: Path) -> None:
    device = f"file:FILE={tmp_path / 'out.raw'},FORMAT=raw"
    cfg = build_config({"audio": {"device": device}}, {})
    lines = await check_alsa(cfg, system=System(proc=PI4, alsa_config=alsa_path("pipewire")))
    assert lines[0].line() == (
        f"ok    alsa      opened {device!r} at 24000 Hz S16_LE mono (24000 Hz, 480-frame periods)"
    )
    assert [c.name for c in lines[1:]] == ["card"] * 4
    missing = build_config({"audio": {"device": "hw:CARD=NoSuchCard"}}, {})
    [line, *_] = await check_alsa(missing, system=System(proc=PI4))
    assert line.line().startswith("FAIL  alsa      cannot open 'hw:CARD=NoSuchCard' at 24000 Hz")
