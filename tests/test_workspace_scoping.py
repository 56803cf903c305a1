"""Workspace scoping you cannot forget: every operation of every surface, called with workspace
"default"'s key on workspace "ws-two"'s ids, answers 404 or shows none of ws-two's data, and
changes none of ws-two's rows.

The operations come from `handlers.SURFACES`, so a new route is checked without being listed
here; it only needs ws-two's id for each of its path parameters (`Workspace.other_ids`, built
in tests/seed.py) and, for a write, an example body (`Operation.example`).
"""
from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import handlers
from tests.seed import Workspace

OTHER = "ws-two"
OPERATIONS = [(path, method, op) for surface in handlers.SURFACES for path, method, op in surface.operations]
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


async def other_rows(app: Starlette) -> dict[str, list[str]]:
    """Every row of ws-two, table by table, as comparable text."""
    db = app.state.env.DB
    tables = [row[0] for row in await db.prepare(
        "SELECT m.name FROM sqlite_master m WHERE m.type = 'table'"
        " AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'workspace_id')").raw()]
    rows: dict[str, list[str]] = {}
    for table in tables:  # names from sqlite_master, not from input
        found = await db.prepare(f'SELECT * FROM "{table}" WHERE workspace_id = ?').bind(OTHER).all()
        rows[table] = sorted(json.dumps(row, sort_keys=True, default=str) for row in found.results)
    found = await db.prepare("SELECT * FROM lead_follow_ups WHERE lead_id IN"
                             " (SELECT lead_id FROM leads WHERE workspace_id = ?)").bind(OTHER).all()
    rows["lead_follow_ups"] = sorted(json.dumps(row, sort_keys=True) for row in found.results)
    return rows


@pytest.mark.parametrize("path, method, op", OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
async def test_a_key_never_reaches_another_workspace(client: httpx.AsyncClient, app: Starlette,
                                                      workspace: Workspace, path: str, method: str, op: Any) -> None:
    names = _PARAM.findall(path)
    missing = [name for name in names if name not in workspace.other_ids]
    assert not missing, f"tests/seed.py: give ws-two an id for {missing} (Workspace.other_ids)"
    url = _PARAM.sub(lambda m: workspace.other_ids[m.group(1)], path)
    if method in ("POST", "PUT", "PATCH"):
        assert op.example is not None, f"{method} {path}: declare an example body (Operation.example)"
    before = await other_rows(app)
    content = json.dumps(op.example) if op.example is not None else None
    response = await client.request(method, url, content=content,
                                    headers={"X-API-Key": "test-analytics-key", "Content-Type": "application/json"})
    assert await other_rows(app) == before, f"{method} {url} changed ws-two's rows"
    if names:
        assert response.status_code == 404, f"{method} {url}: {response.status_code} {response.text[:200]}"
    else:
        assert response.status_code < 500, response.text
    leaked = [marker for marker in workspace.other_markers if marker in response.text]
    assert not leaked, f"{method} {url} shows ws-two's data: {leaked}"
