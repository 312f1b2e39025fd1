"""sd_notify against a real datagram socket, the way systemd receives it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from herald.sdnotify import Notifier


def test_messages_reach_the_socket_and_the_variable_is_removed(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}
        notifier = Notifier(env)
        assert "NOTIFY_SOCKET" not in env
        assert notifier.watchdog_interval == 2.0
        notifier.ready("speaking")
        notifier.watchdog()
        notifier.stopping()
        got = [server.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=speaking", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_namespace() -> None:
    name = f"herald-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert server.recv(4096) == b"READY=1"


def test_without_systemd_nothing_happens() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    notifier.ready()  # no error


def test_watchdog_for_another_pid_is_ignored() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval is None


def test_a_vanished_socket_is_not_an_error_and_a_new_one_is_reached(tmp_path: Path) -> None:
    # systemd restarting (its socket gone for a moment) must not stop herald; and the
    # notifier keeps the address, so the next message reaches the socket once it is back.
    path = str(tmp_path / "notify")
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready()  # nobody listens: no error
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"
