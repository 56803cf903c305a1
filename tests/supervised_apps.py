"""Small ASGI app factories that tests/test_supervisor.py serves from real worker processes."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def _pid(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


async def _collector(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"threshold {gc.get_threshold()[0]}, frozen {gc.get_freeze_count()}")


async def _slow(request: Request) -> PlainTextResponse:
    if "started" in request.query_params:  # a file the test waits for: the request is in a worker now
        Path(request.query_params["started"]).touch()
    await asyncio.sleep(float(request.query_params.get("seconds", "1")))
    return PlainTextResponse("done")


def serving() -> Starlette:
    """`/pid` names the worker that answered; `/slow?seconds=N&started=FILE` touches FILE, then answers
    after N seconds; `/gc` tells how the worker's cyclic collector is set."""
    return Starlette(routes=[Route("/pid", _pid), Route("/slow", _slow), Route("/gc", _collector)])


def broken() -> Starlette:
    raise RuntimeError("the factory cannot build its app")


def misconfigured() -> Starlette:
    # What cli.app_from_environment does with a ConfigError.
    print("error: wrangler.toml: d1_databases[0].database_path: required", file=sys.stderr, flush=True)
    raise SystemExit(os.EX_CONFIG)


def failing_lifespan() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise OSError("cannot open the database")
        yield  # pragma: no cover

    return Starlette(routes=[Route("/pid", _pid)], lifespan=lifespan)
