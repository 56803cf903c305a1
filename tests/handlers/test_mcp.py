"""The analytics MCP server at /mcp, through a real MCP client session over HTTP on loopback.

The app runs under uvicorn on 127.0.0.1; the official SDK's client opens a streamable-HTTP
session with an API key, calls each tool, and every answer must equal what the HTTP endpoint
answers for the same key and filter.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from tests.campaigns import History, write_history
from tests.seed import Workspace

KEY = "test-analytics-key"


@pytest.fixture
async def server(app: Starlette) -> AsyncIterator[str]:
    """The app (its lifespan already running) served over HTTP on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        await asyncio.sleep(0.01)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    await task


@asynccontextmanager
async def session(base: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (httpx2.AsyncClient(headers=headers, timeout=30) as http,
                streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
                ClientSession(read, write) as opened):
        await opened.initialize()
        yield opened


async def tool(opened: ClientSession, name: str, **arguments: Any) -> Any:
    result = await opened.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def http_json(base: str, path: str, key: str = KEY, **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get(path, params=params, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def history(client: httpx.AsyncClient, workspace: Workspace) -> History:
    return await write_history(client, workspace)


async def test_each_tool_returns_what_its_endpoint_returns(server: str, history: History) -> None:
    filters: list[dict[str, str]] = [
        {}, {"campaignId": history.spring}, {"lineId": history.backup_line}, {"userId": "user_bob"},
        {"campaignId": history.spring, "lineId": history.main_line, "userId": "user_alice"},
        {"dateFrom": "2025-06-01T23:00:00Z", "dateTo": "2025-06-02T10:02:00Z"},
        {"campaignId": history.spring.upper(), "dateTo": "2025-06-02"},
    ]
    async with session(server, {"Authorization": f"Bearer {KEY}"}) as opened:
        names = sorted(t.name for t in (await opened.list_tools()).tools)
        assert names == ["analytics", "lead_analytics_totals", "tracking_overview"]
        for given in filters:
            assert await tool(opened, "analytics", **given) == await http_json(server, "/api/analytics", **given)
        spring = await tool(opened, "analytics", campaignId=history.spring)
        assert spring["metrics"]["positivePct"] == 0.6666 and spring["metrics"]["reached"] == 3
        assert await tool(opened, "tracking_overview") == await http_json(server, "/analytics/overview")
        for window in ({}, {"start": "2025-06-01T00:00:00Z"}, {"start": "2025-06-01", "end": "2025-06-02"}):
            page = await http_json(server, "/api/v0/analytics", **window)
            assert await tool(opened, "lead_analytics_totals", **window) == page["totals"]


async def test_tools_answer_for_the_keys_workspace(server: str, history: History, workspace: Workspace) -> None:
    async with session(server, {"X-API-Key": workspace.other_key}) as opened:
        other = await tool(opened, "analytics")
        assert other == await http_json(server, "/api/analytics", key=workspace.other_key)
        assert other["metrics"]["sent"] == 2  # ws-two's own messages, none of default's
        assert await tool(opened, "tracking_overview") == await http_json(server, "/analytics/overview",
                                                                         key=workspace.other_key)
        assert (await tool(opened, "analytics", campaignId=history.spring))["metrics"]["sent"] == 0


async def test_a_bad_argument_is_a_tool_error_worded_as_the_400(server: str, workspace: Workspace) -> None:
    async with session(server, {"X-API-Key": KEY}) as opened:
        for arguments, message in (({"campaignId": "nope"}, "campaignId must be a 24-character hex id"),
                                   ({"userId": "bob"}, "userId must be a user id (user_...)"),
                                   ({"dateFrom": "2025-06-03", "dateTo": "2025-06-02"},
                                    "dateTo must not be before dateFrom")):
            result = await opened.call_tool("analytics", arguments)
            assert result.is_error and message in result.content[0].text
        result = await opened.call_tool("lead_analytics_totals", {"start": "2025-06-03", "end": "2025-06-02"})
        assert result.is_error and "end" in result.content[0].text


@pytest.mark.parametrize("headers, message", [
    ({}, "Missing API key: pass Authorization: Bearer <key> or X-API-Key: <key>"),
    ({"Authorization": "Bearer wrong"}, "Invalid API key"),
])
async def test_mcp_needs_an_api_key(server: str, workspace: Workspace, headers: dict[str, str],
                                    message: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        response = await http.post("/mcp", headers={**headers, "Accept": "application/json, text/event-stream"},
                                   json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                                       "protocolVersion": "2025-06-18", "capabilities": {},
                                       "clientInfo": {"name": "t", "version": "1"}}})
    assert (response.status_code, response.json()) == (
        401, {"success": False, "error": {"code": "Unauthorized", "message": message}})
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_analytics_tool_logs_as_the_endpoint(server: str, app: Starlette, history: History,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="leadlight"):
        async with session(server, {"X-API-Key": KEY}) as opened:
            await tool(opened, "analytics", campaignId=history.autumn)
            await app.state.env.DB.exec("DROP TABLE campaign_reach")
            result = await opened.call_tool("analytics", {"campaignId": history.autumn})
    assert result.is_error and "Aggregation failed; see the analytics.error event" in result.content[0].text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith('{"event":"analytics.')]
    assert [line["event"] for line in lines] == ["analytics.served", "analytics.error"]
    assert lines[0]["filter"] == {"campaignId": history.autumn} and lines[0]["workspaceId"] == "default"
    assert lines[1]["workspaceId"] == "default" and "campaign_reach" in lines[1]["error"]
