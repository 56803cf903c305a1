"""Shared fixtures: a real SQLite file, the real local S3 server, the app with its lifespan."""
from __future__ import annotations

import faulthandler
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from storage.config import Config, load_config
from storage.s3local import S3Endpoint
from tests.receiver import receiver  # noqa: F401  (a webhook receiver on 127.0.0.1)
from tests.s3fixture import s3_server  # noqa: F401  (session-scoped local S3 server)
from tests.seed import Workspace, seed_workspace
from worker import create_app

API_KEY = "test-analytics-key"


def write_config(root: Path, extra: str = "") -> Path:
    path = root / "wrangler.toml"
    path.write_text(textwrap.dedent(f"""
        name = "leadlight-test"
        main = "worker.py"
        compatibility_date = "2026-11-01"

        [vars]
        ANALYTICS_API_KEY = "{API_KEY}"
        # Webhook receivers in the tests listen on 127.0.0.1.
        WEBHOOK_ALLOW_PRIVATE_NETWORKS = true

        [[d1_databases]]
        binding = "DB"
        database_name = "leadlight"
        database_id = "test"
        migrations_dir = "{Path(__file__).resolve().parent.parent / 'migrations'}"

        [[r2_buckets]]
        binding = "SESSIONS"
        bucket_name = "sessions-{root.name.lower().replace('_', '-')[:40]}"

        [[r2_buckets]]
        binding = "EXPORTS"
        bucket_name = "exports-{root.name.lower().replace('_', '-')[:40]}"

        [[r2_buckets]]
        binding = "DOCUMENTS"
        bucket_name = "documents-{root.name.lower().replace('_', '-')[:40]}"

        [[r2_buckets]]
        binding = "RECORDINGS"
        bucket_name = "recordings-{root.name.lower().replace('_', '-')[:40]}"
    """) + textwrap.dedent(extra))
    return path



@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A thread left running (every open database connection owns one) would keep this process
    alive after the summary, for ever; if it has not exited two minutes on, print every
    thread's stack and exit with status 1."""
    faulthandler.dump_traceback_later(120, exit=True, file=sys.__stderr__)

@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path), local=True, environ={})


def _endpoint(server: object) -> S3Endpoint:
    return getattr(server, "endpoint", server)  # the fixture yields the server or its endpoint


@pytest.fixture
async def app(config: Config, s3_server: object) -> AsyncIterator[Starlette]:
    """The app with its lifespan running: migrations applied, buckets created."""
    from storage import migrations

    application = create_app(config, local_s3=_endpoint(s3_server))
    async with application.router.lifespan_context(application):
        env = application.state.env
        await migrations.apply(env.DB, Path(config.d1_databases[0].migrations_dir))
        for name in ("SESSIONS", "EXPORTS", "DOCUMENTS", "RECORDINGS"):
            await env.get(name).create_bucket()
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def workspace(app: Starlette) -> AsyncIterator[Workspace]:
    """The seeded workspace of tests/seed.py, in the app's database."""
    yield await seed_workspace(app.state.env.DB)
