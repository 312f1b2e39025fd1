"""What `herald doctor` can tell about the sound side, beyond opening the device.

- The cards, from ``/proc/asound/cards`` (the kernel's ``snd_card_info_read``: per
  card ``%2i [%-15s]: %s - %s`` with index, id, driver and short name, then a line
  with the long name), and their playback devices (``cardN/pcmDp``).
- Who holds a busy device: each substream's ``status`` file
  (``cardN/pcmDp/subS/status``, kernel ``snd_pcm_substream_proc_status_read``) says
  ``closed`` or gives ``owner_pid``; ``/proc/<pid>/comm`` and ``cmdline`` name it.
- Whether a PCM name leads to a sound server: alsa-lib's own configuration (read with
  alsa-lib itself, ``snd_config_update_r``, as pyalsaaudio's open would) for
  ``pcm.<name>``, following string aliases and ``slave.pcm`` / ``playback.pcm``, to a
  ``type pipewire`` (pipewire-alsa's 99-pipewire-default.conf on the Desktop image) or
  ``type pulse``.

The /proc root and the ALSA config path (the syntax of ``$ALSA_CONFIG_PATH``) are
parameters, so tests point them at recorded trees.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SERVERS = {"pipewire": "PipeWire", "pulse": "PulseAudio"}  # ALSA plugin type -> server
SERVER_PROCESSES = ("pipewire", "wireplumber", "pulseaudio")
_CARD_LINE = re.compile(r"^\s*(\d+)\s+\[(.+?)\s*\]:\s+(\S+)\s+-\s+(.*?)\s*$")
_PLAYBACK_DIR = re.compile(r"^pcm(\d+)p$")
_STATUS = re.compile(r"card(\d+)/pcm(\d+)p/sub(\d+)/status$")
_OWNER = re.compile(r"^owner_pid\s*:\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Card:
    index: int
    id: str
    driver: str
    name: str
    playback: tuple[int, ...] = ()  # playback device numbers

    @property
    def suggestion(self) -> str:
        """The audio.device to use for this card."""
        device = self.playback[0] if self.playback else 0
        if self.driver == "vc4-hdmi":  # takes IEC958 subframes only: plug cannot feed it
            return f"hdmi:CARD={self.id},DEV={device}"
        return f"plughw:CARD={self.id},DEV={device}"


def read_cards(proc: Path = PROC) -> list[Card] | None:
    """The sound cards; None when /proc/asound/cards is missing (no sound driver)."""
    try:
        text = (proc / "asound" / "cards").read_text(errors="replace")
    except OSError:
        return None
    cards = []
    for line in text.splitlines():
        match = _CARD_LINE.match(line)
        if match is None:
            continue  # the long-name lines, or "--- no soundcards ---"
        index = int(match[1])
        folder = proc / "asound" / f"card{index}"
        try:
            names = [p.name for p in folder.iterdir()]
        except OSError:
            names = []
        devices = sorted(int(m[1]) for n in names if (m := _PLAYBACK_DIR.match(n)))
        cards.append(Card(index, match[2], match[3], match[4], tuple(devices)))
    return cards


def cards_of(device: str, cards: Sequence[Card]) -> set[int] | None:
    """The card index(es) an ALSA device name points at; None when it names none
    (``default``, a plugin of the config): then any card may be the one."""
    if ":" not in device:
        return None
    args = device.split(":", 1)[1].split(",")
    card = next((a[5:] for a in args if a.startswith("CARD=")), None)
    if card is None and args and "=" not in args[0]:
        card = args[0]
    if not card:
        return None
    card = card.strip("'\"")
    if card.isdigit():
        return {int(card)}
    return {c.index for c in cards if c.id == card} or None


@dataclass(frozen=True, slots=True)
class Holder:
    """A process holding a playback substream open."""

    pid: int
    comm: str
    card: int
    herald: bool  # a running `herald run`

    def __str__(self) -> str:
        return f"{self.comm} (pid {self.pid})"


def is_herald_daemon(comm: str, argv: Sequence[str]) -> bool:
    """``herald run ...``, by its console script or ``python -m herald``."""
    for i, word in enumerate(argv):
        is_script = word.rsplit("/", 1)[-1] == "herald"
        is_module = word == "-m" and argv[i + 1 : i + 2] == ["herald"]
        if is_script or is_module:
            return "run" in argv[i + 1 :]
    return comm == "herald" and "run" in argv


def holders(proc: Path = PROC, cards: Collection[int] | None = None) -> list[Holder]:
    """Who holds the playback substreams of ``cards`` (all cards if None)."""
    found: dict[int, Holder] = {}
    for status in sorted((proc / "asound").glob("card*/pcm*p/sub*/status")):
        match = _STATUS.search(status.as_posix())
        if match is None or (cards is not None and int(match[1]) not in cards):
            continue
        try:
            owner = _OWNER.search(status.read_text(errors="replace"))
        except OSError:
            continue
        if owner is None:  # "closed"
            continue
        pid = int(owner[1])
        try:
            comm = (proc / str(pid) / "comm").read_text(errors="replace").strip()
        except OSError:
            comm = "?"
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            raw = b""
        argv = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
        found.setdefault(pid, Holder(pid, comm or "?", int(match[1]), is_herald_daemon(comm, argv)))
    return list(found.values())


# --- alsa-lib's configuration, read by alsa-lib ---

_COMPOUND = 1024  # SND_CONFIG_TYPE_COMPOUND
_STRING = 3  # SND_CONFIG_TYPE_STRING


class _AlsaConfig:
    """The merged alsa-lib configuration (``snd_config_update_r``), for lookups."""

    def __init__(self, lib: ctypes.CDLL, path: str | None) -> None:
        p = ctypes.c_void_p
        lib.snd_config_update_r.argtypes = [ctypes.POINTER(p), ctypes.POINTER(p), ctypes.c_char_p]
        lib.snd_config_search.argtypes = [p, ctypes.c_char_p, ctypes.POINTER(p)]
        lib.snd_config_get_type.argtypes = [p]
        lib.snd_config_get_string.argtypes = [p, ctypes.POINTER(ctypes.c_char_p)]
        lib.snd_config_delete.argtypes = [p]
        lib.snd_config_update_free.argtypes = [p]
        self._lib = lib
        self._top = ctypes.c_void_p()
        self._update = ctypes.c_void_p()
        encoded = path.encode() if path is not None else None
        rc = lib.snd_config_update_r(ctypes.byref(self._top), ctypes.byref(self._update), encoded)
        self.ok = rc >= 0 and bool(self._top)

    def close(self) -> None:
        if self._top:
            self._lib.snd_config_delete(self._top)
        if self._update:
            self._lib.snd_config_update_free(self._update)
        self._top = self._update = ctypes.c_void_p()

    def search(self, node: ctypes.c_void_p | None, key: str) -> ctypes.c_void_p | None:
        found = ctypes.c_void_p()
        start = self._top if node is None else node
        if not start or self._lib.snd_config_search(start, key.encode(), ctypes.byref(found)):
            return None
        return found if found else None

    def string(self, node: ctypes.c_void_p) -> str | None:
        if self._lib.snd_config_get_type(node) != _STRING:
            return None
        value = ctypes.c_char_p()
        if self._lib.snd_config_get_string(node, ctypes.byref(value)) or value.value is None:
            return None
        return value.value.decode(errors="replace")

    def is_compound(self, node: ctypes.c_void_p) -> bool:
        return bool(self._lib.snd_config_get_type(node) == _COMPOUND)


@dataclass(frozen=True, slots=True)
class Server:
    """A sound server a PCM name leads to."""

    name: str  # "PipeWire" or "PulseAudio"
    pcm: str  # the pcm definition that names it, e.g. "pcm.default"
    plugin: str  # its type: "pipewire" or "pulse"


def _server_of(config: _AlsaConfig, pcm: str, node: ctypes.c_void_p, depth: int) -> Server | None:
    if depth > 8:  # a loop of aliases: alsa-lib itself would refuse it
        return None
    alias = config.string(node)
    if alias is not None:
        if alias.startswith("cards."):  # alsa.conf's stock default: the card's own PCM
            return None
        return _pcm_server(config, alias, depth + 1)
    if not config.is_compound(node):
        return None
    kind_node = config.search(node, "type")
    kind = config.string(kind_node) if kind_node is not None else None
    if kind in SERVERS:
        return Server(SERVERS[kind], pcm, kind)
    for key in ("slave.pcm", "playback.pcm"):  # plug, softvol...; asym
        child = config.search(node, key)
        if child is not None and (server := _server_of(config, pcm, child, depth + 1)):
            return server
    return None


def _pcm_server(config: _AlsaConfig, name: str, depth: int) -> Server | None:
    base = name.split(":", 1)[0]
    node = config.search(None, f"pcm.{base}")
    return None if node is None else _server_of(config, f"pcm.{base}", node, depth)


def sound_server(device: str, config_path: str | None = None) -> Server | None:
    """The sound server alsa-lib's configuration routes ``device`` to, if any.

    ``config_path``: files as in ``$ALSA_CONFIG_PATH`` (None: alsa-lib's default, the
    environment variable or its alsa.conf). None also when alsa-lib is missing or its
    configuration does not load (a hook library missing, a syntax error)."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return None
    config = _AlsaConfig(lib, config_path)
    try:
        return _pcm_server(config, device, 0) if config.ok else None
    finally:
        config.close()
