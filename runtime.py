"""What a handler sees, as in a Cloudflare Worker: the request, `env` and `ctx`."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("leadlight")
# A log line's JSON: msgspec's encoder, a fifth of json's time (a request's line is about 1.5 % of
# the instructions of a `POST /track`); anything it has no JSON for is written as str() of it, as
# json's default=str. It refuses a lone surrogate, which json escapes: such a line takes json.
_encode = msgspec.json.Encoder(enc_hook=str).encode
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


class endpoint:  # noqa: N801 (used as a function: `Route(path, endpoint(handler))`)
    """Adapt a Worker-style handler to a Starlette route; env and ctx live on app.state.

    An ASGI app rather than a `request -> response` function, which Starlette would wrap in a
    second pass of exception handling per request: the app's ExceptionMiddleware already answers
    whatever a handler raises, with the same request's scope.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.__name__ = handler.__name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        response = await self.handler(Request(scope, receive, send), state.env, state.ctx)
        await response(scope, receive, send)


def now_ms() -> int:
    return int(time.time() * 1000)


def log_event(event: str, **fields: Any) -> None:
    line = {"event": event, **fields}
    try:
        text = _encode(line).decode()
    except (msgspec.EncodeError, TypeError, ValueError):
        text = _to_json(line)
    log.info(text)
