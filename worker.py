"""leadlight's entry point, as a Worker's: the app factory and the cron handler.

The operator CLI is `cli.py` (`leadlight ...` once installed; `python worker.py ...` works too).
"""
from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

import handlers
from cron import cron_loop
from handlers import system
from middleware import BodyLimit, RequestLog
from runtime import Env, ExecutionContext, ScheduledEvent, log_event
from storage.bindings import bindings as make_bindings
from storage.config import Config
from storage.s3local import S3Endpoint


def create_app(config: Config, *, local_s3: S3Endpoint | None = None, state_dir: Path | None = None) -> Starlette:
    bindings = make_bindings(config, local_s3, state_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = []
        try:
            for binding in bindings.values():
                await binding.open()
                opened.append(binding)
            await asyncio.to_thread(handlers.warm)
            async with handlers.serving(app):
                cron_task = asyncio.create_task(cron_loop(app)) if config.crons else None
                yield
                if cron_task:
                    cron_task.cancel()
                    await asyncio.gather(cron_task, return_exceptions=True)
                await app.state.ctx.drain()
        finally:
            for binding in reversed(opened):
                await binding.close()

    app = Starlette(
        routes=handlers.routes(config),
        middleware=[
            Middleware(RequestLog),
            # Inside the exception handlers (unlike Starlette(max_body_size=)), so a streamed overflow
            # is answered like a declared one, in the route's dialect. POST /track reads its own, lower limit.
            Middleware(BodyLimit, config.settings.max_body_bytes, handlers.body_limit),
        ],
        exception_handlers={HTTPException: system.http_error, Exception: system.server_error},
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.bindings = bindings
    # LEADLIGHT_SETTINGS: our [leadlight] table, for jobs that see only env (as a Worker's env carries vars).
    app.state.env = Env({**config.bindings_env(), "LEADLIGHT_SETTINGS": config.settings, **bindings})
    app.state.ctx = ExecutionContext()
    app.state.scheduled = scheduled
    return app


async def scheduled(event: ScheduledEvent, env: Env, ctx: ExecutionContext) -> None:
    """The cron handler. Every job is idempotent, so a repeated or overlapping run is harmless."""
    from jobs import JOBS

    for job in JOBS:
        started = asyncio.get_running_loop().time()
        try:
            result = await job(event, env, ctx)
            log_event("job", job=job.__name__, cron=event.cron, status="ok", result=result,
                      durationMs=round((asyncio.get_running_loop().time() - started) * 1000, 2))
        except Exception as exc:  # one job's failure must not stop the others; it is retried next run
            log_event("job", job=job.__name__, cron=event.cron, status="error", error=repr(exc),
                      durationMs=round((asyncio.get_running_loop().time() - started) * 1000, 2))


def main() -> int:
    from cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
