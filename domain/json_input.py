"""JSON from outside: parsing it, and the rules a parsed value meets before anything stores it.

| rule | why |
| --- | --- |
| no `NaN`, `Infinity` or number past a float's range (`1e999`) | not JSON; stored, a row could not be read back |
| nested at most `MAX_DEPTH` levels (the body itself is level 1) | deeper values overflow the encoder when stored or read back |
| no lone UTF-16 surrogate (`"\\ud800"`) in a string or a key | no UTF-8 form: SQLite cannot bind it, the whole transaction fails |

`loads` parses and applies the first rule (a body too deep for the parser itself is refused
as too deep); `first_flaw` walks a parsed value once, without recursion, for the others.
"""
from __future__ import annotations

import json
import math
import re
from enum import Enum
from typing import Any

import msgspec

MAX_DEPTH = 32
_MAX_WHERE = 200  # characters of a path shown in a message; keys can be long
_SURROGATE = re.compile("[\ud800-\udfff]")


class Flaw(Enum):
    NOT_JSON = "not_json"
    NOT_FINITE = "not_finite"
    TOO_DEEP = "too_deep"
    LONE_SURROGATE = "lone_surrogate"
    SURROGATE_KEY = "surrogate_key"


_MESSAGES = {
    Flaw.NOT_JSON: "invalid JSON",
    Flaw.NOT_FINITE: "holds a number that is not finite (NaN, Infinity or past a float's range)",
    Flaw.TOO_DEEP: "nested deeper than {limit} levels",
    Flaw.LONE_SURROGATE: "contains a lone UTF-16 surrogate",
    Flaw.SURROGATE_KEY: "a key contains a lone UTF-16 surrogate",
}


class BadJson(ValueError):
    """JSON that cannot be used: where it is (`body`, `events[2].props.x`), the flaw, the depth limit."""

    def __init__(self, where: str, flaw: Flaw, limit: int = MAX_DEPTH) -> None:
        self.where = where if len(where) <= _MAX_WHERE else where[:_MAX_WHERE] + "…"
        self.flaw = flaw
        self.limit = limit
        super().__init__(f"{self.where}: {self.problem}")

    @property
    def problem(self) -> str:
        return _MESSAGES[self.flaw].format(limit=self.limit)


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


# One decoder for every body: json.loads with hooks builds a new decoder per call.
_decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
# The fast path for UTF-8 bytes. What it accepts, json.loads reads as the same value; what it refuses
# (a number past a float's range, a lone surrogate, UTF-16, a byte order mark, invalid JSON, deep
# nesting) goes to the decoder above, which says why or reads it.
_fast_decoder = msgspec.json.Decoder()


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parsed JSON; raises BadJson (`where` is "body") for anything that is not finite JSON.
    Bytes are read as json.loads reads them: UTF-8, -16 or -32, whichever the first bytes show."""
    if not isinstance(body, str):
        try:
            return _fast_decoder.decode(body)
        except (msgspec.MsgspecError, RecursionError):
            pass
    try:
        if isinstance(body, str):
            if body.startswith("\ufeff"):  # as json.loads: a byte order mark is not JSON
                raise ValueError("byte order mark")
            text = body
        else:
            text = body.decode(json.detect_encoding(body), "surrogatepass")
        return _decoder.decode(text)
    except _NotFinite:
        raise BadJson("body", Flaw.NOT_FINITE) from None
    except RecursionError:  # thousands of levels: past any limit of ours, refused as such
        raise BadJson("body", Flaw.TOO_DEEP, max_depth) from None
    except (ValueError, UnicodeDecodeError):
        raise BadJson("body", Flaw.NOT_JSON) from None


_encoder = msgspec.json.Encoder()


def dumps(value: Any) -> str:
    """Compact JSON (UTF-8 as is, no spaces) of a value parsed from JSON and checked by `first_flaw`
    (msgspec would write a non-finite number as null, and refuses a lone surrogate). Numbers read
    back as the same values; exponents are written as `1e16`, where `json` writes `1e+16`."""
    return _encoder.encode(value).decode()


def has_lone_surrogate(text: str) -> bool:
    # ASCII text (most of it) is answered from a flag, without a scan.
    return not text.isascii() and _SURROGATE.search(text) is not None


# A path as a chain of (parent, key) pairs, spelt out only when a flaw is reported.
_Trail = tuple[Any, str | int] | None


def first_flaw(value: Any, where: str = "body", *, depth: int = 1, max_depth: int = MAX_DEPTH) -> BadJson | None:
    """The first part of a parsed value that cannot be stored, or None. `depth` is the value's own
    level in its document, so a part of a body is held to the body's limit.

    One pass without recursion, checking a container's own values as it meets them and then the
    containers inside it, in order. Paths are spelt out only for the flaw found: ingestion walks
    every event's props with this, so the common case (a few flat values) costs about a microsecond.
    """
    if not isinstance(value, (dict, list)):
        flaw = _scalar_flaw(value)
        return None if flaw is None else BadJson(where, flaw)
    if type(value) is dict and depth <= max_depth:
        # An object of ASCII strings, ints, booleans and nulls (most props) has no flaw: one loop
        # says so. Anything else is walked below.
        for key, child in value.items():
            kind = type(child)
            if (kind is str and not child.isascii()) or kind is dict or kind is list or kind is float \
                    or type(key) is not str or not key.isascii():
                break
        else:
            return None
    stack: list[tuple[Any, int, _Trail]] = [(value, depth, None)]
    while stack:
        item, level, trail = stack.pop()
        if level > max_depth:
            return BadJson(_path(where, trail), Flaw.TOO_DEEP, max_depth)
        nested: list[tuple[Any, int, _Trail]] | None = None
        # The checks of has_lone_surrogate and _scalar_flaw, inline: this loop is the hot path.
        for key, child in (item.items() if isinstance(item, dict) else enumerate(item)):
            if type(key) is str and not key.isascii() and _SURROGATE.search(key) is not None:
                return BadJson(_path(where, trail), Flaw.SURROGATE_KEY)
            kind = type(child)
            if kind is str:
                if not child.isascii() and _SURROGATE.search(child) is not None:
                    return BadJson(_path(where, (trail, key)), Flaw.LONE_SURROGATE)
            elif kind is dict or kind is list:
                if nested is None:
                    nested = []
                nested.append((child, level + 1, (trail, key)))
            elif kind is float and not math.isfinite(child):
                return BadJson(_path(where, (trail, key)), Flaw.NOT_FINITE)
        if nested is not None:
            stack.extend(reversed(nested))
    return None


def _scalar_flaw(value: Any) -> Flaw | None:
    if isinstance(value, str):
        return Flaw.LONE_SURROGATE if has_lone_surrogate(value) else None
    if isinstance(value, float) and not math.isfinite(value):
        return Flaw.NOT_FINITE
    return None


def _path(where: str, trail: _Trail) -> str:
    keys: list[str | int] = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    return where + "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in reversed(keys))
