"""Request parameters, declared once: each parses its raw text and describes itself to OpenAPI.

A parameter that cannot be parsed raises `ParamError`, a typed value (`Problem` says what is
wrong, `context` carries the limit or the allowed values); each surface's dialect turns it into
its own document's words and status. The surface layer parses every declared parameter of a
route before the handler runs and hands the values over as keyword arguments.

| parameter | accepts | value |
| --- | --- | --- |
| `Integer` | digits (a leading sign too when `signed`); bounds either clamp or reject | `int` |
| `Choice` | one of a fixed set, case-insensitive unless told otherwise | `str` |
| `Text` | any text up to `max_length` characters | `str` |
| `Instant` | ISO 8601 date or date-time (domain.dates) | `Instant` |
| `Pattern` | a fixed shape: 24-hex ids, `user_...` ids, UUIDs | `str` |

An empty query value (`?days=`) counts as absent unless the dialect says otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from domain import json_input
from domain.dates import iso, parse_instant
from domain.json_input import BadJson, Flaw

MAX_JSON_DEPTH = json_input.MAX_DEPTH
_BEYOND_ANY_ROW = 10**15  # past every possible row; also keeps SQLite's 64-bit integers happy


class Problem(Enum):
    MISSING = "missing"
    NOT_INTEGER = "not_integer"
    TOO_SMALL = "too_small"  # context: limit
    TOO_LARGE = "too_large"  # context: limit
    NOT_CHOICE = "not_choice"  # context: choices
    TOO_LONG = "too_long"  # context: limit
    NOT_DATETIME = "not_datetime"
    BAD_FORMAT = "bad_format"  # context: format (a description such as "a 24-character hex id")
    UNKNOWN = "unknown"  # a parameter the route does not take
    NOT_JSON_OBJECT = "not_json_object"
    TOO_DEEP = "too_deep"  # context: limit
    INVALID = "invalid"  # context: message, for rules that involve several values


class ParamError(Exception):
    """One parameter that cannot be used: where it is (`query`, `path`, `body`), its name, the problem."""

    def __init__(self, location: str, name: str, problem: Problem, **context: Any) -> None:
        super().__init__(f"{location}.{name}: {problem.value}")
        self.location = location
        self.name = name
        self.problem = problem
        self.context = context


@dataclass(frozen=True)
class Instant:
    """A parsed ISO 8601 instant: the caller's own text, epoch milliseconds, and the normalised form."""

    text: str
    ms: int

    @property
    def iso(self) -> str:
        return iso(self.ms) or ""


@dataclass(frozen=True, kw_only=True)
class Param:
    """Base of every parameter: `name` as sent, `arg` as the handler's keyword (defaults to name)."""

    name: str
    location: str = "query"
    required: bool = False
    default: Any = None
    description: str = ""
    label: str = ""  # how tracking-style messages name it, e.g. "lead id"
    arg: str = ""

    @property
    def keyword(self) -> str:
        return self.arg or self.name

    def error(self, problem: Problem, **context: Any) -> ParamError:
        return ParamError(self.location, self.name, problem, **context)

    def parse(self, raw: str) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def openapi(self) -> dict[str, Any]:
        schema = self.schema()
        if self.default is not None:
            schema["default"] = self.default
        spec: dict[str, Any] = {"name": self.name, "in": self.location, "required": self.required or
                                self.location == "path", "schema": schema}
        if self.description:
            spec["description"] = self.description
        return spec


@dataclass(frozen=True, kw_only=True)
class Integer(Param):
    minimum: int | None = None
    maximum: int | None = None
    clamp: bool = False  # above `maximum`: clamp to it (true) or reject (false)
    signed: bool = False

    def parse(self, raw: str) -> int:
        pattern = r"[+-]?[0-9]+" if self.signed else r"[0-9]+"
        if not re.fullmatch(pattern, raw):
            raise self.error(Problem.NOT_INTEGER)
        digits = raw.lstrip("+-")
        # Thousands of digits would make int() itself slow; anything this long is past every bound.
        value = int(raw) if len(digits) <= 18 else (-_BEYOND_ANY_ROW if raw.startswith("-") else _BEYOND_ANY_ROW)
        if self.minimum is not None and value < self.minimum:
            raise self.error(Problem.TOO_SMALL, limit=self.minimum)
        if self.maximum is not None and value > self.maximum:
            if not self.clamp:
                raise self.error(Problem.TOO_LARGE, limit=self.maximum)
            value = self.maximum
        return value

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
            if self.clamp:
                schema["description"] = f"values above {self.maximum} are treated as {self.maximum}"
        return schema


