"""ASGI middleware every request passes through: the request log line and the declared body limit.

(The body deadline is the server's: `server.BoundedHttpToolsProtocol`.)"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.middleware.body_limit import RequestBodyLimitResponder
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import log_event
from server import BODY_TIMED_OUT


# A path's body limit (None: the app's `max_body_bytes`) and how its API words a 413 (None: `{"error": ...}`).
BodyLimitOf = Callable[[str], tuple[int | None, Any]]


class BodyLimit:
    """Each request's body limit, found once from its path: a declared Content-Length over it is
    refused before any route runs (this catches the bodies a route never reads), and a body without
    one (chunked) is counted by Starlette's responder as a handler reads it. Routes that take files
    declare a larger limit; an API surface's 413 is in its own dialect.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, limit_of: BodyLimitOf) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared_limit, dialect = self.limit_of(scope["path"])
        limit = declared_limit or self.max_body_bytes
        for name, length in scope["headers"]:
            if name == b"content-length":
                break
        else:  # chunked, or no body: counted as it is read
            return await RequestBodyLimitResponder(self.app, limit)(scope, receive, send)
        # HTTP allows spaces around a header's value: "Content-Length:  123 " is 123.
        declared = length.strip()
        if not declared.isdigit() or int(declared) > limit:
            status, error = (413, f"Request body too large (max {limit} bytes)") \
                if declared.isdigit() else (400, "Invalid Content-Length header")
            response = dialect.respond(status, error, "PAYLOAD_TOO_LARGE" if status == 413 else "INVALID_HEADER") \
                if dialect is not None else JSONResponse({"error": error}, status_code=status)
            return await response(scope, receive, send)
        # The server delivers no more than the declared length, so there is nothing left to count.
        await self.app(scope, receive, send)


class RequestLog:
    """One JSON line per request; the key itself is never logged, only the workspace it maps to.

    A client that goes away before its answer is logged with status 499 (as nginx does), in the
    same one line and without a traceback: it is not an error of ours. One whose body missed the
    server's deadline is logged with the 408 the server answered.
    """

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
        except ClientDisconnect:
            status = 408 if scope.get(BODY_TIMED_OUT) else 499
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
