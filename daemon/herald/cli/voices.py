"""``herald voices``: list Cartesia's voices and clone one from a recording.

    herald voices [--json]
    herald voices clone FILE --name NAME [--language LANG] [--description TEXT] [--json]

There is no ``mix``: Cartesia removed voice embeddings and mixing on 2026-06-01 (every
API version). A cloned voice is a voice id like any other.

Each prints the config line to use what it found or made; failures are one line
(`UsageError`), never the API key.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from herald.cli.errors import UsageError
from herald.config.sections import Language
from herald.limits import MIXING_REMOVED

if TYPE_CHECKING:
    from herald.cartesia.rest import CartesiaRest, VoiceInfo
    from herald.config import Config

__all__ = ["add_parser", "run"]


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    common_sub: argparse.ArgumentParser,
) -> None:
    """Register ``voices`` and its actions. ``common_sub`` holds the shared options with
    no defaults, so that an action's parser never resets what ``voices`` parsed."""
    voices = sub.add_parser("voices", parents=[common], help="list and clone voices")
    voices.add_argument("--json", action="store_true", help="print JSON for scripts")
    actions = voices.add_subparsers(dest="voices_command", metavar="ACTION")

    clone = actions.add_parser(
        "clone", parents=[common_sub], help="clone a voice from a WAV recording (>= 5 s)"
    )
    clone.add_argument("file", type=Path, metavar="FILE", help="a WAV file of one voice")
    clone.add_argument("--name", required=True, help="the new voice's name at Cartesia")
    clone.add_argument("--language", help="its language (default: from cartesia.language)")
    clone.add_argument("--description", help="a description shown in the voice list")
    clone.add_argument("--json", action="store_true", help="print JSON for scripts")

    # Gone from Cartesia; kept as a name so that old notes and scripts get the reason.
    gone = actions.add_parser("mix", parents=[common_sub], help=argparse.SUPPRESS)
    gone.add_argument("rest", nargs=argparse.REMAINDER)


async def run(cfg: Config, args: argparse.Namespace) -> int:
    from herald.cartesia.errors import CartesiaError
    from herald.cartesia.rest import CartesiaRest

    if args.voices_command == "mix":
        raise UsageError(f"herald voices mix was removed: {MIXING_REMOVED}")
    if cfg.cartesia_api_key is None:
        raise UsageError(
            "no Cartesia API key: set cartesia.api_key_file in the config "
            "or the CARTESIA_API_KEY environment variable"
        )
    rest = CartesiaRest(cfg.cartesia.api_url, cfg.cartesia_api_key, cfg.cartesia.version)
    try:
        if args.voices_command == "clone":
            return await _clone(cfg, rest, args)
        return await _list(rest, args.json)
    except CartesiaError as exc:
        raise UsageError(str(exc)) from None


async def _list(rest: CartesiaRest, as_json: bool) -> int:
    voices = await rest.list_voices()
    if as_json:
        print(json.dumps([_row(v) for v in voices], indent=2, ensure_ascii=False))
        return 0
    for v in voices:
        desc = v.description if len(v.description) <= 60 else v.description[:57] + "..."
        print(f"{v.id}  {v.language:<5}  {v.name:<24}  {desc}")
    return 0


def _row(v: VoiceInfo) -> dict[str, str]:
    return {"id": v.id, "name": v.name, "language": v.language, "description": v.description}


async def _clone(cfg: Config, rest: CartesiaRest, args: argparse.Namespace) -> int:
    import trio

    from herald.sounds.voice_clip import ClipProblem, check_clone_clip

    path: Path = args.file
    try:
        data = await trio.Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = check_clone_clip(data)
    except ClipProblem as exc:
        raise UsageError(f"{path}: {exc}") from None
    name = args.name.strip()
    if not name:
        raise UsageError("--name is empty")
    # Clones take a bare language code ("pt"), not a regional one ("pt-BR").
    language = args.language or cfg.cartesia.language.split("-")[0]
    if not _matches(Language, language):
        raise UsageError(f'--language {language!r}: not a language code such as "en" or "pt"')
    voice = await rest.clone_voice(
        data, filename=path.name, name=name, language=language, description=args.description
    )
    if args.json:
        print(json.dumps(_row(voice), indent=2, ensure_ascii=False))
        return 0
    slug = _slug(name)
    print(f'cloned "{voice.name or name}" from {info.seconds:.1f} s of audio: {voice.id}')
    print("To speak with it, set under [cartesia] in the config:")
    print(f'  voice = "{voice.id}"')
    print("or name it (for a say's voice, voice/set and Home Assistant):")
    print(f'  voices = [{{name = "{slug}", id = "{voice.id}"}}]')
    return 0


def _matches(annotated: object, value: str) -> bool:
    import msgspec

    try:
        msgspec.convert(value, annotated)
    except msgspec.ValidationError:
        return False
    return True


def _slug(name: str) -> str:
    """A `cartesia.voices` name from a voice's display name."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip().lower()).strip("-.")[:64]
    return slug or "cloned"
