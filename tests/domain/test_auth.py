"""API keys: Bearer or X-API-Key, the configured key maps to the default workspace, CLI keys to theirs."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain import auth
from runtime import Env
from storage.d1 import D1Database



@pytest.fixture
async def whoami(db: D1Database):
    env = Env({"DB": db, "ANALYTICS_API_KEY": "configured-key"})

    async def endpoint(request: Request) -> JSONResponse:
        result = await auth.authenticate(request, env)
        if isinstance(result, auth.AuthFailure):
            return JSONResponse({"failure": result.value}, status_code=401)
        return JSONResponse({"workspace": result.workspace_id})

    app = Starlette(routes=[Route("/", endpoint)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client


async def test_missing_key(whoami: httpx.AsyncClient) -> None:
    assert (await whoami.get("/")).json() == {"failure": "missing"}
    assert (await whoami.get("/", headers={"Authorization": "Bearer "})).json() == {"failure": "missing"}
    assert (await whoami.get("/", headers={"Authorization": "Basic abc"})).json() == {"failure": "missing"}


async def test_configured_key_is_the_default_workspace(whoami: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer configured-key"}, {"X-API-Key": "configured-key"},
                    {"authorization": "bearer configured-key"}):
        assert (await whoami.get("/", headers=headers)).json() == {"workspace": "default"}
    assert (await whoami.get("/", headers={"X-API-Key": "configured-kez"})).json() == {"failure": "invalid"}


async def test_created_key_authenticates_as_its_workspace_until_revoked(whoami: httpx.AsyncClient, db: D1Database) -> None:
    await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('acme', 'Acme', 0)").run()
    key, key_id = await auth.create_key(db, "acme", "ci")
    stored = await db.prepare("SELECT prefix, key_hash FROM api_keys WHERE id = ?").bind(key_id).first()
    assert key.startswith(stored["prefix"]) and key not in stored.values()

    assert (await whoami.get("/", headers={"X-API-Key": key})).json() == {"workspace": "acme"}
    assert (await whoami.get("/", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")})).json() == {"failure": "invalid"}
    assert await auth.revoke_key(db, key_id) is True
    assert (await whoami.get("/", headers={"X-API-Key": key})).json() == {"failure": "invalid"}
