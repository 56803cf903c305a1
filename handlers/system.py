"""Routes every deployment has: health, the test-scheduled trigger, JSON errors."""
from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cron import run_scheduled
from runtime import Env, ExecutionContext, log_event, now_ms
from storage.d1 import D1Database
from storage.r2 import R2Bucket


async def healthz(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    checks: dict[str, str] = {}
    ok = True
    for name, binding in request.app.state.bindings.items():
        try:
            if isinstance(binding, D1Database):
                await binding.prepare("SELECT 1").first()
            elif isinstance(binding, R2Bucket):
                await binding.ping()
            checks[name] = "ok"
        except Exception as exc:  # a health check reports failures, it never raises them
            ok = False
            checks[name] = f"error: {type(exc).__name__}"
    return JSONResponse({"ok": ok, "checks": checks}, status_code=200 if ok else 503)


async def test_scheduled(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    """`GET /__scheduled?cron=<expr>`, as `wrangler dev --test-scheduled` exposes it."""
    cron = request.query_params.get("cron", "* * * * *")
    started = time.perf_counter()
    await run_scheduled(request.app, cron, now_ms())
    return JSONResponse({"ok": True, "cron": cron, "durationMs": round((time.perf_counter() - started) * 1000, 1)})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:
        limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
        return JSONResponse({"error": f"Request body too large (max {limit} bytes)"}, status_code=413)
    messages = {404: "Not found", 405: "Method not allowed"}
    body = {"error": messages.get(exc.status_code, exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # Details go to the log only: a client never sees SQL or a traceback.
    log_event("request.error", route=request.url.path, error=repr(exc))
    return JSONResponse({"error": "Internal server error"}, status_code=500)
