"""The ``herald`` command line. Exit 0 on success, else non-zero and one line on stderr."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import trio

import herald.cli.voices as cli_voices
from herald import __version__
from herald.cli.errors import UsageError
from herald.config import Config, ConfigError, default_config_path, load_config
from herald.secret import Secret

if TYPE_CHECKING:
    from herald.cache import ClipCache
    from herald.cartesia.client import CartesiaClient
    from herald.cli.doctor_service import ServiceSetup
    from herald.voice import VoiceParams


def _common(default: object) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=default,
        help="config file (default: $HERALD_CONFIG or /etc/herald/config.toml)",
    )
    common.add_argument(
        "--log-level",
        default=default,
        help="DEBUG, INFO, WARNING or ERROR (default: INFO for run, else quiet)",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common(None)

    parser = argparse.ArgumentParser(prog="herald", description="A voice appliance daemon.")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", parents=[common], help="run the daemon (in the foreground)")

    say = sub.add_parser("say", parents=[common], help="speak TEXT once, or write it to a WAV")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--wav", type=Path, help="write a WAV file instead of playing")

    cli_voices.add_parser(sub, common, _common(argparse.SUPPRESS))

    cache = sub.add_parser("cache", help="the clip cache")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    warm = cache_sub.add_parser("warm", parents=[common], help="synthesize phrases into the cache")
    warm.add_argument("texts", nargs="*", metavar="TEXT")
    warm.add_argument("--file", type=Path, help="one phrase per line ('-' for stdin)")
    cache_sub.add_parser("list", parents=[common], help="list the cached clips")
    prune = cache_sub.add_parser("prune", parents=[common], help="remove bad clips, keep the cap")
    prune.add_argument("--all", action="store_true", help="remove every clip")

    sub.add_parser("doctor", parents=[common], help="check the setup, say how to fix it")

    discovery = sub.add_parser("discovery", help="Home Assistant MQTT discovery")
    discovery_sub = discovery.add_subparsers(
        dest="discovery_command", required=True, metavar="ACTION"
    )
    discovery_sub.add_parser(
        "remove", parents=[common], help="remove herald's entities from Home Assistant"
    )

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_sub.add_parser("check", parents=[common], help="validate the config, list every error")
    return parser


EX_CONFIG = 78  # sysexits.h; systemd shows it as status=78/CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            return _config_check(args.config)
        if args.command == "doctor":
            return _doctor_command(args)
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
            return _run(cli_voices.run, cfg, args)
        if args.command == "cache":
            return _cache(cfg, args)
        if args.command == "discovery":
            return _run(_discovery_remove, cfg)
    except ConfigError as exc:
        print(f"herald: {'; '.join(exc.errors)}", file=sys.stderr)
        # EX_CONFIG for the service: the unit's RestartPreventExitStatus=78 leaves it
        # failed with this line in `systemctl status` instead of restarting in vain.
        return EX_CONFIG if args.command == "run" else 1
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
    from herald.cartesia.ws_adapter import TrioWsConnector
    from herald.speech.voicing import Voicing, voice_defaults

    if not text.strip():
        raise UsageError("TEXT is empty")
    key = _require_key(cfg)
    client = CartesiaClient(TrioWsConnector(cfg.cartesia.url, key, cfg.cartesia.version))
    # The daemon's voice and transforms: what `say` plays, `run` would too.
    params = voice_defaults(cfg)
    text = Voicing.from_config(cfg).text(text)
    output = _WavOutput(wav, cfg) if wav is not None else _SpeakerOutput(cfg)
    async with trio.open_nursery() as nursery:
        await output.start(nursery)
        await nursery.start(client.run)
        try:
            with trio.move_on_after(15):
                await client.status.wait_until(lambda s: s.state is not CloudState.CONNECTING)
            await _synthesize(client, params, text, output.feed)
            await output.finish()
        except CartesiaError as exc:
            raise UsageError(str(exc)) from None
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
    return 0


async def _synthesize(
    client: CartesiaClient, params: VoiceParams, text: str, out: Callable[[bytes], object]
) -> None:
    """One utterance over the client's socket, sentences as continuations."""
    from herald.cartesia.protocol import Audio
    from herald.text import split_sentences

    async with await client.open_context(params) as utt:
        for sentence in split_sentences(text):
            await utt.push(sentence)
        await utt.finish()
        async for item in utt:
            if isinstance(item, Audio):
                out(item.data)


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
        from herald.sounds.wav import write_wav

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


