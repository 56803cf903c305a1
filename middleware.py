"""ASGI middleware every request passes through: the request log line and the declared body limit."""
from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import log_event


class DeclaredSizeLimit:
    """Refuse a declared Content-Length over the app's limit before any route runs.

    Starlette counts streamed bytes as a handler reads them; this catches the bodies a route
    never reads, so every 413 has the same JSON body.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"0")
            if not declared.isdigit() or int(declared) > self.max_body_bytes:
                status, error = (413, f"Request body too large (max {self.max_body_bytes} bytes)") \
                    if declared.isdigit() else (400, "Invalid Content-Length header")
                return await JSONResponse({"error": error}, status_code=status)(scope, receive, send)
        await self.app(scope, receive, send)


class RequestLog:
    """One JSON line per request; the key itself is never logged, only the workspace it maps to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = asyncio.get_running_loop().time()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            log_event(
                "request",
                method=scope["method"],
                route=getattr(route, "path", scope["path"]),
                status=status,
                durationMs=round((asyncio.get_running_loop().time() - started) * 1000, 2),
                workspaceId=scope.get("state", {}).get("workspace_id"),
            )
