"""The analytics MCP server: Model Context Protocol tools over the analytics surfaces, at `/mcp`.

Streamable HTTP, built with the official `mcp` SDK, stateless with JSON answers: every POST
carries its own API key (Bearer or X-API-Key, as every surface), so any worker process can
answer any request and no session outlives it. A request without a valid key gets the campaign
document's 401 before the SDK sees it.

| tool | answers exactly as |
| --- | --- |
| `analytics` (campaignId, lineId, userId, dateFrom, dateTo) | GET /api/analytics, its `analytics.served` line included |
| `tracking_overview` | GET /analytics/overview |
| `lead_analytics_totals` (start, end) | the `totals` of GET /api/v0/analytics |

Each tool parses its arguments with the HTTP route's own declared parameters and calls the same
domain function, so the numbers cannot differ; a bad argument is a tool error worded as the
route's 400.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from domain import auth, checklists, lead_analytics, metrics
from domain.auth import AuthFailure, Principal
from domain.fields import FieldError
from handlers import campaign_analytics
from handlers import lead_analytics as lead_analytics_surface
from handlers.params import ParamError, ParamErrors, parse_all
from runtime import Env, log_event

PATH = "/mcp"
INSTRUCTIONS = ("Analytics of this workspace: campaign messaging metrics (reach, replies, positive replies), the "
                "website tracking overview, and lead analytics totals. Numbers match the HTTP API exactly.")


def _principal(ctx: Context) -> tuple[Env, Principal]:
    # The transport hands each tool the HTTP request it came in; the endpoint put the key's
    # principal on it, so every tool answers for the key's workspace only.
    request = ctx.request_context.request
    assert isinstance(request, Request)
    return request.app.state.env, request.state.principal


def _arguments(params: Any, given: dict[str, str | None], describe: Any) -> dict[str, Any]:
    try:
        return parse_all(params, {k: v for k, v in given.items() if v is not None}, {}, empty_is_missing=True,
                         reject_unknown=False, stop_at_first=True)
    except ParamErrors as errors:
        raise ToolError(describe(errors.errors[0])) from None


def _result(value: Any) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(value))], structured_content=value)


async def analytics(ctx: Context, campaignId: str | None = None, lineId: str | None = None,
                    userId: str | None = None, dateFrom: str | None = None, dateTo: str | None = None
                    ) -> CallToolResult:
    """Campaign messaging metrics (reached, sent, fallback, failed, replied, uniqueReplied, repliedPct,
    positiveReplied, positivePct) for the workspace, filtered by campaign (24-hex id), sender line
    (24-hex id), user (user_...) and an inclusive ISO 8601 window on message creation time."""
    env, principal = _principal(ctx)
    dialect = campaign_analytics.analytics_api.dialect
    values = _arguments(campaign_analytics.FILTERS, {"campaignId": campaignId, "lineId": lineId, "userId": userId,
                                                     "dateFrom": dateFrom, "dateTo": dateTo}, dialect.describe)
    try:
        flt = campaign_analytics.analytics_filter(**values)
    except ParamError as error:
        raise ToolError(dialect.describe(error)) from None
    try:
        answer = await campaign_analytics.served_analytics(env, principal.workspace_id, flt)
    except Exception as exc:  # as the route does: the details go to the log, the caller gets a fixed message
        log_event(dialect.error_event, route=PATH, tool="analytics", workspaceId=principal.workspace_id,
                  error=repr(exc))
        raise ToolError(dialect.server_error_message) from None
    return _result(answer)


async def tracking_overview(ctx: Context) -> CallToolResult:
    """Website tracking totals: sessions, events, unique visitors and fingerprints, average engagement
    score and session duration, VPN-suspected sessions."""
    env, principal = _principal(ctx)
    return _result(await metrics.overview(env.DB, principal.workspace_id))


async def lead_analytics_totals(ctx: Context, start: str | None = None, end: str | None = None) -> CallToolResult:
    """Lead analytics totals over the workspace's leads created in an optional inclusive ISO 8601 window:
    lead counts, messages by direction and channel, checklist completion, human interventions."""
    env, principal = _principal(ctx)
    surface = lead_analytics_surface.api
    values = _arguments((lead_analytics_surface.START, lead_analytics_surface.END), {"start": start, "end": end},
                        surface.dialect.describe)
    begin, finish = values["start"], values["end"]
    try:
        leads = lead_analytics.lead_filter(principal.workspace_id, begin.ms if begin else None,
                                           finish.ms if finish else None)
    except FieldError as error:
        raise ToolError(str(error)) from None
    template = await checklists.read_template(env.DB, principal.workspace_id)
    return _result(await lead_analytics.totals(env.DB, leads, template))


def _server() -> MCPServer:
    # The SDK configures the root logger at this level when none is set: WARNING, as `leadlight`
    # sets it, so a program that embeds the app does not start printing every library's INFO lines.
    server: MCPServer = MCPServer("leadlight-analytics", instructions=INSTRUCTIONS, log_level="WARNING")
    for tool in (analytics, tracking_overview, lead_analytics_totals):
        server.add_tool(tool, structured_output=False)
    return server


class _Endpoint:
    """The ASGI app at /mcp: authenticate, then hand the request to the app's session manager."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        env: Env = request.app.state.env
        principal = await auth.authenticate(request, env)
        if isinstance(principal, AuthFailure):
            dialect = campaign_analytics.api.dialect
            response = dialect.unauthorized(principal)
            response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        request.state.principal = principal
        request.state.workspace_id = principal.workspace_id  # for the request log line
        manager: StreamableHTTPSessionManager = request.app.state.mcp_sessions
        await manager.handle_request(scope, receive, send)


routes = [Route(PATH, _Endpoint(), methods=["GET", "POST", "DELETE"])]


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[None]:
    """Run the app's MCP session manager (one per app: the SDK's manager runs once) for its lifespan.

    The manager holds an anyio task group, which must be left by the task that entered it; a
    lifespan may be entered and left by different tasks (a test fixture's setup and teardown),
    so the manager lives in a task of its own until the lifespan ends.
    """
    server = _server()
    # No DNS-rebinding check: every request must carry an API key, which a page that rebinds
    # a host name to this worker does not have.
    server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True,
                               transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    manager = server.session_manager
    running, stopping = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with manager.run():
            running.set()
            await stopping.wait()

    task = asyncio.create_task(run())
    ready = asyncio.create_task(running.wait())
    await asyncio.wait((task, ready), return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # the manager could not start: say why
        ready.cancel()
        task.result()
    app.state.mcp_sessions = manager
    try:
        yield
    finally:
        stopping.set()
        await task
