"""The Cartesia side of bench/ttfa.py, in a process of its own: the emulator over TLS
behind the proxy that adds the round trip.

A real service runs on its own machines; served from the bench's process, it shared
one interpreter with the bench's own bookkeeping (the MQTT observer parses every event
herald publishes, and herald publishes its ``queued`` and its state while its first
audio is on the way), so that herald's says, and only its, were served late. On the
emulated VM that bookkeeping is slow enough to show in the figures.

    python bench/remote.py DIR RTT_MS TTFB_MS [NAME...]

Writes the test CA to ``DIR/ca.pem``, prints ``READY <proxy port>``, serves until its
stdin ends, then prints ``HANDSHAKES <WebSocket handshakes served>`` and exits. NAMEs
are more names for the certificate: on this host for the VM, whose clients reach it
as 10.0.2.2 (QEMU's user network), the service at the host's speed while the clients
run at the emulated one (ttfa.py's ``--remote``):

    tail -f /dev/null | python bench/remote.py /tmp/remote 40 0 10.0.2.2
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from benchlib import tls_server_context
from cartesia_emulator import Emulator
from daemon_harness import KEY
from faultproxy import FaultProxy


async def serve(directory: Path, rtt_ms: float, ttfb_ms: float, *names: str) -> None:
    context, _ = tls_server_context(directory, *names)
    emulator = Emulator(api_keys=frozenset({KEY}), ssl_context=context)
    async with trio.open_nursery() as nursery:
        await nursery.start(emulator.serve)
        emulator.faults.ttfb = ttfb_ms / 1000
        proxy = FaultProxy(emulator.port, delay=rtt_ms / 2000)
        await nursery.start(proxy.serve)
        print(f"READY {proxy.port}", flush=True)
        stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
        while await stdin.receive_some():
            pass
        print(f"HANDSHAKES {len(emulator.handshakes)}", flush=True)
        nursery.cancel_scope.cancel()


def main() -> None:
    trio.run(serve, Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:])


if __name__ == "__main__":
    main()
