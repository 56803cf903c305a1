"""API keys: created once, stored as a hash with a visible prefix, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from starlette.requests import Request

from domain.workspaces import WorkspaceError
from runtime import Env, now_ms
from storage.d1 import D1Database

DEFAULT_WORKSPACE = "default"
_PREFIX_LEN = 12  # "ll_" + 9 random characters: enough to find the row, useless to an attacker


class AuthFailure(Enum):
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True)
class Principal:
    workspace_id: str
    key_id: int | None  # None for the configured ANALYTICS_API_KEY
    livemode: bool = True  # a test key's writes are marked livemode false; the configured key is live


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def authenticate(request: Request, env: Env) -> Principal | AuthFailure:
    key = presented_key(request)
    if key is None:
        return AuthFailure.MISSING
    configured = env.get("ANALYTICS_API_KEY")
    if configured and hmac.compare_digest(key.encode(), str(configured).encode()):
        return Principal(DEFAULT_WORKSPACE, None)
    rows = await env.DB.prepare(
        "SELECT id, workspace_id, key_hash, livemode FROM api_keys WHERE prefix = ? AND revoked_at IS NULL"
    ).bind(key[:_PREFIX_LEN]).all()
    digest = _hash(key)
    for row in rows.results:
        if hmac.compare_digest(digest, row["key_hash"]):
            return Principal(row["workspace_id"], row["id"], bool(row["livemode"]))
    return AuthFailure.INVALID


async def create_key(db: D1Database, workspace_id: str, name: str = "", *, livemode: bool = True
                     ) -> tuple[str, int]:
    """Return the new key (shown once) and its id; only the hash and prefix are stored.

    The workspace must exist (`domain/workspaces.py`): a mistyped id is an error, never a new
    workspace nobody meant to create.
    """
    key = "ll_" + secrets.token_urlsafe(32)
    result = await db.prepare(_INSERT_KEY).bind(workspace_id, name, key[:_PREFIX_LEN], _hash(key), now_ms(),
                                                int(livemode)).run()
    if result.meta["changes"] != 1:
        raise WorkspaceError(f"workspace: no workspace {workspace_id!r}")
    return key, int(result.meta["last_row_id"])


async def count_active_keys(db: D1Database) -> int:
    """Keys not revoked, in every workspace: `serve` refuses a deployment that has no way in."""
    return int(await db.prepare("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL").first("n"))


# One statement: the key is written only when its workspace exists.
_INSERT_KEY = (
    "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, created_at, livemode)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = ?1)"
)


async def list_keys(db: D1Database, workspace_id: str | None = None) -> list[dict]:
    sql = "SELECT id, workspace_id, name, prefix, created_at, revoked_at FROM api_keys"
    statement = db.prepare(sql + " WHERE workspace_id = ? ORDER BY id").bind(workspace_id) if workspace_id \
        else db.prepare(sql + " ORDER BY id")
    return (await statement.all()).results


async def revoke_key(db: D1Database, key_id: int) -> bool:
    result = await db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(
        now_ms(), key_id
    ).run()
    return result.meta["changes"] == 1
