"""Driving paho's socket from trio (paho's examples/loop_trio.py pattern, non-blocking).

paho never opens a socket itself here: `open_connection` (DNS, TCP, TLS; blocking)
runs in a worker thread, and `SocketDriver.start` hands the result to paho on the trio
thread, so paho is only ever called from the trio thread and its callbacks run there.
`SocketDriver.serve` then runs three tasks: a reader (wait_readable + loop_read), a
writer (want_write / on_socket_register_write, wait_writable + loop_write) and a misc
task (loop_misc every second: keepalive pings and the keepalive timeout).

Also here: how the paho client is configured, and how its messages become `Message`s.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec

import paho.mqtt.client as paho
import trio
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from herald.mqtt.broker import Message
from herald.mqtt.errors import MqttConnectionLost, MqttError
from herald.mqtt.limit import LimitedSocket
from herald.mqtt.settings import MqttSettings

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

log = logging.getLogger("herald.mqtt")
_P = ParamSpec("_P")
OK = MQTTErrorCode.MQTT_ERR_SUCCESS
MISC_INTERVAL = 1.0


def contained(callback: Callable[_P, None]) -> Callable[_P, None]:
    """Wrap a paho callback so that no exception escapes into paho: log it, carry on.

    (With paho's defaults, an exception in a callback ends its network loop while the
    process stays up, deaf.)
    """

    @functools.wraps(callback)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except Exception:
            log.exception("MQTT: error in %s (contained)", callback.__name__)

    return wrapper


def error_text(rc: MQTTErrorCode) -> str:
    """paho's text for an error code, as a clause: "the connection was lost"."""
    return paho.error_string(rc).rstrip(".").lower()


class PahoClient(paho.Client):
    """paho's client, given an open socket instead of opening one itself (blocking)."""

    next_socket: LimitedSocket | None = None

    def _create_socket(self) -> SocketLike:
        sock, self.next_socket = self.next_socket, None
        if sock is None:
            raise ConnectionError("no connection was opened for paho")
        return sock


def make_paho_client(
    settings: MqttSettings, *, receive_maximum: int, max_queued: int
) -> PahoClient:
    """A paho client for a persistent MQTT v5 session with manual acknowledgement."""
    s = settings
    client = PahoClient(
        CallbackAPIVersion.VERSION2,
        client_id=s.client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
        manual_ack=True,
    )
    client.suppress_exceptions = True  # second guard: our callbacks are `contained`
    client.max_queued_messages_set(max_queued)
    if s.username:
        password = s.password.reveal() if s.password else None  # handed to the sender
        client.username_pw_set(s.username, password)
    if s.will is not None:
        client.will_set(s.will[0], s.will[1], qos=1, retain=True)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = s.session_expiry
    properties.ReceiveMaximum = receive_maximum
    # clean_start=False, explicitly: paho's default wipes the session on the first
    # connect, losing the commands queued while herald was down.
    client.connect_async(
        s.host, s.port, keepalive=s.keepalive, clean_start=False, properties=properties
    )
    return client


def to_message(msg: paho.MQTTMessage, marker: str, *, max_payload: int, connection: int) -> Message:
    """Our `Message` for a paho message; ``marker`` is the limiter's user property."""
    topic = msg.topic  # raises for a topic that is not UTF-8
    payload = bytes(msg.payload)
    size, oversize = len(payload), False
    for key, value in getattr(msg.properties, "UserProperty", None) or ():
        if key == marker:  # set by our PublishLimiter: the payload was cut
            size, oversize = int(value), True
    if len(payload) > max_payload:  # cannot pass the limiter; be safe anyway
        payload, oversize = payload[:max_payload], True
    return Message(
        topic=topic,
        payload=payload,
        qos=msg.qos,
        retain=bool(msg.retain),
        dup=bool(msg.dup),
        oversize=oversize,
        size=size,
        mid=msg.mid if msg.qos else 0,
        connection=connection,
    )


class SocketDriver:
    """Moves bytes between paho and its socket, on trio; one socket at a time."""

    def __init__(
        self, client: PahoClient, delivered: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._client = client
        # Hands what the last read delivered on; waits while the consumer is behind.
        # Only then is the socket read again: backpressure, not drops.
        self._delivered = delivered
        self._sock: LimitedSocket | None = None
        self._write_wanted = trio.Event()
        self._trio_thread: int | None = None
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write

    def start(self, sock: LimitedSocket) -> MQTTErrorCode:
        """Give ``sock`` to paho, which queues CONNECT (non-blocking; trio thread only)."""
        self._trio_thread = threading.get_ident()
        self.close()
        self._sock = self._client.next_socket = sock
        return self._client.reconnect()

    async def serve(self, sock: LimitedSocket, lost: Callable[[MqttError], None]) -> None:
        """Run reader, writer and misc tasks until one finds the connection gone, which
        calls ``lost`` (which is expected to cancel this)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_loop, sock, lost)
            nursery.start_soon(self._write_loop, sock, lost)
            nursery.start_soon(self._misc_loop, sock, lost)

    def close(self) -> None:
        """Close the socket without DISCONNECT (the broker then sends the last will)."""
        sock = self._sock
        if sock is not None:
            self._release()
            sock.close()

    def _release(self) -> None:
        """Forget the socket and wake our waiters on it, before anyone closes it."""
        sock, self._sock = self._sock, None
        if sock is not None:
            trio.lowlevel.notify_closing(sock.fd)

    def _gone(
        self, sock: LimitedSocket, rc: MQTTErrorCode, lost: Callable[[MqttError], None]
    ) -> bool:
        if rc == OK and self._sock is sock:
            return False
        lost(MqttConnectionLost(f"connection lost: {error_text(rc)}"))
        return True

    async def _read_loop(self, sock: LimitedSocket, lost: Callable[[MqttError], None]) -> None:
        while self._sock is sock:  # never wait on a closed (maybe reused) fd
            if sock.pending():  # already read from the kernel: wait_readable would hang
                await trio.lowlevel.checkpoint()
            else:
                try:
                    await trio.lowlevel.wait_readable(sock.fd)
                except trio.ClosedResourceError:
                    break
            if self._gone(sock, self._client.loop_read(), lost):
                return
            if self._delivered is not None:
                await self._delivered()
        lost(MqttConnectionLost("connection closed"))

    async def _write_loop(self, sock: LimitedSocket, lost: Callable[[MqttError], None]) -> None:
        while self._sock is sock:
            if not self._client.want_write():
                self._write_wanted = trio.Event()
                if not self._client.want_write():
                    await self._write_wanted.wait()
                continue
            try:
                await trio.lowlevel.wait_writable(sock.fd)
            except trio.ClosedResourceError:
                break
            if self._gone(sock, self._client.loop_write(), lost):
                return
        lost(MqttConnectionLost("connection closed"))

    async def _misc_loop(self, sock: LimitedSocket, lost: Callable[[MqttError], None]) -> None:
        while True:
            await trio.sleep(MISC_INTERVAL)
            if self._gone(sock, self._client.loop_misc(), lost):
                return

    @contained
    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: SocketLike) -> None:
        if sock is self._sock and threading.get_ident() == self._trio_thread:
            self._release()  # paho closes it next

    @contained
    def _on_socket_register_write(
        self, client: paho.Client, userdata: Any, sock: SocketLike
    ) -> None:
        if threading.get_ident() == self._trio_thread:
            self._write_wanted.set()
