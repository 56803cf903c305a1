"""The dashboard page and the API reference page, served by the worker as static files.

| path | file |
| --- | --- |
| `/` | `static/index.html`, the dashboard |
| `/docs` | `static/docs.html`, the API reference drawn from `/openapi.json` |
| `/app/<name>` | `static/app/<name>`: the pages' scripts and styles (only files that exist there) |

Every answer carries a strict Content-Security-Policy (the page holds an API key: only our own
scripts run, and it talks to no other host), an ETag and `Cache-Control: no-cache`, so a browser
revalidates each load and gets a 304 when nothing changed. Files are read again when they change
on disk, so editing them needs no restart.
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runtime import Env, ExecutionContext, endpoint

STATIC = Path(__file__).resolve().parent.parent / "static"
ASSETS = STATIC / "app"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzip: bytes
    etag: str
    media_type: str


async def index(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    return _serve(request, STATIC / "index.html")


async def docs(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    return _serve(request, STATIC / "docs.html")


async def asset(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    name = request.path_params["name"]
    # Only a plain file name of a known kind, directly in static/app: no way out of the folder.
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in _MEDIA_TYPES or not path.is_file():
        return JSONResponse({"error": "Not found"}, status_code=404)
    return _serve(request, path)


routes: list[BaseRoute] = [
    Route("/", endpoint(index), methods=["GET"]),
    Route("/docs", endpoint(docs), methods=["GET"]),
    Route("/app/{name}", endpoint(asset), methods=["GET"]),
]


def _serve(request: Request, path: Path) -> Response:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return JSONResponse({"error": "Not found"}, status_code=404)
    found = _load(path, stat.st_mtime_ns, stat.st_size)
    gzipped = "gzip" in request.headers.get("accept-encoding", "") and len(found.gzip) < len(found.body)
    etag = found.etag[:-1] + '-gz"' if gzipped else found.etag
    headers = {**_SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": etag, "Vary": "Accept-Encoding"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(found.gzip if gzipped else found.body, media_type=found.media_type, headers=headers)


_loaded: dict[Path, tuple[int, int, _Asset]] = {}


def _load(path: Path, mtime_ns: int, size: int) -> _Asset:
    cached = _loaded.get(path)
    if cached is not None and cached[:2] == (mtime_ns, size):
        return cached[2]
    body = path.read_bytes()
    found = _Asset(body=body, gzip=gzip.compress(body, compresslevel=9, mtime=0),
                   etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"', media_type=_MEDIA_TYPES[path.suffix])
    _loaded[path] = (mtime_ns, size, found)
    return found


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # If-None-Match compares weakly: W/"x" matches "x".
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
