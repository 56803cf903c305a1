"""The rules every JSON input meets before anything stores it (domain/json_input.py)."""
from __future__ import annotations

import json

import pytest

from domain.json_input import MAX_DEPTH, BadJson, Flaw, dumps, first_flaw, has_lone_surrogate, loads


@pytest.mark.parametrize(("body", "flaw"), [
    (b'{"x": NaN}', Flaw.NOT_FINITE),
    (b'{"x": -Infinity}', Flaw.NOT_FINITE),
    (b'{"x": 1e999}', Flaw.NOT_FINITE),
    (b"[" * 100_000 + b"]" * 100_000, Flaw.TOO_DEEP),
    (b"{not json", Flaw.NOT_JSON),
    (b"\xff\xfe\xfd", Flaw.NOT_JSON),
])
def test_loads_refuses_what_is_not_finite_json(body: bytes, flaw: Flaw) -> None:
    with pytest.raises(BadJson) as raised:
        loads(body)
    assert (raised.value.where, raised.value.flaw) == ("body", flaw)


def test_loads_reads_json_as_it_is() -> None:
    assert loads(b'{"a": [1, 2.5, "\\ud83d\\ude00", null, true]}') == {"a": [1, 2.5, "\U0001F600", None, True]}


@pytest.mark.parametrize("body", [
    b'{"a": [1, 2.5, "\\ud83d\\ude00", null, true], "b": {"c": "\\u00e9\\n\\u0000"}}',
    b'[1e16, -1e-7, 5e-324, 1.7976931348623157e308, -0.0, 18446744073709551616, -100000000000000000000000]',
    b'[12345678901234567890123456789, 0.1, 3.141592653589793]',
])
def test_dumps_writes_compact_json_that_reads_back_as_the_same_values(body: bytes) -> None:
    text = dumps(loads(body))
    assert " " not in text and "\\u00e9" not in text  # compact, UTF-8 as is
    assert loads(text) == json.loads(body) and repr(loads(text)) == repr(json.loads(body))


@pytest.mark.parametrize(("value", "where", "problem"), [
    ({"a": "ok", "b": ["x", "y\ud800"]}, "body.b[1]", "contains a lone UTF-16 surrogate"),
    ({"a": {"k\udc00": 1}}, "body.a", "a key contains a lone UTF-16 surrogate"),
    ({"a": [1.5, float("inf")]}, "body.a[1]", "holds a number that is not finite (NaN, Infinity or past a float's "
                                              "range)"),
    # A container's own values in order, then what is nested in them.
    ({"first": "\ud800", "second": "\ud801"}, "body.first", "contains a lone UTF-16 surrogate"),
])
def test_first_flaw_names_where_it_is(value: object, where: str, problem: str) -> None:
    flaw = first_flaw(value)
    assert flaw is not None and (flaw.where, flaw.problem) == (where, problem)


def test_nesting_is_counted_from_the_body() -> None:
    deepest_allowed = json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert first_flaw(deepest_allowed) is None
    flaw = first_flaw([deepest_allowed])
    assert flaw is not None and flaw.flaw is Flaw.TOO_DEEP and flaw.where == "body" + "[0]" * MAX_DEPTH
    # A part of a body is held to the body's limit: 30 levels of objects fit from level 3, not from 4.
    thirty = json.loads('{"a":' * 29 + "{}" + "}" * 29)
    assert first_flaw(thirty, "props", depth=3) is None
    flaw = first_flaw(thirty, "props", depth=4)
    assert flaw is not None and flaw.where == "props" + ".a" * 29


def test_a_long_path_is_cut_short_in_messages() -> None:
    flaw = first_flaw({"k" * 500: "\ud800"})
    assert flaw is not None and len(flaw.where) == 201 and flaw.where.endswith("…")


def test_surrogate_pairs_are_characters_and_only_lone_halves_are_flawed() -> None:
    assert not has_lone_surrogate("emoji \U0001F600 and ascii")
    assert has_lone_surrogate("half \ud83d")
    assert has_lone_surrogate("\ude00 other half")
    assert first_flaw({"text": "\U0001F600" * 10, "n": [1, 2.5, None, True]}) is None
