"""Fields of a JSON request body, read one at a time: each reader returns the typed value or
raises `FieldError` naming the field (dotted and indexed: `groups[0].items[2].code`).

| reader | accepts |
| --- | --- |
| `text` | a string of at most `max_length` characters (trimmed; empty refused unless `allow_empty`) |
| `boolean` | `true` or `false` |
| `integer` | a JSON integer within bounds (not a boolean, not a fraction) |
| `choice` | one of a fixed set of strings, exactly as listed |
| `instant` | an ISO 8601 date or date-time string (domain.dates), as epoch milliseconds |
| `no_unknown` | an object has only the listed keys |

Missing and `null` are told apart by the caller (`MISSING`), so a PATCH can clear a field with
`null` and leave it alone by leaving it out.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from domain.dates import parse_instant


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class FieldError(ValueError):
    """One body field that cannot be used: its dotted name and what is wrong, e.g. ("email", "must be an email address")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def no_unknown(body: Mapping[str, Any], known: Iterable[str], where: str = "") -> None:
    allowed = set(known)
    for key in body:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise FieldError(name, f"is not a known field (expected one of: {', '.join(sorted(allowed))})")


def obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(field, "must be an object")
    return value


def array(value: Any, field: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(field, "must be an array")
    if len(value) > max_items:
        raise FieldError(field, f"must have at most {max_items} entries")
    return value


def text(value: Any, field: str, max_length: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldError(field, "must be a string")
    value = value.strip()
    if not value and not allow_empty:
        raise FieldError(field, "must not be empty")
    if len(value) > max_length:
        raise FieldError(field, f"must be at most {max_length} characters")
    return value


def optional_text(value: Any, field: str, max_length: int) -> str | None:
    """A string, or null; an empty string is null too (a cleared field)."""
    if value is None:
        return None
    return text(value, field, max_length, allow_empty=True) or None


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(field, "must be true or false")
    return value


def integer(value: Any, field: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, "must be an integer")
    if minimum is not None and value < minimum:
        raise FieldError(field, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise FieldError(field, f"must be at most {maximum}")
    return value


def choice(value: Any, field: str, choices: Iterable[str]) -> str:
    allowed = tuple(choices)
    if not isinstance(value, str) or value not in allowed:
        raise FieldError(field, f"must be one of: {', '.join(allowed)}")
    return value


def instant(value: Any, field: str) -> int:
    ms = parse_instant(value) if isinstance(value, str) and len(value) <= 64 else None
    if ms is None:
        raise FieldError(field, "must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z")
    return ms


def optional_instant(value: Any, field: str) -> int | None:
    return None if value is None else instant(value, field)
