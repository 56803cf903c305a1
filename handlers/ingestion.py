"""Ingestion and the snippet: `POST /track` (and its CORS preflight), `GET /t.js`, `GET /demo`.

Errors are `{"error": "..."}`. A disallowed Origin gets 403 without CORS headers. The other
error answers (400, 404, 413, 503) store nothing and reveal nothing about a site, so they
carry `Access-Control-Allow-Origin` for the caller: the snippet then sees the status, drops
a batch that can never succeed (4xx) and retries one that may (503).
"""
from __future__ import annotations

import html
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from domain import enrich, ingest, json_input, sites
from domain.ingest import BatchError, IngestUnavailable, IngestWriter
from domain.suspicion import vpn_suspected
from handlers import static_files
from runtime import Env, ExecutionContext, endpoint, now_ms
from storage.d1 import D1Error

MAX_BODY_BYTES = 65_536
STATIC = Path(__file__).resolve().parent.parent / "static"
SNIPPET_CACHE_CONTROL = "public, max-age=3600"
SITE_KEY_PLACEHOLDER = "{{SITE_KEY}}"
ORIGIN_PLACEHOLDER = "{{ORIGIN}}"

_NOTHING_STORED = {"accepted": 0, "duplicates": 0}


async def track(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    origin = request.headers.get("origin")
    cors = _cors(origin)
    received_at = now_ms()
    body = await _body(request)
    if body is None:
        return _error(413, f"Request body too large (max {MAX_BODY_BYTES} bytes)", cors)
    try:
        data = ingest.decode(body)
        site = await sites.site_by_key(env.DB, ingest.site_key_of(data))
    except BatchError as error:
        return _error(400, str(error), cors)
    except D1Error:  # the site could not be read: a retry may succeed
        return _error(503, "Could not store the batch; retry later", cors)
    if site is None:
        return _error(404, "Unknown site key", cors)
    request.state.workspace_id = site.workspace_id
    if origin is not None and not site.allows(origin):
        return _error(403, "Origin not allowed for this site", {})
    try:
        batch = ingest.parse_batch(data, received_at)
    except BatchError as error:
        return _error(400, str(error), cors)
    headers = request.headers
    if site.settings.respect_dnt and (headers.get("dnt") == "1" or headers.get("sec-gpc") == "1"):
        return _accepted(_NOTHING_STORED, cors)

    writer = _writer(request.app, env, ctx)
    try:
        user_agent = headers.get("user-agent", "")
        if enrich.is_bot(user_agent, batch.webdriver):
            await writer.count_bot(site.workspace_id, received_at)
            return _accepted(_NOTHING_STORED, cors)
        write = ingest.prepare(batch, site, _visit(request, env, batch, user_agent), received_at)
        outcome = await writer.write(write)
    except IngestUnavailable:
        return _error(503, "Could not store the batch; retry later", cors)
    return _accepted({"accepted": outcome.accepted, "duplicates": outcome.duplicates}, cors)


async def preflight(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    """A preflight names no site (unless `?site=KEY`), so any site allowing the origin will do."""
    origin = request.headers.get("origin")
    allowed = False
    if origin:
        key = request.query_params.get("site")
        if key:
            site = await sites.site_by_key(env.DB, key)
            allowed = site is not None and site.allows(origin)
        else:
            allowed = await sites.any_site_allows(env.DB, origin)
    if not allowed:
        return _error(403, "Origin not allowed", {})
    return Response(status_code=204, headers={
        **_cors(origin),
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "86400",
    })


async def snippet(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    found = static_files.load(STATIC / "t.js")
    if found is None:
        return _error(404, "Not found", {})
    return static_files.respond(request, found, "application/javascript; charset=utf-8", {
        "Cache-Control": SNIPPET_CACHE_CONTROL,
        "Cross-Origin-Resource-Policy": "cross-origin",
    })


async def demo(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    """Development only: a page with the snippet installed for the development site.

    It only reads. The site and its origins come from the configuration (`[dev]` ip and port),
    written when `dev` starts; a request's Host header never reaches them.
    """
    config = request.app.state.config
    page = STATIC / "demo.html"
    if not config.local or not page.is_file():
        return _error(404, "Not found", {})
    site = await sites.site_by_key(env.DB, sites.DEV_SITE_KEY)
    if site is None:
        return _error(404, "No development site yet: `python worker.py dev` creates it", {})
    origin = html.escape(f"{request.url.scheme}://{request.url.netloc}")
    markup = page.read_text(encoding="utf-8")
    markup = markup.replace(SITE_KEY_PLACEHOLDER, site.site_key).replace(ORIGIN_PLACEHOLDER, origin)
    return HTMLResponse(markup, headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [
    Route("/track", endpoint(track), methods=["POST"]),
    Route("/track", endpoint(preflight), methods=["OPTIONS"]),
    Route("/t.js", endpoint(snippet), methods=["GET"]),
    Route("/demo", endpoint(demo), methods=["GET"]),
]


def _writer(app: Starlette, env: Env, ctx: ExecutionContext) -> IngestWriter:
    writer: IngestWriter | None = getattr(app.state, "ingest_writer", None)
    if writer is None:
        writer = app.state.ingest_writer = IngestWriter(env.DB, ctx)
    return writer


async def _body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY_BYTES (read here, so the 413 carries this surface's headers)."""
    declared = request.headers.get("content-length", "").strip()  # HTTP allows spaces around the value
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:  # request.stream()'s loop, without an async generator's steps
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _visit(request: Request, env: Env, batch: ingest.Batch, user_agent: str) -> ingest.Visit:
    trust_proxy = bool(getattr(env.get("LEADLIGHT_SETTINGS"), "trust_proxy", False))
    headers = request.headers
    client = request.scope.get("client")  # (host, port), without Request.client's named tuple
    ip = enrich.client_ip(headers, client[0] if client else None, trust_proxy)
    geo = enrich.geo_for(ip, headers, trust_proxy)
    agent = enrich.agent_for(user_agent)
    return ingest.Visit(
        ip=ip, country=geo.country, city=geo.city, device=agent.device, browser=agent.browser, os=agent.os,
        vpn_suspected=vpn_suspected(batch.timezone, geo.country, geo.hosting),
        referrer_domain=enrich.referrer_domain(batch.referrer, batch.events[0].url),
    )


def _accepted(counts: dict[str, int], cors: dict[str, str]) -> Response:
    """202 with the counts: JSONResponse's own json.dumps would build an encoder per request."""
    return Response(json_input.dumps(counts).encode(), status_code=202, headers=cors, media_type="application/json")


def _cors(origin: str | None) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


def _error(status: int, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
