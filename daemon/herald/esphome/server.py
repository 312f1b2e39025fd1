"""The ESPHome API service: a TCP server (plaintext or Noise), mDNS, button events.

Start with ``await nursery.start(server.run)``; it reports started once the port is
bound (or binding failed: it then retries with backoff, logging each new error), so
a port in use never holds up or ends the daemon. At most `MAX_CONNECTIONS` clients
at once (Home Assistant uses one; the ESPHome dashboard or a CLI may add one); more
are closed at once.
"""

from __future__ import annotations

import logging
import random
from functools import partial

import trio

from herald.backoff import Backoff
from herald.esphome.connection import Connection, ConnectionTuning
from herald.esphome.entities import Entities
from herald.esphome.frames import Codec, PlaintextCodec
from herald.esphome.port import SpeakerPort
from herald.esphome.settings import EsphomeSettings

__all__ = ["MAX_CONNECTIONS", "EsphomeServer"]

log = logging.getLogger("herald.esphome")

MAX_CONNECTIONS = 4


class EsphomeServer:
    """herald on the ESPHome native API, talking to herald through ``port``."""

    def __init__(
        self,
        settings: EsphomeSettings,
        port: SpeakerPort,
        *,
        tuning: ConnectionTuning | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._s = settings
        self._port = port
        self._tuning = tuning or ConnectionTuning()
        self._rng = rng or random.Random()
        self._psk = settings.psk
        self._entities = Entities(settings)
        self._connections: set[Connection] = set()
        self.bound_port: int | None = None  # the TCP port, once bound (tests bind 0)

    @property
    def connections(self) -> int:
        return len(self._connections)

    def button_pressed(self, button: str, press: str) -> None:
        """A press of a configured button: an event to every subscribed client. Sync,
        never blocks (call it from the buttons' callback)."""
        msg = self._entities.button_event(button, press)
        if msg is None:
            return
        for conn in list(self._connections):
            if conn.subscribed:
                conn.send(msg)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        backoff = Backoff(1.0, 60.0, rng=self._rng)
        last_error = ""
        started = False
        while True:
            try:
                listeners = await trio.open_tcp_listeners(self._s.port, host=self._s.host)
            except OSError as exc:
                error = exc.strerror or str(exc)
                if error != last_error:
                    log.error(
                        "ESPHome API: cannot listen on %s:%d: %s; retrying",
                        self._s.host,
                        self._s.port,
                        error,
                    )
                    last_error = error
                if not started:
                    task_status.started()
                    started = True
                await trio.sleep(backoff.next_delay())
                continue
            break
        self.bound_port = listeners[0].socket.getsockname()[1]
        log.info(
            "ESPHome API: listening on %s:%d (%s)",
            self._s.host,
            self.bound_port,
            "Noise encryption" if self._psk is not None else "plaintext, no encryption key",
        )
        async with trio.open_nursery() as nursery:
            if self._s.advertise:
                from herald.esphome.mdns import MdnsAdvertiser  # zeroconf only when used

                await nursery.start(MdnsAdvertiser(self._s, self.bound_port).run)
            await nursery.start(partial(trio.serve_listeners, self._serve, listeners))
            if not started:
                task_status.started()

    def _codec(self) -> Codec:
        if self._psk is None:
            return PlaintextCodec()
        from herald.esphome.noise import NoiseCodec  # noise + cryptography only with a key

        return NoiseCodec(self._psk, self._s.name, self._s.mac_hex)

    async def _serve(self, stream: trio.SocketStream) -> None:
        peer = _peer(stream)
        if len(self._connections) >= MAX_CONNECTIONS:
            log.warning("ESPHome API: %s refused: already %d clients", peer, len(self._connections))
            await trio.aclose_forcefully(stream)
            return
        conn = Connection(
            stream, self._codec(), peer, self._entities, self._port, tuning=self._tuning
        )
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "a client"
    return f"{host}:{port}"
