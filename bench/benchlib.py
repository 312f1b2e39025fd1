"""Helpers shared by the benchmarks: figures and goals, the machine, /proc readings,
a TLS emulator, a notify socket, a watcher of ALSA ``file:`` sinks, JSON results.

Every bench prints its figures next to its goals and, with ``--save PATH``, writes
them (and the series its plots need) for bench/report.py, which builds
docs/benchmarks.md. Imported by the benches as a sibling module (bench/ is on the
path when a script in it runs).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import json
import math
import os
import platform
import socket
import ssl
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "tests" / "support", ROOT / "emulator"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- figures -----------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (as bench/latency.py has always reported)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def dist(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


@dataclass
class Goal:
    what: str
    figure: str  # as printed, with its unit
    goal: str  # e.g. "<= 0.33"
    ok: bool | None  # None: informative, no goal


@dataclass
class Results:
    """What one bench run measured, printed as it goes and saved with ``save``."""

    bench: str
    argv: list[str] = field(default_factory=lambda: list(sys.argv[1:]))
    quick: bool = False
    started: str = field(default_factory=lambda: datetime.datetime.now().isoformat("T", "seconds"))
    seconds: float = 0.0
    goals: list[Goal] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic)

    def goal(self, what: str, figure: str, goal: str, ok: bool | None) -> None:
        self.goals.append(Goal(what, figure, goal, ok))

    def print_goals(self) -> None:
        print()
        for g in self.goals:
            mark = "  --  " if g.ok is None else ("  ok  " if g.ok else "  MISS")
            goal = f"(goal {g.goal})" if g.goal else ""
            print(f"{mark} {g.what}: {g.figure} {goal}")

    def save(self, path: Path | None) -> None:
        self.seconds = round(time.monotonic() - self._t0, 1)
        if path is None:
            return
        data = asdict(self)
        data.pop("_t0")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1))

    @property
    def all_ok(self) -> bool:
        return all(g.ok is not False for g in self.goals)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- the machine -------------------------------------------------------------------


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    # x86: "model name"; Raspberry Pi: "Model" (the board) or "Hardware".
    for key in ("model name", "model", "hardware"):
        if fields.get(key) and not fields[key].isdigit():
            return fields[key]
    return platform.processor() or "unknown"


def os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def machine() -> dict[str, str]:
    return {
        "cpu": cpu_name(),
        "cores": str(os.cpu_count()),
        "arch": platform.machine(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --- /proc ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _task_ns(pid: int) -> dict[str, int]:
    times = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        # A thread may end between the listing and the read.
        with contextlib.suppress(OSError, IndexError, ValueError):
            times[task] = int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return times


class CpuMeter:
    """CPU seconds a process spends over a window, all threads.

    From schedstat (nanoseconds) when no thread ended during the window; else from
    /proc/PID/stat, which keeps ended threads' time but counts in 10 ms ticks (an
    idle minute of herald would round to zero there)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ns = _task_ns(pid)
        self._ticks = cpu_seconds(pid)
        self._t0 = time.monotonic()

    def seconds(self) -> float:
        ns = _task_ns(self.pid)
        if set(self._ns) <= set(ns):
            return sum(v - self._ns.get(k, 0) for k, v in ns.items()) / 1e9
        return cpu_seconds(self.pid) - self._ticks

    def share(self) -> float:
        """CPU seconds per wall second since the meter was made (1.0: one core)."""
        return self.seconds() / (time.monotonic() - self._t0)


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS), shared library pages included."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages divided among the processes mapping them."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


# --- services ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """What herald's config needs of a Cartesia server (an Emulator, or a proxy in front)."""

    ws_url: str
    http_url: str


def tls_endpoint(port: int, host: str = "127.0.0.1") -> Endpoint:
    return Endpoint(f"wss://{host}:{port}/tts/websocket", f"https://{host}:{port}")


def plain_endpoint(port: int) -> Endpoint:
    return Endpoint(f"ws://127.0.0.1:{port}/tts/websocket", f"http://127.0.0.1:{port}")