def _cache(cfg: Config, args: argparse.Namespace) -> int:
    import herald.cli.cache as cache_commands
    from herald.cache import ClipCache

    cache = ClipCache.from_config(cfg.cache)
    try:
        if args.cache_command == "list":
            print("\n".join(cache_commands.list_lines(cache)))
            return 0
        if args.cache_command == "prune":
            print(cache_commands.prune(cache, args.all))
            return 0
        source = sys.stdin if args.file == Path("-") else args.file
        try:
            phrases = cache_commands.read_phrases(args.texts, source)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        return _run(_warm, cfg, cache, phrases)
    except cache_commands.CacheUnavailable as exc:
        raise UsageError(str(exc)) from None


async def _warm(cfg: Config, cache: ClipCache, phrases: list[str]) -> int:
    """Synthesize each phrase not yet cached, over one socket, into the cache the
    daemon reads (same key: same voice, model, language and rate as `herald run`)."""
    from herald.cache import ClipMeta, clip_key
    from herald.cartesia.client import CartesiaClient, CloudState
    from herald.cartesia.errors import CartesiaError
    from herald.cartesia.ws_adapter import TrioWsConnector
    from herald.cli.cache import progress_line
    from herald.speech.voicing import Voicing, voice_defaults

    key = _require_key(cfg)
    params = voice_defaults(cfg)
    voicing = Voicing.from_config(cfg)
    client = CartesiaClient(TrioWsConnector(cfg.cartesia.url, key, cfg.cartesia.version))
    tty = sys.stderr.isatty()
    made = skipped = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        try:
            with trio.move_on_after(15):
                await client.status.wait_until(lambda s: s.state is not CloudState.CONNECTING)
            for n, phrase in enumerate(phrases):
                print(
                    progress_line(n, len(phrases), phrase),
                    end="\r" if tty else "\n",
                    file=sys.stderr,
                )
                # Keyed by the text as sent, as the daemon keys what it speaks.
                spoken = voicing.text(phrase)
                clip = clip_key(spoken, params, "cartesia")
                if await trio.to_thread.run_sync(cache.get, clip) is not None:
                    skipped += 1
                    continue
                pcm = bytearray()
                await _synthesize(client, params, spoken, pcm.extend)
                meta = ClipMeta.from_params(spoken, params, "cartesia")

                def store(clip: str = clip, meta: ClipMeta = meta, pcm: bytes = bytes(pcm)) -> bool:
                    with cache.begin(clip, meta) as writer:
                        writer.append(pcm)
                        return writer.commit()

                if not await trio.to_thread.run_sync(store):
                    raise UsageError(f"could not store {phrase!r} in {cfg.cache.dir}")
                made += 1
            print(progress_line(len(phrases), len(phrases)), file=sys.stderr)
        except CartesiaError as exc:
            raise UsageError(str(exc)) from None
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
    print(f"warmed {made} phrase(s); {skipped} already cached")
    return 0


async def _discovery_remove(cfg: Config) -> int:
    from herald.cli.discovery import RemovalFailed, remove_discovery

    try:
        count = await remove_discovery(cfg)
    except RemovalFailed as exc:
        raise UsageError(str(exc)) from None
    print(f"cleared {count} retained topics: herald {cfg.device.id} is gone from Home Assistant")
    return 0


def _doctor_command(args: argparse.Namespace) -> int:
    """`herald doctor` loads what herald.service would: its config, its credentials."""
    from herald import logs
    from herald.cli.doctor_service import load_like_service

    setup = load_like_service(args.config, os.environ)
    logs.setup((args.log_level or "CRITICAL").upper(), _secrets(setup.cfg))
    return _run(_doctor, setup)


async def _doctor(setup: ServiceSetup) -> int:
    from herald.cli.doctor import run_doctor

    return await run_doctor(setup.cfg, sys.stdout, setup=setup)
