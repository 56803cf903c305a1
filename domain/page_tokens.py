"""Opaque pagination tokens: a small JSON position, signed so only tokens we issued are accepted.

| rule | definition |
| --- | --- |
| form | `base64url(JSON) "." base64url(HMAC-SHA256(key, JSON)[:16])`, no padding |
| key | a random 32-byte secret per database (`signing_keys`, made by migration 0007), shared by every process |
| accepted | the signature matches and the JSON is an object; what the position must match is the caller's rule |
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from storage.d1 import D1Database

_KEY = "SELECT secret FROM signing_keys WHERE name = ?"
_MAC_BYTES = 16
MAX_LENGTH = 1024


async def signing_key(db: D1Database, name: str) -> bytes:
    secret = await db.prepare(_KEY).bind(name).first("secret")
    if secret is None:
        raise LookupError(f"no signing key named {name!r} (migration 0007 makes it)")
    return bytes(secret)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def issue(key: bytes, position: dict[str, Any]) -> str:
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return f"{_encode(payload)}.{_encode(_mac(key, payload))}"


def read(key: bytes, token: str) -> dict[str, Any] | None:
    """The position a token carries, or None when we did not issue it (or it was altered)."""
    if len(token) > MAX_LENGTH or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    try:
        payload, signature = _decode(body), _decode(mac)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(signature, _mac(key, payload)):
        return None
    try:
        position = json.loads(payload)
    except ValueError:
        return None
    return position if isinstance(position, dict) else None
