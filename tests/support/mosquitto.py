"""A real mosquitto broker for tests: own config, free loopback port, persistence in a
temporary directory, optional password file, TLS listener and access control: an
``acl_file`` (read access checked only on delivery) or the dynamic-security plugin
(which refuses a denied subscription in its SUBACK).

The broker saves its database after every change (``autosave_on_changes true`` with
``autosave_interval 1``), so even a SIGKILL loses no queued message, and `restart`
brings it back on the same ports with the same database.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import trustme

START_TIMEOUT = 10.0
# The queue install.sh gives herald's session (mosquitto's default, 1,000 messages,
# drops the rest of a flood in the broker itself).
INSTALLED_QUEUE = ("max_queued_messages 10080", "max_queued_bytes 41287680")
DYNSEC_ITERATIONS = 101  # the plugin's own default for PBKDF2-SHA512

# Per user: (acltype, topic filter, allow), e.g. ("subscribePattern", "herald/#", True).
DynsecAcls = Mapping[str, Sequence[tuple[str, str, bool]]]


def dynsec_plugin() -> str | None:
    """Path of mosquitto's dynamic-security plugin (Debian: mosquitto's own package)."""
    found = sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so"))
    found += sorted(glob.glob("/usr/lib/mosquitto_dynamic_security.so"))
    return found[0] if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto:
    """One broker process (stopped at first: call `start`).

    ``users``: name -> password for a password file (made with ``mosquitto_passwd``);
    anonymous clients are allowed only when there are none, unless ``allow_anonymous``
    says otherwise. ``ca``: also open a TLS listener (``tls_port``) whose certificate,
    for 127.0.0.1 and localhost, the CA signs (``ca_file``); ``require_certificate``:
    clients there must present a certificate the CA signed. ``acl``: the lines of an
    ``acl_file``. ``dynsec``: use the dynamic-security plugin instead of the password
    file, each user (from ``users``) with one role holding these ACL entries, and the
    plugin's default access (publish denied, receive allowed, subscribe denied).
    ``settings``: more lines of mosquitto.conf (e.g. `INSTALLED_QUEUE`).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        ca: trustme.CA | None = None,
        require_certificate: bool = False,
        acl: Sequence[str] | None = None,
        dynsec: DynsecAcls | None = None,
        settings: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.allow_anonymous = not self.users if allow_anonymous is None else allow_anonymous
        self.port = free_port()
        self.tls_port = free_port() if ca is not None else None
        self.persistence_dir = workdir / "db"
        self.persistence_dir.mkdir(exist_ok=True)
        self.log_file = workdir / "mosquitto.log"
        self.ca_file: Path | None = None
        self.config_file = workdir / "mosquitto.conf"
        self._process: subprocess.Popen[bytes] | None = None
        self.acl_file: Path | None = None
        self._write_config(ca, require_certificate, acl, dynsec, settings)

    def _write_config(
        self,
        ca: trustme.CA | None,
        require_certificate: bool,
        acl: Sequence[str] | None,
        dynsec: DynsecAcls | None,
        settings: Sequence[str],
    ) -> None:
        lines = [
            f"user {pwd.getpwuid(os.getuid()).pw_name}",  # as root it would switch users
            "persistence true",
            f"persistence_location {self.persistence_dir}/",
            "autosave_interval 1",
            "autosave_on_changes true",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "per_listener_settings false",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
        ]
        if dynsec is not None:
            lines += self._dynsec(dynsec)
        elif self.users:
            password_file = self.workdir / "passwd"
            password_file.unlink(missing_ok=True)
            for i, (name, password) in enumerate(self.users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(
                    ["mosquitto_passwd", "-b", *create, str(password_file), name, password],
                    check=True,
                    capture_output=True,
                )
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if acl is not None:
            self.acl_file = self.workdir / "acl"
            self.acl_file.write_text("\n".join(acl) + "\n")
            lines.append(f"acl_file {self.acl_file}")
        lines += settings
        lines.append(f"listener {self.port} 127.0.0.1")
        if ca is not None:
            self.ca_file = self.workdir / "ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
            server = ca.issue_cert("127.0.0.1", "localhost")
            cert_file, key_file = self.workdir / "server.pem", self.workdir / "server.key"
            server.cert_chain_pems[0].write_to_path(str(cert_file))
            server.private_key_pem.write_to_path(str(key_file))
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.ca_file}",
                f"certfile {cert_file}",
                f"keyfile {key_file}",
                f"require_certificate {'true' if require_certificate else 'false'}",
            ]
        self.config_file.write_text("\n".join(lines) + "\n")

    def _dynsec(self, acls: DynsecAcls) -> list[str]:
        plugin = dynsec_plugin()
        if plugin is None:
            raise RuntimeError("mosquitto's dynamic-security plugin is not installed")
        clients, roles = [], []
        for name, password in self.users.items():
            salt = os.urandom(12)
            digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, DYNSEC_ITERATIONS)
            clients.append(
                {
                    "username": name,
                    "roles": [{"rolename": f"role-{name}"}],
                    "password": base64.b64encode(digest).decode(),
                    "salt": base64.b64encode(salt).decode(),
                    "iterations": DYNSEC_ITERATIONS,
                }
            )
            entries = [
                {"acltype": kind, "topic": topic, "priority": 0, "allow": allow}
                for kind, topic, allow in acls.get(name, ())
            ]
            roles.append({"rolename": f"role-{name}", "acls": entries})
        state = {
            "defaultACLAccess": {
                "publishClientSend": False,
                "publishClientReceive": True,
                "subscribe": False,
                "unsubscribe": True,
            },
            "clients": clients,
            "groups": [],
            "roles": roles,
        }
        state_file = self.workdir / "dynamic-security.json"
        state_file.write_text(json.dumps(state, indent=1))
        return [f"plugin {plugin}", f"plugin_opt_config_file {state_file}"]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            raise RuntimeError("mosquitto is already running")
        self._process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        ports = [p for p in (self.port, self.tls_port) if p is not None]
        while ports:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", ports[0]), timeout=1):
                    ports.pop(0)
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"mosquitto did not listen in time\n{self.log()}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM: a graceful stop (the broker saves its database)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the broker writes nothing more."""
        self._end(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the broker goes silent, its connections stay open."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def _end(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signum)
            process.send_signal(signal.SIGCONT)  # in case it was paused
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def restart(self, *, kill: bool = False, wipe: bool = False) -> None:
        """Stop (or kill) and start again on the same ports; ``wipe``: forget all state."""
        self.kill() if kill else self.stop()
        if wipe:
            shutil.rmtree(self.persistence_dir)
            self.persistence_dir.mkdir()
        self.start()

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cli_args(self) -> list[str]:
        """Connection arguments for mosquitto_pub / mosquitto_sub (plain listener)."""
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-V", "mqttv5"]
        if self.users:
            name, password = next(iter(self.users.items()))
            args += ["-u", name, "-P", password]
        return args


class MosquittoFactory(Protocol):
    """Makes started brokers (the ``mosquitto_factory`` fixture)."""

    def __call__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        ca: trustme.CA | None = None,
        require_certificate: bool = False,
        acl: Sequence[str] | None = None,
        dynsec: DynsecAcls | None = None,
    ) -> Mosquitto: ...
