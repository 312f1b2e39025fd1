"""The ``herald`` command line. Exit 0 on success, else non-zero and one line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import trio

from herald import __version__
from herald.config import Config, ConfigError, default_config_path, load_config
from herald.secret import Secret


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: $HERALD_CONFIG or /etc/herald/config.toml)",
    )
    common.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING or ERROR (default: INFO for run, else quiet)",
    )

    parser = argparse.ArgumentParser(prog="herald", description="A voice appliance daemon.")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", parents=[common], help="run the daemon (in the foreground)")

    say = sub.add_parser("say", parents=[common], help="speak TEXT once, or write it to a WAV")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--wav", type=Path, help="write a WAV file instead of playing")

    voices = sub.add_parser("voices", parents=[common], help="list Cartesia voices")
    voices.add_argument("--json", action="store_true", help="print JSON for scripts")

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_sub.add_parser("check", parents=[common], help="validate the config, list every error")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            return _config_check(args.config)
        cfg = load_config(args.config, os.environ)
        from herald import logs

        level = args.log_level or ("INFO" if args.command == "run" else "CRITICAL")
        logs.setup(level.upper(), _secrets(cfg))
        if args.command == "run":
            from herald.app import serve

            return _exit_now_if_piper_loaded(_run(serve, args.config))
        if args.command == "say":
            return _run(_say, cfg, args.text, args.wav)
        if args.command == "voices":
            return _run(_voices, cfg, args.json)
    except ConfigError as exc:
        print(f"herald: {'; '.join(exc.errors)}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _run(fn: Callable[..., Awaitable[int]], *args: object) -> int:
    """trio.run, with a UsageError raised inside a nursery unwrapped from its group."""
    try:
        return trio.run(fn, *args)
    except BaseExceptionGroup as group:
        usage, rest = group.split(UsageError)
        if usage is not None and rest is None:
            raise _leaf(usage) from None
        raise


def _exit_now_if_piper_loaded(code: int) -> int:
    """onnxruntime (under Piper) can crash in its own teardown at interpreter exit when
    a synthesis thread is still inside it (a stop during a load or a sentence). By
    now everything herald owns is closed and flushed, so skip the teardown."""
    if "onnxruntime" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _secrets(cfg: Config) -> list[Secret]:
    return [s for s in (cfg.cartesia_api_key, cfg.mqtt_password) if s is not None]


def _config_check(path: Path | None) -> int:
    shown = path or default_config_path(os.environ)
    try:
        load_config(path, os.environ)
    except ConfigError as exc:
        print(f"{shown}: {len(exc.errors)} error(s)", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(f"{shown}: OK")
    return 0


def _require_key(cfg: Config) -> Secret:
    if cfg.cartesia_api_key is None:
        raise UsageError(
            "no Cartesia API key: set cartesia.api_key_file in the config "
            "or the CARTESIA_API_KEY environment variable"
        )
    return cfg.cartesia_api_key


async def _say(cfg: Config, text: str, wav: Path | None) -> int:
    from herald.cartesia.client import CartesiaClient, CloudState
    from herald.cartesia.errors import CartesiaError
    from herald.cartesia.protocol import Audio, VoiceParams
    from herald.cartesia.ws_adapter import TrioWsConnector
    from herald.text import split_sentences

    if not text.strip():
        raise UsageError("TEXT is empty")
    key = _require_key(cfg)
    client = CartesiaClient(TrioWsConnector(cfg.cartesia.url, key, cfg.cartesia.version))
    params = VoiceParams(
        model=cfg.cartesia.model,
        voice=cfg.cartesia.voice,
        language=cfg.cartesia.language,
        sample_rate=cfg.audio.sample_rate,
    )
    output = _WavOutput(wav, cfg) if wav is not None else _SpeakerOutput(cfg)
    async with trio.open_nursery() as nursery:
        await output.start(nursery)
        await nursery.start(client.run)
        try:
            with trio.move_on_after(15):
                await client.status.wait_until(lambda s: s.state is not CloudState.CONNECTING)
            async with await client.open_utterance(params) as utt:
                for sentence in split_sentences(text):
                    await utt.push(sentence)
                await utt.finish()
                async for item in utt:
                    if isinstance(item, Audio):
                        output.feed(item.data)
            await output.finish()
        except CartesiaError as exc:
            raise UsageError(str(exc)) from None
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
    return 0


class _WavOutput:
    def __init__(self, path: Path, cfg: Config) -> None:
        self._path = path
        self._rate = cfg.audio.sample_rate
        self._pcm = bytearray()

    async def start(self, nursery: trio.Nursery) -> None:
        pass

    def feed(self, pcm: bytes) -> None:
        self._pcm += pcm

    async def finish(self) -> None:
        from herald.wav import write_wav

        write_wav(self._path, bytes(self._pcm), self._rate)
        print(f"wrote {self._path} ({len(self._pcm) // 2 / self._rate:.2f} s)")


class _SpeakerOutput:
    """Plays through the configured ALSA device, with the daemon's jitter buffer."""

    def __init__(self, cfg: Config) -> None:
        from herald.audio import AlsaDevice, Player

        self._player = Player(
            AlsaDevice(cfg.audio.device), cfg.audio.sample_rate, volume=cfg.audio.volume
        )
        self._stream = self._player.open_stream()

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self._player.run)
        status = self._player.status.value
        if not status.ok:
            raise UsageError(str(status))

    def feed(self, pcm: bytes) -> None:
        self._stream.feed(pcm)

    async def finish(self) -> None:
        self._stream.end()
        await self._stream.wait_done()
        # Cancelling the player (by the caller) lets the ring play out before closing.


async def _voices(cfg: Config, as_json: bool) -> int:
    from herald.cartesia.errors import CartesiaError
    from herald.cartesia.rest import CartesiaRest

    key = _require_key(cfg)
    rest = CartesiaRest(cfg.cartesia.api_url, key, cfg.cartesia.version)
    try:
        voices = await rest.list_voices()
    except CartesiaError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        rows = [
            {"id": v.id, "name": v.name, "language": v.language, "description": v.description}
            for v in voices
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for v in voices:
        desc = v.description if len(v.description) <= 60 else v.description[:57] + "..."
        print(f"{v.id}  {v.language:<5}  {v.name:<24}  {desc}")
    return 0
