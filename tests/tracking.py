"""Snippet batches for the ingestion tests, and a site to send them to."""
from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from domain import sites

ORIGIN = "https://example.com"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
_ids = itertools.count(1)


def event_id() -> str:
    return f"evt_{next(_ids):08d}"


def event(kind: str = "page_view", *, url: str = "https://example.com/", ts: int | None = None,
          id: str | None = None, **props: Any) -> dict[str, Any]:
    return {"id": id or event_id(), "type": kind, "ts": ts or int(time.time() * 1000), "url": url, "props": props}


def form(fields: dict[str, str], payload: dict[str, str] | None = None, *, name: str = "hero-form",
         fill_ms: int = 8200, url: str = "https://example.com/sky-towers", ts: int | None = None) -> dict[str, Any]:
    return event("form_submit", url=url, ts=ts, form=name, fill_ms=fill_ms, fields=fields,
                 payload=payload if payload is not None else dict(fields))


def batch(site_key: str, events: list[dict[str, Any]], *, visitor: str = "v_visitor1", session: str = "s_session1",
          **extra: Any) -> dict[str, Any]:
    return {
        "site": site_key, "visitor_id": visitor, "session_id": session, "fingerprint": "0123456789abcdef",
        "timezone": "Asia/Kolkata", "language": "en-IN", "screen": "1920x1080", "referrer": "",
        "utm": {}, "webdriver": False, "sent_at": int(time.time() * 1000), "events": events, **extra,
    }


def headers(**extra: str) -> dict[str, str]:
    return {"Origin": ORIGIN, "User-Agent": BROWSER, "Content-Type": "text/plain;charset=UTF-8", **extra}


@pytest.fixture
async def site(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield await sites.create_site(app.state.env.DB, "default", [ORIGIN], name="example")
