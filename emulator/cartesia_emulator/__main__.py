"""Run the emulator as a process: prints ``READY <ws_url> <http_url>`` once listening."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import ssl
import sys

import trio

from .faults import Faults
from .server import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cartesia_emulator", description="Local emulator of Cartesia's TTS API."
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument(
        "--api-key", action="append", required=True, help="accepted API key (repeatable)"
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain; enables wss/https")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--ttfb-ms", type=float, default=0.0, help="delay before first chunk")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="delay between chunks")
    parser.add_argument("--idle-timeout", type=float, default=300.0, help="idle close, seconds")
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        help="the emulated day, YYYY-MM-DD (it decides which models are sunset)",
    )
    parser.add_argument(
        "--pronunciation-dict",
        action="append",
        default=[],
        help="a pronunciation dictionary id the account owns (repeatable)",
    )
    return parser


def _ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def _run(emu: Emulator) -> None:
    # Register for signals before announcing READY, so a supervisor that sends
    # SIGTERM right after reading the line never hits the default handler.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(emu.serve)
            print(f"READY {emu.ws_url} {emu.http_url}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.tls_key and not args.tls_cert:
        print("--tls-key needs --tls-cert", file=sys.stderr)
        return 2
    faults = Faults(
        ttfb=args.ttfb_ms / 1000.0,
        chunk_delay=args.chunk_delay_ms / 1000.0,
        idle_timeout=args.idle_timeout,
    )
    emu = Emulator(
        api_keys=frozenset(args.api_key),
        ssl_context=_ssl_context(args.tls_cert, args.tls_key),
        faults=faults,
        port=args.port,
    )
    if args.today is not None:
        emu.today = args.today
    emu.pronunciation_dicts.update(args.pronunciation_dict)
    trio.run(_run, emu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
