"""Hostile input, generated: no request gets a 5xx, and a rejected request stores nothing.

- `POST /track`: batches from valid to hostile (lone surrogates, NaN and Infinity, deep nesting,
  wrong types in every field, huge numbers and strings) answer 202 or 4xx; a batch that is
  not accepted leaves every ingestion table as it was.
- Every operation of every surface in `handlers.SURFACES` (so routes added later join in):
  hostile path and query values for its declared parameters, and for writes hostile bodies and
  mutations of its example body, answer below 500; a write answered 4xx changes no row.

The app runs on an event loop of its own thread (`Served`), so hypothesis drives it from plain
functions, one hypothesis run per operation.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

import handlers
from domain import sites
from storage import migrations
from storage.config import Config
from tests.conftest import API_KEY, _endpoint
from tests.seed import Workspace, seed_workspace
from tests.tracking import BROWSER, ORIGIN
from worker import create_app

T = TypeVar("T")
OPERATIONS = [(path, method, op) for surface in handlers.SURFACES for path, method, op in surface.operations]
INGESTION_TABLES = ("events", "sessions", "visitors", "submissions", "leads", "bot_hits", "rollup_page")
TRACK_EXAMPLES = 150
READ_EXAMPLES = 8
WRITE_EXAMPLES = 14
_FUZZ = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


@dataclass
class Served:
    """The app with its lifespan, on a loop in another thread; `run` waits for a coroutine there."""

    app: Starlette
    client: httpx.AsyncClient
    workspace: Workspace
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)


@pytest.fixture
def served(config: Config, s3_server: object) -> Iterator[Served]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = create_app(config, local_s3=_endpoint(s3_server))
    ready: asyncio.Future[Workspace] = loop.create_future()
    stop = asyncio.Event()

    async def host() -> None:  # the lifespan starts and ends in this one task
        try:
            async with app.router.lifespan_context(app):
                env = app.state.env
                await migrations.apply(env.DB, Path(config.d1_databases[0].migrations_dir))
                for name in ("SESSIONS", "EXPORTS"):
                    await env.get(name).create_bucket()
                ready.set_result(await seed_workspace(env.DB))
                await stop.wait()
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            raise

    hosting = asyncio.run_coroutine_threadsafe(host(), loop)
    workspace = _wait(ready, loop)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)
    try:
        yield Served(app, client, workspace, loop)
    finally:
        asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=60)
        loop.call_soon_threadsafe(stop.set)
        hosting.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _wait(future: asyncio.Future[T], loop: asyncio.AbstractEventLoop) -> T:
    async def waited() -> T:
        return await future

    return asyncio.run_coroutine_threadsafe(waited(), loop).result(timeout=120)


# --- what hostile input is made of -----------------------------------------------------------

LONE = "\ud800"
ODD_TEXT = [
    "", " ", "0", "-1", "+1", " 12 ", "1.5", "1e9", "99999999999999999999999999", "-9223372036854775809",
    "NaN", "Infinity", "null", "true", "[]", "{}", "%00", "\x00", "\t", "'; DROP TABLE leads; --", "../../etc/passwd",
    "<script>alert(1)</script>", "a" * 5000, "é" * 300, "\U0001F600" * 40, "١٢٣", "²", "2026-13-45T99:99:99Z",
    "0000-00-00", "9999-12-31T23:59:59+14:00", "0x1F", "user_", "0" * 24, "f" * 24, "00000000-0000-0000-0000-000000000000",
]
texts = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=40), st.integers().map(str))
# Strings a JSON body can carry and a URL cannot: lone surrogates among them.
body_texts = st.one_of(texts, st.sampled_from([LONE, "ok" + LONE, "\udfff", LONE + "\udc00x"]),
                       st.text(st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=3))
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**80),
                   st.floats(allow_nan=True, allow_infinity=True), body_texts)
json_values = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(body_texts, children, max_size=4)), max_leaves=12)
RAW_BODIES = [
    b"", b"{", b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 5000 + b"{}" + b"}" * 5000, b"\xff\xfe\x00", b"NaN",
    b'{"status": NaN}', b'{"status": "contacted", "x": Infinity}', b'{"status": 1e999}', b"null", b"[]", b'"text"',
    b'{"status": "\\ud800"}', b'{"\\udc00": 1}', b"\x00" * 64, b"{}" * 100,
]


def dumps(value: Any) -> bytes:
    """JSON as a hostile client writes it: NaN and Infinity as bare words, surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