def tls_server_context(directory: Path, *names: str) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 (and ``names``) signed by a fresh test CA, and the
    CA's PEM file (herald and the SDK trust it through SSL_CERT_FILE / an ssl context)."""
    import trustme

    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", *names).configure_cert(context)
    return context, ca_file


def as_installed(env: dict[str, str]) -> dict[str, str]:
    """``env`` without PYTHONDONTWRITEBYTECODE, which a development shell may set and
    which would make every start compile herald anew (an installed herald has its
    bytecode, written by pip). Changes ``env`` in place and returns it."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; ``messages`` are
    (trio time received, text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[tuple[float, str]] = []
        self._changed = trio.Event()

    async def run(self) -> None:
        while True:
            await trio.lowlevel.wait_readable(self.sock)
            while True:
                try:
                    data = self.sock.recv(4096)
                except BlockingIOError:
                    break
                self.messages.append((trio.current_time(), data.decode(errors="replace")))
                self._changed.set()
                self._changed = trio.Event()

    async def wait_for(self, text: str, since: int = 0, timeout: float = 30) -> float:
        """The trio time of the first message from index ``since`` on containing ``text``."""
        with trio.fail_after(timeout):
            while True:
                for when, message in self.messages[since:]:
                    if text in message:
                        return when
                await self._changed.wait()

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


# --- watching ALSA file sinks --------------------------------------------------------

_IN_MODIFY = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


class FileWatch:
    """Every size a growing file took, timed when its writer's ``write()`` happened
    (inotify IN_MODIFY, read by a trio task: no polling interval to add).

    ``sizes`` holds (trio time, bytes); a size smaller than the previous one means the
    file was truncated (the sink was opened again) and starts a new ``epoch``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0 or _libc.inotify_add_watch(self._fd, bytes(path), _IN_MODIFY) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {path}")
        self._file = path.open("rb")
        self.sizes: list[tuple[float, int]] = [(trio.current_time(), self.size())]
        self.epoch = 0

    def size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    async def run(self) -> None:
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            now = trio.current_time()
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 65536)
            size = self.size()
            if size != self.sizes[-1][1]:
                if size < self.sizes[-1][1]:
                    self.epoch += 1
                self.sizes.append((now, size))

    def read(self, start: int, end: int | None = None) -> bytes:
        self._file.seek(start)
        return self._file.read() if end is None else self._file.read(end - start)

    def first_nonzero(self, start: int) -> int | None:
        """The byte offset of the first non-zero 16-bit sample at or after ``start``."""
        data = self.read(start)
        rest = data.lstrip(b"\x00")
        if not rest:
            return None
        offset = start + len(data) - len(rest)
        return offset - offset % 2

    def first_time_above(self, size: int, since: float) -> float | None:
        """When the file first grew past ``size`` bytes, at or after trio time ``since``."""
        for when, value in self.sizes:
            if when >= since and value > size:
                return when
        return None

    def close(self) -> None:
        self._file.close()
        os.close(self._fd)


