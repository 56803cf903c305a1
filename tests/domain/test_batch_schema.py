"""The batch's two readers agree: a body read straight into a Batch (the fast path, by the types'
constraints) is a body parse_batch accepts from plain JSON, with the same values, and a body the
types refuse gets parse_batch's own answer."""
from __future__ import annotations

import json
import time
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings

from domain import ingest
from domain.ingest import Batch, BatchError
from tests.test_hostile import _FUZZ, batches
from tests.tracking import batch, event, form

NOW = int(time.time() * 1000)


class _Refusing:
    """In place of the batch decoder: every body goes the plain JSON way."""

    def decode(self, body: bytes) -> Any:
        raise msgspec.DecodeError("the fast path is switched off")


def read(body: bytes) -> Batch | str:
    try:
        data = ingest.decode(body)
        ingest.site_key_of(data)
        return ingest.parse_batch(data, NOW)
    except BatchError as error:
        return str(error)


def read_both(body: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Batch | str, Batch | str, bool]:
    fast_path = isinstance(ingest.decode(body), Batch) if _decodes(body) else False
    fast = read(body)
    with monkeypatch.context() as patched:
        patched.setattr(ingest, "_batch_decoder", _Refusing())
        slow = read(body)
    return fast, slow, fast_path


def _decodes(body: bytes) -> bool:
    try:
        ingest.decode(body)
    except BatchError:
        return False
    return True


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def test_a_snippet_batch_takes_the_fast_path_and_reads_as_from_json(monkeypatch) -> None:
    body = dumps(batch("site_1", [event(), event("scroll", depth=40), event("engagement", active_ms=900),
                                  form({"email": "a@example.com"})], fingerprint="", screen="", utm={"source": "g", "term": ""}))
    fast, slow, fast_path = read_both(body, monkeypatch)
    assert fast_path
    assert isinstance(fast, Batch) and fast == slow
    assert fast.fingerprint is None and fast.screen is None and fast.referrer is None and fast.utm == {"source": "g"}


@pytest.mark.parametrize("change", [
    {"site": ""}, {"site": "s" * 65}, {"visitor_id": None}, {"fingerprint": "f" * 129}, {"language": 7},
    {"utm": {"source": "x" * 257}}, {"utm": {"sauce": "x"}}, {"utm": []}, {"webdriver": 1}, {"sent_at": True},
    {"sent_at": 1.5}, {"events": []}, {"events": [event()] * 101},
    {"events": [event(id="evt_00000001\n")]}, {"events": [event(id="evt_0001")]}, {"events": [event(id="é" * 8)]},
    {"events": [event("page_View")]}, {"events": [event(ts=1_500_000_000_000)]},
    {"events": [event(ts=NOW + 2 * 86_400_000)]}, {"events": [event(url="ftp://example.com/")]},
    {"events": [event(url="HTTPS://EXAMPLE.COM/")]}, {"events": [event(url="https://example.com/" + "a" * 2048)]},
    {"events": [{**event(), "props": None}]}, {"events": [event("scroll", depth=101)]},
    {"events": [event("engagement", active_ms=-1)]}, {"events": [form({"email": 5})]},
    {"events": [event(deep=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])]},
    {"events": [event(note="\ud800")]}, {"events": [event(n=10 ** 30)]}, {"events": [event(n=1e308 * 10)]},
])
def test_each_rule_reads_alike_on_both_paths(change: dict[str, Any], monkeypatch) -> None:
    body = dumps({**batch("site_1", [event()]), **change}).replace(b"Infinity", b"1e999")
    fast, slow, _ = read_both(body, monkeypatch)
    assert fast == slow


def test_hostile_batches_read_alike_on_both_paths(monkeypatch) -> None:
    fast_paths = []

    @settings(_FUZZ, max_examples=400)
    @given(body=batches("site_1"))
    def check(body: bytes) -> None:
        fast, slow, fast_path = read_both(body, monkeypatch)
        assert fast == slow
        fast_paths.append(fast_path)

    check()
    assert any(fast_paths) and not all(fast_paths)  # both ways were really taken
