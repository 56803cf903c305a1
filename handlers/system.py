"""Routes every deployment has: health, the test-scheduled trigger, JSON errors."""
from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cron import run_scheduled
from runtime import Env, ExecutionContext, log_event, now_ms
from storage.bindings import schema_state
from storage.config import Config, ConfigError
from storage.d1 import D1Database
from storage.r2 import R2Bucket


async def healthz(request: Request, env: Env, ctx: ExecutionContext) -> Response:
    """Every binding answers, and every database has its whole schema: a server whose code
    expects migrations its database lacks (or a database with none) is not healthy."""
    config: Config = request.app.state.config
    d1 = {binding.binding: binding for binding in config.d1_databases}
    checks: dict[str, str] = {}
    schema: dict[str, dict[str, object]] = {}
    for name, binding in request.app.state.bindings.items():
        try:
            if isinstance(binding, D1Database):
                state = await schema_state(config, d1[name], binding)
                schema[name] = {"version": state.version, "pending": state.pending}
                checks[name] = f"error: {state.problem}" if state.problem else "ok"
                continue
            if isinstance(binding, R2Bucket):
                await binding.ping()
            checks[name] = "ok"
        except ConfigError as exc:  # the migrations folder is gone; its path is for the log, not for anyone asking
            log_event("healthz.error", binding=name, error=str(exc))
            checks[name] = "error: migrations folder not found"
        except Exception as exc:  # a health check reports failures, it never raises them
            checks[name] = f"error: {type(exc).__name__}"
    ok = all(check == "ok" for check in checks.values())
    return JSONResponse({"ok": ok, "checks": checks, "schema": schema}, status_code=200 if ok else 503)


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