class Lines:
    """Lines from a byte stream (a subprocess's stdout)."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buf = b""

    async def next(self, timeout: float = 30) -> str:
        with trio.fail_after(timeout):
            while b"\n" not in self._buf:
                data = await self._stream.receive_some(65536)
                if not data:
                    raise EOFError("the stream ended")
                self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode(errors="replace")


class Watch:
    """What herald publishes (``herald/#``), read once by a real mosquitto_sub: events
    by id with the trio time they arrived, the last payload per topic. Unlike the test
    harness's Observer it indexes as it reads, so waits stay cheap over a long soak."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.by_id: dict[tuple[str, str], list[tuple[str, float, dict[str, Any]]]] = {}
        self.last: dict[str, str] = {}
        self.count = 0
        self._changed = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        import subprocess

        args = ["mosquitto_sub", *self.broker.cli_args(), "-t", "herald/#", "-F", "%j"]
        proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            lines = Lines(proc.stdout)
            probe = f"herald/_probe/{os.getpid()}-{id(self)}"
            pub = ["mosquitto_pub", *self.broker.cli_args(), "-t", probe, "-m", "x", "-r"]
            await trio.run_process(pub)
            started = False
            while True:
                try:
                    line = await lines.next(timeout=math.inf)
                except EOFError:
                    return
                msg = json.loads(line)
                topic, payload = msg["topic"], msg["payload"]
                if topic == probe:
                    if not started:
                        started = True
                        await trio.run_process([*pub[:-3], "-n", "-r"])
                        task_status.started()
                    continue
                now = trio.current_time()
                self.last[topic] = payload
                device = topic.split("/")[1]
                if topic.endswith("/event"):
                    event = json.loads(payload)
                    key = (device, str(event.get("id")))
                    self.by_id.setdefault(key, []).append((event["event"], now, event))
                self.count += 1
                self._changed.set()
                self._changed = trio.Event()
        finally:
            if proc.returncode is None:
                proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()

    def events(self, id: str, device: str = "kitchen") -> list[str]:
        return [e for e, _, _ in self.by_id.get((device, id), [])]

    def event(self, id: str, name: str, device: str = "kitchen") -> tuple[float, dict[str, Any]]:
        """(arrival time, payload) of the first ``name`` event of ``id``."""
        for e, when, payload in self.by_id.get((device, id), []):
            if e == name:
                return when, payload
        raise KeyError(f"{device}/{id}: no {name} event")

    def ended(self, id: str, device: str = "kitchen") -> str | None:
        for e in self.events(id, device):
            if e in TERMINAL:
                return e
        return None

    def state(self, device: str = "kitchen") -> dict[str, Any]:
        text = self.last.get(f"herald/{device}/state")
        return json.loads(text) if text else {}

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        with trio.fail_after(timeout):
            while not predicate():
                await self._changed.wait()

    async def wait_end(self, id: str, device: str = "kitchen", timeout: float = 20) -> str:
        """The terminal event of ``id`` once it arrived."""
        await self.wait_for(lambda: self.ended(id, device) is not None, timeout)
        end = self.ended(id, device)
        assert end is not None
        return end


TERMINAL = ("finished", "interrupted", "dropped", "failed")


async def line_publisher(broker: Any, topic: str) -> trio.Process:
    """A ``mosquitto_pub -l`` that publishes each line written to its stdin (QoS 1):
    one connection for a whole run, where a mosquitto_pub per message would cost a
    process start each."""
    import subprocess

    args = ["mosquitto_pub", *broker.cli_args(), "-q", "1", "-t", topic, "-l"]
    proc = await trio.lowlevel.open_process(args, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    return proc


def cloud_lines(h: Any, *, timed: bool = False) -> list[Any]:
    """herald's "cloud online/offline/connecting" log lines, in order: the states, or
    with ``timed`` (wall time, state). The log is read rather than the retained state
    topic because herald can publish a stale state: a change that lands while it is
    publishing the previous one is not published (see the report)."""
    out: list[Any] = []
    for line in h.logs().splitlines():
        _, found, rest = line.partition(" herald.cartesia: cloud ")
        if not found:
            continue
        state = rest.split(" ", 1)[0]
        if timed:
            wall = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((wall, state))
        else:
            out.append(state)
    return out


async def wait_cloud_online(h: Any, timeout: float = 60) -> None:
    """Until herald's log says its cloud is online (see `cloud_lines`)."""
    try:
        with trio.fail_after(timeout):
            while cloud_lines(h)[-1:] != ["online"]:
                await trio.sleep(0.05)
    except trio.TooSlowError:
        log = h.logs()[-3000:]
        raise RuntimeError(f"herald {h.device} did not come online:\n{log}") from None


# --- the audio fill before issue 17, for side-by-side runs -------------------------

# herald.audio.PlayerTuning fields giving the fill of herald before issue 17: a 120 ms
# ring in 20 ms periods, always full, the 50 ms tick, no lead-in (bench/sim_daemon.py
# --fill today, bench/jitter.py, bench/sink_cpu.py).
TODAYS_FILL: dict[str, float | int] = {
    "period_s": 0.020,
    "periods": 6,
    "start_fill_s": 0.120,
    "idle_margin_s": 0.070,
    "lead_in_s": 0.0,
}
