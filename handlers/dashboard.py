"""The dashboard page and the API reference page, served by the worker as static files.

| path | file |
| --- | --- |
| `/` | `static/index.html`, the dashboard |
| `/docs` | `static/docs.html`, the API reference drawn from `/openapi.json` |
| `/app/<name>` | `static/app/<name>`: the pages' scripts and styles (only files that exist there) |

Every answer carries a strict Content-Security-Policy (the page holds an API key: only our own
scripts run, and it talks to no other host), an ETag and `Cache-Control: no-cache`, so a browser
revalidates each load and gets a 304 when nothing changed (handlers/static_files.py).
"""
from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from handlers import static_files
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
    found = static_files.load(path)
    if found is None:
        return JSONResponse({"error": "Not found"}, status_code=404)
    return static_files.respond(request, found, _MEDIA_TYPES[path.suffix],
                                {**_SECURITY_HEADERS, "Cache-Control": "no-cache"})