@dataclass(frozen=True, kw_only=True)
class Choice(Param):
    choices: tuple[str, ...] = ()
    case_sensitive: bool = False

    def parse(self, raw: str) -> str:
        value = raw if self.case_sensitive else raw.strip().lower()
        if value not in self.choices:
            raise self.error(Problem.NOT_CHOICE, choices=self.choices)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True, kw_only=True)
class Text(Param):
    max_length: int = 1000

    def parse(self, raw: str) -> str:
        if len(raw) > self.max_length:
            raise self.error(Problem.TOO_LONG, limit=self.max_length)
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length}


@dataclass(frozen=True, kw_only=True)
class InstantParam(Param):
    def parse(self, raw: str) -> Instant:
        ms = parse_instant(raw) if len(raw) <= 64 else None
        if ms is None:
            raise self.error(Problem.NOT_DATETIME)
        return Instant(raw, ms)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True, kw_only=True)
class Pattern(Param):
    pattern: str = ".*"
    format: str = ""  # what the shape is, for messages: "a 24-character hex id"

    def parse(self, raw: str) -> str:
        if len(raw) > 256 or not re.fullmatch(self.pattern, raw):
            raise self.error(Problem.BAD_FORMAT, format=self.format)
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{self.pattern}$", "description": self.format}


OBJECT_ID = r"[0-9a-fA-F]{24}"
USER_ID = r"user_[A-Za-z0-9]{1,64}"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def parse_all(params: tuple[Param, ...], query: Any, path: dict[str, str], *, empty_is_missing: bool,
              reject_unknown: bool, stop_at_first: bool) -> dict[str, Any]:
    """Every declared parameter's value by keyword; raises a `ParamErrors` of every problem found."""
    values: dict[str, Any] = {}
    errors: list[ParamError] = []
    for param in params:
        raw = path.get(param.name) if param.location == "path" else query.get(param.name)
        try:
            if raw is None or (raw == "" and empty_is_missing and param.location == "query"):
                if param.required:
                    raise param.error(Problem.MISSING)
                values[param.keyword] = param.default
            else:
                values[param.keyword] = param.parse(raw)
        except ParamError as error:
            errors.append(error)
            if stop_at_first:
                break
    if reject_unknown and not errors:
        known = {p.name for p in params if p.location == "query"}
        errors += [ParamError("query", name, Problem.UNKNOWN) for name in dict.fromkeys(query.keys())
                   if name not in known]
    if errors:
        raise ParamErrors(errors)
    return values


class ParamErrors(Exception):
    def __init__(self, errors: list[ParamError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


# --- JSON bodies ----------------------------------------------------------------------------


def json_body(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A request body that must be a JSON object meeting domain.json_input's rules: UTF-8, no NaN
    or Infinity, no lone surrogates, nested at most `max_depth` levels."""
    try:
        data = json_input.loads(body, max_depth=max_depth)
    except BadJson as error:
        raise _param_error(error) from None
    if not isinstance(data, dict):
        raise ParamError("body", "body", Problem.NOT_JSON_OBJECT)
    problem = json_problem(data, max_depth)
    if problem is not None:
        raise problem
    return data


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH, where: str = "body") -> ParamError | None:
    """The first thing in parsed JSON that cannot be stored (domain.json_input), as a ParamError."""
    flaw = json_input.first_flaw(value, where, max_depth=max_depth)
    return None if flaw is None else _param_error(flaw)


def _param_error(error: BadJson) -> ParamError:
    if error.flaw is Flaw.NOT_JSON:
        return ParamError("body", "body", Problem.NOT_JSON_OBJECT)
    if error.flaw is Flaw.TOO_DEEP:
        return ParamError("body", error.where, Problem.TOO_DEEP, limit=error.limit)
    return ParamError("body", error.where, Problem.INVALID, message=error.problem)

