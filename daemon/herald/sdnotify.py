"""systemd's notify protocol (READY, WATCHDOG, STATUS, STOPPING), dependency-free.

Messages are single datagrams to ``$NOTIFY_SOCKET``; without that variable
(not under systemd) every call is a no-op. The variable is removed from the
environment so that no child process can speak for us.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping


class Notifier:
    def __init__(self, env: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.pop("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if path[:1] == "@":
            self._address = "\0" + path[1:]
        elif path[:1] == "/":
            self._address = path
        self._watchdog: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self._watchdog = int(usec) / 1_000_000

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """How often to ping: half of WatchdogSec, as sd_watchdog_enabled(3) advises."""
        return None if self._watchdog is None else self._watchdog / 2

    def notify(self, *lines: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto("\n".join(lines).encode(), self._address)
        except OSError:
            # systemd gone or the socket full: the watchdog will tell, nothing to do here.
            pass

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *((f"STATUS={status}",) if status else ()))

    def reloading(self) -> None:
        # RELOADING=1 carries the kernel's CLOCK_MONOTONIC in microseconds, which
        # systemd compares against its own clock; trio's clock is not that clock.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")