def _set_path(document: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[head] = _set_path(document[head], rest, value)
    return copy


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, child in document.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(document, list):
        for index, child in enumerate(document):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> bytes:
    """A document with one part replaced, removed or added, as JSON text."""
    paths = _paths(document)
    path = list(draw(st.sampled_from(paths)))
    choice = draw(st.sampled_from(["replace", "remove", "add"]))
    if choice == "remove" and path:
        container = document
        for step in path[:-1]:
            container = container[step]
        target = dict(container) if isinstance(container, dict) else list(container)
        del target[path[-1]]
        return dumps(_set_path(document, path[:-1], target))
    if choice == "add" and isinstance(document, dict):
        return dumps({**document, draw(body_texts): draw(json_values)})
    return dumps(_set_path(document, path, draw(json_values)))


# --- POST /track -----------------------------------------------------------------------------

EVENT_TYPES = ["page_view", "click", "scroll", "engagement", "form_submit"]


@st.composite
def batches(draw: st.DrawFn, site_key: str) -> bytes:
    now = int(time.time() * 1000)
    events = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(EVENT_TYPES))
        props: dict[str, Any] = {
            "scroll": {"depth": draw(st.integers(0, 100))},
            "engagement": {"active_ms": draw(st.integers(0, 60_000))},
            "form_submit": {"form": "f", "fields": {"email": draw(st.sampled_from(["a@example.com", "x"]))},
                            "payload": {draw(st.sampled_from(["EMAIL", "note"])): draw(st.text(max_size=20))}},
        }.get(kind, draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
        events.append({"id": draw(st.from_regex(r"[A-Za-z0-9_-]{8,20}", fullmatch=True)), "type": kind,
                       "ts": now - draw(st.integers(0, 3_600_000)),  # the draw itself must not depend on time
                       "url": "https://example.com/" + draw(st.text(max_size=20)), "props": props})
    batch = {"site": site_key, "visitor_id": "v_" + draw(st.text(min_size=1, max_size=20)),
             "session_id": "s_" + draw(st.text(min_size=1, max_size=20)), "fingerprint": "abc123",
             "timezone": "Asia/Kolkata", "language": "en", "screen": "1x1", "referrer": "",
             "utm": {"source": draw(st.text(max_size=10))}, "webdriver": False, "sent_at": now, "events": events}
    if draw(st.booleans()):  # half of them: something hostile somewhere
        return draw(mutated(batch))
    return dumps(batch)


async def _counts(app: Starlette) -> dict[str, int]:
    db = app.state.env.DB
    return {table: await db.prepare(f"SELECT count(*) AS n FROM {table}").first("n") for table in INGESTION_TABLES}


def test_track_answers_202_or_4xx_and_a_refused_batch_stores_nothing(served: Served) -> None:
    site = served.run(sites.create_site(served.app.state.env.DB, "default", [ORIGIN]))
    seen: dict[int, int] = {}

    @settings(_FUZZ, max_examples=TRACK_EXAMPLES)
    @given(body=batches(site["site_key"]))
    def check(body: bytes) -> None:
        async def exchange() -> tuple[httpx.Response, dict[str, int], dict[str, int]]:
            before = await _counts(served.app)
            response = await served.client.post("/track", content=body, headers={
                "Origin": ORIGIN, "User-Agent": BROWSER, "Content-Type": "text/plain;charset=UTF-8"})
            return response, before, await _counts(served.app)

        response, before, after = served.run(exchange())
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in (202, 400, 413), response.text
        if response.status_code != 202:
            assert after == before, response.text
            assert set(response.json()) == {"error"}

    check()
    assert seen.get(202, 0) >= 10 and seen.get(400, 0) >= 10, seen  # both kinds were really tried


# --- every operation of every surface ------------------------------------------------------

_PARAM = "{%s}"


def _url(path: str, values: dict[str, str], query: list[tuple[str, str]]) -> str:
    for name, value in values.items():
        path = path.replace(_PARAM % name, quote(value.encode("utf-8", "surrogatepass"), safe=""))
    if query:
        path += "?" + "&".join(f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
                               for name, value in query)
    return path


@st.composite
def requests_for(draw: st.DrawFn, path: str, method: str, op: Any, other_ids: dict[str, str]) -> tuple[str, bytes, str]:
    values = {}
    for param in op.params:
        if param.location == "path":
            known = other_ids.get(param.name)
            values[param.name] = draw(st.one_of(texts, st.just(known)) if known else texts)
    query = [(param.name, draw(texts)) for param in op.params
             if param.location == "query" and draw(st.booleans())]
    if draw(st.integers(0, 4)) == 0:
        query.append((draw(st.sampled_from(["x", "limit", "LIMIT", "", "a[b]"])), draw(texts)))
    body, content_type = b"", "application/json"
    if method in ("POST", "PUT", "PATCH"):
        sources = [json_values.map(dumps), st.sampled_from(RAW_BODIES)]
        if op.example is not None and not isinstance(op.example, (str, bytes)):
            sources.append(mutated(op.example))
        body = draw(st.one_of(*sources))
        if op.body_type.startswith("multipart/"):
            content_type = draw(st.sampled_from(["multipart/form-data; boundary=xyz", "multipart/form-data",
                                                 "application/json"]))
    return _url(path, values, query), body, content_type


async def _all_rows(app: Starlette) -> str:
    """Every row of every table, as one digest: what a rejected write must leave unchanged."""
    await app.state.ctx.drain()  # work a request left running (ctx.wait_until) is part of what it did
    db = app.state.env.DB
    tables = [row[0] for row in await db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").raw()]
    digest = hashlib.sha256()
    for table in tables:  # names from sqlite_master, not from input
        for row in await db.prepare(f'SELECT * FROM "{table}"').raw():
            digest.update(repr((table, row)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@pytest.mark.parametrize("surface_index", range(len(handlers.SURFACES)),
                         ids=[surface.dialect.name for surface in handlers.SURFACES])
def test_no_operation_answers_5xx_and_a_refused_write_stores_nothing(served: Served, surface_index: int) -> None:
    surface = handlers.SURFACES[surface_index]
    for path, method, op in surface.operations:
        write = method in ("POST", "PUT", "PATCH", "DELETE")

        @settings(_FUZZ, max_examples=WRITE_EXAMPLES if write else READ_EXAMPLES)
        @given(request=requests_for(path, method, op, served.workspace.other_ids))
        def check(request: tuple[str, bytes, str]) -> None:
            url, body, content_type = request

            async def exchange() -> tuple[httpx.Response, str | None, str | None]:
                before = await _all_rows(served.app) if write else None
                response = await served.client.request(method, url, content=body or None, headers={
                    "X-API-Key": API_KEY, "Content-Type": content_type})
                after = await _all_rows(served.app) if write and response.status_code >= 400 else before
                return response, before, after

            response, before, after = served.run(exchange())
            assert response.status_code < 500, f"{method} {url} {body[:200]!r}: {response.status_code} " \
                                               f"{response.text[:300]}"
            assert after == before, f"{method} {url} {body[:200]!r} was refused ({response.status_code}) " \
                                    "but changed rows"

        check()
