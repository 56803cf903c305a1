"""Workspaces: the tenant every API key, site, session and lead belongs to.

| rule | meaning |
| --- | --- |
| id | 1 to 64 characters of letters, digits, `-` and `_`; fixed once created |
| name | free text up to 200 characters; the id when none is given |
| `default` | created by the first migration; `ANALYTICS_API_KEY` authenticates as it |
| creating an id that exists | an error that changes nothing |
| keys and sites | belong to a workspace that exists (see `domain/auth.py`, `domain/sites.py`) |
"""
from __future__ import annotations

import re
from typing import Any

from runtime import now_ms
from storage.d1 import D1Database

MAX_NAME_LENGTH = 200
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_INSERT = "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING"
_BY_ID = "SELECT id, name, created_at FROM workspaces WHERE id = ?"
# An operator's view across workspaces (the CLI), with what each one holds.
_LIST = (
    "SELECT w.id, w.name, w.created_at,"
    " (SELECT count(*) FROM sites s WHERE s.workspace_id = w.id AND s.deleted_at IS NULL) AS sites,"
    " (SELECT count(*) FROM api_keys k WHERE k.workspace_id = w.id AND k.revoked_at IS NULL) AS keys"
    " FROM workspaces w ORDER BY w.created_at, w.id"
)


class WorkspaceError(ValueError):
    """A workspace request that cannot be carried out; the message names the field and the problem."""


async def create_workspace(db: D1Database, workspace_id: str, name: str = "") -> dict[str, Any]:
    if not _ID.fullmatch(workspace_id):
        raise WorkspaceError(f"workspace: {workspace_id!r} must be 1 to 64 letters, digits, '-' or '_'")
    if len(name) > MAX_NAME_LENGTH:
        raise WorkspaceError(f"name: at most {MAX_NAME_LENGTH} characters")
    result = await db.prepare(_INSERT).bind(workspace_id, name.strip() or workspace_id, now_ms()).run()
    if result.meta["changes"] != 1:
        raise WorkspaceError(f"workspace: {workspace_id!r} already exists")
    return await db.prepare(_BY_ID).bind(workspace_id).first()


async def list_workspaces(db: D1Database) -> list[dict[str, Any]]:
    return (await db.prepare(_LIST).all()).results


async def find_workspace(db: D1Database, workspace_id: str) -> dict[str, Any] | None:
    return await db.prepare(_BY_ID).bind(workspace_id).first()
