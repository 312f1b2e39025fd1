"""Sniffing the first HTTP request head of a connection, to pick WS or REST."""

from __future__ import annotations

from dataclasses import dataclass

import trio

MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value

    @property
    def is_upgrade(self) -> bool:
        return self.headers.get("upgrade", "").strip().lower() == "websocket"

    @classmethod
    def parse(cls, data: bytes) -> RequestHead:
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method, _, rest = request_line.partition(" ")
        target = rest.rpartition(" ")[0] or rest
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return cls(method, target, headers)


async def read_head(stream: trio.abc.Stream) -> bytes:
    """Read until the end of the first request head (or EOF, or 64 KiB); return all bytes read.

    The bytes past the head (a body, pipelined requests) are returned too, for
    the chosen protocol handler to replay.
    """
    buf = bytearray()
    while b"\r\n\r\n" not in buf and len(buf) < MAX_HEAD:
        data = await stream.receive_some()
        if not data:
            break
        buf += data
    return bytes(buf)
