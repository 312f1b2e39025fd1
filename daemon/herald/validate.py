"""The one validation engine, for the config and for MQTT payloads: msgspec, one key at
a time, every problem collected.

msgspec stops at the first error of a Struct, so each key of a table (a TOML section, a
JSON command) is converted on its own against its field's type (constraints included),
and what is allowed is phrased from what `msgspec.inspect` says of the type (its
`Meta(description=...)` when it has one): "an integer from 1 to 65535". The config
words its errors `mqtt.port = 70000: must be ...`, a command `"volume": must be ...,
got 150`; both come from `convert_members`. Nothing here knows herald's sections or
commands.
"""

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import msgspec
import msgspec.inspect as mi

__all__ = [
    "Problem",
    "allowed_keys",
    "bad_value",
    "convert_members",
    "describe",
    "format_key",
    "format_path",
    "format_value",
    "struct_fields",
    "validate_array",
    "validate_table",
]

T = TypeVar("T")

_MAX_VALUE_CHARS = 60
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class Problem(NamedTuple):
    """A key that is not a field (``expected`` None), or a value its field's type refuses."""

    key: str
    value: object
    expected: Any  # the field's type; None for an unknown key


@functools.cache
def struct_fields(struct_type: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    """A Struct's fields by encoded name. Cached: msgspec resolves the annotations again
    on every call (about 150 us for a say's), and a payload is parsed on a say's way to
    the socket."""
    return {f.encode_name: f for f in msgspec.structs.fields(struct_type)}


def convert_members(
    struct_type: type[msgspec.Struct],
    members: Mapping[str, object],
    *,
    ignore_unknown: bool = False,
    unwrap: Callable[[object], object] = lambda value: value,
) -> tuple[dict[str, Any], list[Problem]]:
    """Convert each member to its field (by encoded name) in `struct_type`.

    Returns the valid values (by attribute name, ready for the Struct's constructor) and
    the problems, in the members' order. ``unwrap`` turns a member into what is
    converted (a JSON number kept as written, say, into its value).
    """
    fields = struct_fields(struct_type)
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in members.items():
        field = fields.get(key)
        if field is None:
            if not ignore_unknown:
                problems.append(Problem(key, value, None))
            continue
        try:
            values[field.name] = msgspec.convert(unwrap(value), field.type)
        except msgspec.ValidationError:
            problems.append(Problem(key, value, field.type))
    return values, problems


def allowed_keys(struct_type: type[msgspec.Struct]) -> list[str]:
    return list(struct_fields(struct_type))


def validate_table(
    struct_type: type[msgspec.Struct], table: Mapping[str, object], path: str
) -> tuple[dict[str, Any], list[str]]:
    """Convert each key of `table` to its field in `struct_type`.

    Returns the valid values (by attribute name, ready for the Struct's constructor) and
    one error per unknown key or bad value, each naming `path.key`.
    """
    values, problems = convert_members(struct_type, table)
    allowed = ", ".join(allowed_keys(struct_type))
    errors = [
        f"{path}.{format_key(p.key)}: unknown key (allowed: {allowed})"
        if p.expected is None
        else bad_value(f"{path}.{p.key}", p.value, p.expected)
        for p in problems
    ]
    return values, errors


def validate_array(
    value: object,
    path: str,
    one: Callable[[Mapping[str, Any], str], tuple[T | None, list[str]]],
    *,
    block: str | None = None,
) -> tuple[tuple[T, ...], list[str]]:
    """An array of tables (`[[block]]` in TOML): `one(table, "path[i]")` validates each.

    Returns the valid items and every error; `block` names the TOML form in the errors.
    """
    if not isinstance(value, Sequence) or isinstance(value, str):
        hint = f" ([[{block}]] blocks)" if block else ""
        return (), [f"{path} = {format_value(value)}: must be an array of tables{hint}"]
    items: list[T] = []
    errors: list[str] = []
    for i, table in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(table, Mapping):
            hint = f" ([[{block}]])" if block else ""
            errors.append(f"{where} = {format_value(table)}: must be a table{hint}")
            continue
        item, item_errors = one(table, where)
        errors.extend(item_errors)
        if item is not None:
            items.append(item)
    return tuple(items), errors


def bad_value(key_path: str, value: object, expected: Any) -> str:
    """The error for a value that does not fit `expected` (a type, with its constraints)."""
    message = f"{key_path} = {format_value(value)}: must be {describe(expected)}"
    if isinstance(value, dt.date | dt.time) and _accepts_str(expected):
        # TOML reads an unquoted 2025-04-16 as a date, not a string.
        message += f'; write it in quotes: "{value.isoformat()}"'
    return message


def describe(tp: Any) -> str:
    """What a type accepts, in words: "an integer from 1 to 65535", "true or false"."""
    return _describe(mi.type_info(tp))


def _describe(info: mi.Type) -> str:
    if isinstance(info, mi.Metadata):
        description = (info.extra_json_schema or {}).get("description")
        return str(description) if description else _describe(info.type)
    if isinstance(info, mi.BoolType):
        return "true or false"
    if isinstance(info, mi.IntType | mi.FloatType):
        return _describe_number(info)
    if isinstance(info, mi.StrType):
        if info.pattern is not None:
            return f"a string matching {info.pattern}"
        if info.min_length:
            return "a non-empty string"
        return "a string"
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(format_value(v) for v in info.values)
    if isinstance(info, mi.UnionType):
        return " or ".join(_describe(t) for t in info.types)
    if isinstance(info, mi.ListType | mi.VarTupleType):
        return f"an array of {_describe(info.item_type)}"
    if isinstance(info, mi.DictType):
        return f"a table of {_describe(info.value_type)}"
    if isinstance(info, mi.NoneType):
        return "absent"
    if isinstance(info, mi.StructType):
        keys = [f.encode_name for f in info.fields]
        required = [f.encode_name for f in info.fields if f.required]
        return f"a table with the keys {', '.join(keys)}" + (
            f" ({', '.join(required)} required)" if required else ""
        )
    return f"a value of type {type(info).__name__.removesuffix('Type').lower()}"


def _describe_number(info: mi.IntType | mi.FloatType) -> str:
    noun = "an integer" if isinstance(info, mi.IntType) else "a number"
    low = info.ge if info.ge is not None else info.gt
    high = info.le if info.le is not None else info.lt
    if isinstance(info, mi.IntType):
        # Integers: exclusive bounds read better as inclusive ones.
        low = info.gt + 1 if info.ge is None and info.gt is not None else low
        high = info.lt - 1 if info.le is None and info.lt is not None else high
        if low is not None and high is not None:
            return f"{noun} from {low} to {high}"
        if low is not None:
            return f"{noun} >= {low}"
        if high is not None:
            return f"{noun} <= {high}"
        return noun
    parts = [noun]
    if info.ge is not None:
        parts.append(f">= {info.ge}")
    elif info.gt is not None:
        parts.append(f"> {info.gt}")
    if info.le is not None:
        parts.append(f"<= {info.le}")
    elif info.lt is not None:
        parts.append(f"< {info.lt}")
    return " ".join(parts)


def _accepts_str(tp: Any) -> bool:
    info = mi.type_info(tp)
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        return any(isinstance(t, mi.StrType) for t in info.types)
    return isinstance(info, mi.StrType)


def format_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (so never a line break)."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key[:_MAX_VALUE_CHARS])


def format_value(value: object) -> str:
    """A value as it would be written in TOML, shortened when long."""
    text = _toml(value, depth=0)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    return text


def format_path(path: str) -> str:
    """A file path as a TOML string, never shortened (a user needs all of it)."""
    return json.dumps(path, ensure_ascii=False)


def _toml(value: object, depth: int) -> str:
    if depth > 3:
        return "…"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value[: _MAX_VALUE_CHARS * 2], ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else f"{'-' if value < 0 else ''}10^…"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        items = [_toml(v, depth + 1) for v in value[:10]]
        return "[" + ", ".join(items) + (", …" if len(value) > 10 else "") + "]"
    if isinstance(value, Mapping):
        pairs = [
            f"{format_key(str(k))} = {_toml(v, depth + 1)}" for k, v in list(value.items())[:10]
        ]
        return "{ " + ", ".join(pairs) + " }" if pairs else "{}"
    return type(value).__name__
