"""Bound what one incoming PUBLISH can cost in memory.

paho reads a whole packet into memory before it hands it to us, so a 200 MB publish
would cost 200 MB. `PublishLimiter` sits between the socket and paho and rewrites the
inbound MQTT v5 byte stream: a PUBLISH whose payload exceeds ``max_payload`` reaches
paho cut to ``max_payload`` bytes, its properties replaced by one user property
(``marker``, original payload size in bytes). The rest is discarded as it streams by,
so memory stays bounded by ``max_payload`` plus the topic. Every other packet passes
through unchanged. The oversize message is still a normal message to paho: it is
delivered, and acknowledged like any other, so the daemon can answer ``rejected``.

`LimitedSocket` applies a limiter to a socket, for paho's socket interface.
"""

from __future__ import annotations

import socket
import ssl
from collections import deque

_PUBLISH = 0x30
_USER_PROPERTY = 0x26
_CHUNK = 65536


def encode_varint(value: int) -> bytes:
    """MQTT's variable byte integer."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Malformed(Exception):
    pass


def _varint(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(value, end) of the variable byte integer at ``pos``; None if it is incomplete."""
    value = 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value += (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise _Malformed


class PublishLimiter:
    """A sans-I/O filter over the inbound byte stream (see the module docstring)."""

    def __init__(self, max_payload: int, marker: str) -> None:
        self._max = max_payload
        self._marker = marker.encode()
        self._head = bytearray()  # the fixed and variable header of the packet being read
        self._ops: deque[tuple[bool, int]] = deque()  # (keep?, byte count) for what follows
        self._broken = False
        self.cut = 0  # how many PUBLISH packets were cut

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the socket; return the bytes to hand to paho."""
        if self._broken:
            return data
        out = bytearray()
        view = memoryview(data)
        pos = 0
        while True:
            if self._ops:
                keep, count = self._ops[0]
                n = min(count, len(view) - pos)
                if n == 0:
                    break
                if keep:
                    out += view[pos : pos + n]
                pos += n
                if n == count:
                    self._ops.popleft()
                else:
                    self._ops[0] = (keep, count - n)
                continue
            try:
                parsed = self._parse()
            except _Malformed:
                # paho will find the same fault and drop the connection; stay out of its way.
                self._broken = True
                out += self._head
                out += view[pos:]
                return bytes(out)
            if isinstance(parsed, int):  # bytes still needed to decide
                n = min(parsed, len(view) - pos)
                if n == 0:
                    break
                self._head += view[pos : pos + n]
                pos += n
            else:
                out += parsed
        return bytes(out)

    def _pass(self, remaining: int, body: int) -> bytes:
        """Emit the collected header unchanged and let the rest of the packet through."""
        header = bytes(self._head)
        self._head.clear()
        rest = remaining - (len(header) - body)
        if rest > 0:
            self._ops.append((True, rest))
        return header

    def _parse(self) -> int | bytes:
        head = self._head
        if len(head) < 2:
            return 2 - len(head)
        fixed = _varint(head, 1)
        if fixed is None:
            return 1
        remaining, body = fixed
        command = head[0]
        if command & 0xF0 != _PUBLISH or remaining <= self._max:
            return self._pass(remaining, body)
        # A large PUBLISH: read its variable header (topic, packet id, properties length).
        end = body + remaining
        topic_end = body + 2
        if len(head) < topic_end:
            return topic_end - len(head)
        topic_end += int.from_bytes(head[body : body + 2], "big")
        if command & 0x06:  # QoS 1 or 2: a packet identifier follows the topic
            topic_end += 2
        if topic_end + 1 > end:  # malformed; paho will say so
            return self._pass(remaining, body)
        if len(head) < topic_end + 1:
            return topic_end + 1 - len(head)
        props = _varint(head, topic_end)
        if props is None:
            return 1
        props_len, props_start = props
        payload = end - props_start - props_len
        if payload <= self._max:
            return self._pass(remaining, body)
        size = str(payload).encode()
        prop = (
            bytes([_USER_PROPERTY])
            + len(self._marker).to_bytes(2, "big")
            + self._marker
            + len(size).to_bytes(2, "big")
            + size
        )
        variable = bytes(head[body:topic_end]) + encode_varint(len(prop)) + prop
        header = bytes([command]) + encode_varint(len(variable) + self._max) + variable
        self._head.clear()
        for keep, count in ((False, props_len), (True, self._max), (False, payload - self._max)):
            if count:
                self._ops.append((keep, count))
        self.cut += 1
        return header


class LimitedSocket:
    """A socket (plain or TLS) whose inbound stream goes through a `PublishLimiter`.

    Implements what paho uses of a socket. ``fd`` stays valid for trio's
    wait_readable/notify_closing after close; ``pending()`` counts bytes already read
    from the kernel (here or in the TLS layer) that a wait_readable would not see.
    """

    def __init__(self, sock: socket.socket, limiter: PublishLimiter) -> None:
        self._sock = sock
        self._limiter = limiter
        self._ready = bytearray()
        self._eof = False
        self.fd = sock.fileno()

    def recv(self, buffer_size: int) -> bytes:
        while not self._ready:
            if self._eof:
                return b""
            data = self._sock.recv(_CHUNK)  # BlockingIOError / SSLWantReadError go to paho
            if not data:
                self._eof = True
                return b""
            self._ready += self._limiter.feed(data)
        chunk = bytes(self._ready[:buffer_size])
        del self._ready[:buffer_size]
        return chunk

    def pending(self) -> int:
        buffered = len(self._ready)
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.fileno() >= 0:
            buffered += self._sock.pending()
        return buffered

    def send(self, buffer: bytes | bytearray) -> int:
        return self._sock.send(buffer)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)
