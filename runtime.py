"""What a handler sees, as in a Cloudflare Worker: the request, `env` and `ctx`."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("leadlight")
# One encoder for every line: json.dumps with options builds a new encoder per call.
_to_json = json.JSONEncoder(default=str, separators=(",", ":")).encode


class Env:
    """Vars, secrets and bindings by their binding names: `env.DB`, `env.SESSIONS`, `env.ANALYTICS_API_KEY`."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__["_values"] = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"env has no binding or var named {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("env is read-only")

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self._values


class ExecutionContext:
    """`ctx.wait_until(aw)`: work that continues after the response and is awaited on shutdown."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[Any]] = set()

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._pending.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # One failure never cancels the others, but it is never silent either.
            log_event("wait_until.error", error=repr(task.exception()))

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


@dataclass(frozen=True)
class ScheduledEvent:
    cron: str
    scheduled_time: int  # epoch ms, as controller.scheduledTime


Handler = Callable[[Request, Env, ExecutionContext], Awaitable[Response]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Adapt a Worker-style handler to a Starlette endpoint; env and ctx live on app.state."""

    async def call(request: Request) -> Response:
        state = request.app.state
        return await handler(request, state.env, state.ctx)

    call.__name__ = handler.__name__
    return call


def now_ms() -> int:
    return int(time.time() * 1000)


def log_event(event: str, **fields: Any) -> None:
    log.info(_to_json({"event": event, **fields}))
