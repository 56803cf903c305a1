"""Signed pagination tokens (domain/page_tokens.py)."""
from __future__ import annotations

import pytest

from domain import page_tokens
from storage.d1 import D1Database


async def test_tokens_carry_a_position_only_we_can_sign(db: D1Database) -> None:
    key = await page_tokens.signing_key(db, "analytics-token")
    assert len(key) == 32
    token = page_tokens.issue(key, {"w": "default", "c": 5, "l": 9})
    assert page_tokens.read(key, token) == {"w": "default", "c": 5, "l": 9}
    body, mac = token.split(".")
    forged = page_tokens.issue(b"x" * 32, {"w": "default", "c": 5, "l": 9})
    for bad in (forged, f"{body}.{mac[:-2]}AA", f"{body[:-2]}.{mac}", "", ".", "a.b.c", "é.é", "x" * 2000):
        assert page_tokens.read(key, bad) is None, bad
    with pytest.raises(LookupError):
        await page_tokens.signing_key(db, "nothing")
