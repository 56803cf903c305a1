"""How the HTTP server runs: the limits every connection lives within, and uvicorn's options for them.

| `[leadlight]` setting | default | past it |
| --- | --- | --- |
| `max_header_bytes` | 16384 | request line and headers together: 431, closed, nothing more buffered |
| `max_headers` | 100 | 431, closed |
| `header_timeout_seconds` | 10 | from the connection's start or the last response to the end of the headers: 408, closed |
| `body_timeout_seconds` | 30 | from the end of the headers to the end of the body: 408, closed |
| `keep_alive_seconds` | 5 | an idle connection between requests is closed |
| `max_connections` | 1000 | open connections per process: one past it is closed as it opens, before any read |

What uvicorn offers is used as it is: `timeout_keep_alive`, and `limit_concurrency`, which
answers 503 while more requests than `max_connections` are still running (requests of clients
that went away included). uvicorn applies `limit_concurrency` only once a request's headers are
in, so idle or stalled sockets would still pile up; and its httptools protocol has no limit on
the size, count or time of headers (only its slower h11 protocol bounds their size).
`BoundedHttpToolsProtocol` adds those: it closes a connection past the cap as it opens, so a
flood of sockets costs no memory, and counts a head's raw bytes as they arrive, so a header
that never ends is cut at the limit rather than buffered. It also holds the body deadline, with
one timer armed only while a body is still arriving: a body that comes with its headers (nearly
every request) costs no timer at all, where a deadline in the app would arm one per request.
Past the deadline the app's `receive()` says the client disconnected, so a handler stops as it
would for a client that went away, and the protocol answers 408 in its place.

uvicorn starts its worker processes afresh: they inherit the environment, so `uvicorn_options`
hands the limits uvicorn has no option for to the protocol in `LEADLIGHT_SERVER_LIMITS`, as the
CLI hands its choices to the app factory.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runtime import log_event
from storage.config import Settings

LIMITS_VAR = "LEADLIGHT_SERVER_LIMITS"
# Set in a request's scope when its body missed the deadline: the request log says 408, not 499.
BODY_TIMED_OUT = "leadlight.body_timed_out"
_REFUSAL_LOG_SECONDS = 10.0  # at most one log line per process this often while connections are refused
# After a refusal, what the client still sends is read and dropped this long before the close: a
# close with unread bytes resets the connection, and a reset can destroy the answer in flight.
_LINGER_SECONDS = 2.0
_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int
    max_headers: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    keep_alive_seconds: float
    max_connections: int

    @classmethod
    def of(cls, settings: Settings) -> ServerLimits:
        return cls(**{field.name: getattr(settings, field.name) for field in dataclasses.fields(cls)})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`, for any number of worker processes."""
    limits = ServerLimits.of(settings)
    os.environ[LIMITS_VAR] = json.dumps(dataclasses.asdict(limits))
    return {
        "http": "server:BoundedHttpToolsProtocol",
        "timeout_keep_alive": settings.keep_alive_seconds,
        # uvicorn's test is `running >= limit`; our cap already keeps connections at or under it.
        "limit_concurrency": settings.max_connections + 1,
    }


@cache
def current_limits() -> ServerLimits:
    """This process's limits: from LIMITS_VAR when the CLI started the server, else the defaults."""
    given = os.environ.get(LIMITS_VAR)
    return ServerLimits(**json.loads(given)) if given else ServerLimits.of(Settings())


class _Refusals:
    """Connections refused past the cap, logged as one line per interval rather than one each."""

    count = 0
    logged_at = 0.0

    @classmethod
    def add(cls, limit: int) -> None:
        cls.count += 1
        now = time.monotonic()
        if now - cls.logged_at >= _REFUSAL_LOG_SECONDS:
            log_event("connections.refused", refused=cls.count, maxConnections=limit)
            cls.count, cls.logged_at = 0, now


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on a request's head and on open connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = current_limits()
        self._refused = False
        self._awaiting_head = True  # between requests, or inside a request's head
        self._in_head = False  # a request has begun and its headers are not all in
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # raw bytes received while inside the head
        self._head_size = 0  # the parsed request line and headers
        self._head_count = 0
        self._body_pending = False  # a request's headers are in and its body is not
        self._body_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None
        self._lingering = False

    # -- connections -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self._limits.max_connections:
            self._refused = True
            _Refusals.add(self._limits.max_connections)
            transport.close()
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    # -- reading a request's head --------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused or self._lingering or self.transport.is_closing():
            return  # dropped, never buffered
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is not None:  # raised by our own callback below
                self._refuse(*self._refusal)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head:
            # Still inside a head past the limit: cut it here rather than let the parser buffer more
            # (the chunk it began in counts whole: a little early, never late).
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_header_bytes:
                self._refuse(431, f"Request headers exceed {self._limits.max_header_bytes} bytes")
        elif self._body_pending and self._body_timer is None:  # this chunk ended inside a body
            self._body_timer = self.loop.call_later(self._limits.body_timeout_seconds, self._body_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = self._in_head = True
        self._head_bytes = self._head_size = self._head_count = 0
        if self._head_timer is None:  # a pipelined request: its head's time starts now
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value), 1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = self._in_head = False
        self._body_pending = True
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_pending = False
        self._cancel_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        in_flight = self.cycle is not None and not self.cycle.response_complete  # a pipelined request
        if not in_flight and not self.transport.is_closing() and not self._awaiting_head:
            self._awaiting_head = True
            self._arm_head_timer()

    def _count_head(self, size: int, headers: int) -> None:
        self._head_size += size
        self._head_count += headers
        if self._head_size > self._limits.max_header_bytes:
            self._refusal = (431, f"Request headers exceed {self._limits.max_header_bytes} bytes")
        elif self._head_count > self._limits.max_headers:
            self._refusal = (431, f"More than {self._limits.max_headers} request headers")
        if self._refusal is not None:
            raise _HeadRefused()  # stops the parser; data_received answers

    # -- timers and answers --------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._limits.header_timeout_seconds, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(408, "Request headers not received in time")
        else:  # an idle connection: nothing to answer
            self.transport.close()

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if not self._body_pending or self.transport.is_closing():
            return
        seconds = self._limits.body_timeout_seconds
        # The wait is the app's when it has not read what came (reading is paused), or when this
        # request is queued behind a running one (pipelined): the deadline starts again.
        if self.flow.read_paused or self.pipeline:
            self._body_timer = self.loop.call_later(seconds, self._body_too_slow)
            return
        cycle = self.cycle
        cycle.scope[BODY_TIMED_OUT] = True  # type: ignore[literal-required]
        cycle.disconnected = True  # receive() answers http.disconnect; what the app sends is dropped
        cycle.message_event.set()
        if cycle.response_started:
            self.transport.close()
        else:
            self._refuse(408, f"Request body not received within {seconds:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer with the worker's JSON error body and close, whatever the request had sent (the
        rest of it is read and dropped for `_LINGER_SECONDS`, so the answer arrives)."""
        self._cancel_head_timer()
        self._awaiting_head = self._in_head = False
        body = json.dumps({"error": message}).encode()
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
        self.transport.write(head + body)
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


class _HeadRefused(Exception):
    pass
