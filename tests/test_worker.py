"""The runtime as a client and an operator see it: health, errors, limits, cron, CLI, `dev`."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

import cron
import jobs
from storage import migrations
from storage.config import load_config
from storage.s3local import free_port
from tests.conftest import write_config
from worker import create_app

ROOT = Path(__file__).resolve().parent.parent


async def test_healthz_checks_every_binding_and_the_schema(client: httpx.AsyncClient, app: Starlette) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    latest = migrations.migration_files(ROOT / "migrations")[-1].name  # every migration is applied
    assert response.json() == {"ok": True, "checks": {name: "ok" for name in app.state.bindings},
                               "schema": {"DB": {"version": latest, "pending": []}}}


@contextlib.asynccontextmanager
async def _app_on(tmp_path: Path, s3_server: object, folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a database whose migrations folder is `folder` (a copy the test may change)."""
    text = write_config(tmp_path).read_text().replace(str(ROOT / "migrations"), str(folder))
    (tmp_path / "wrangler.toml").write_text(text)
    config = load_config(tmp_path / "wrangler.toml", local=True, environ={})
    application = create_app(config, local_s3=getattr(s3_server, "endpoint", s3_server))
    async with application.router.lifespan_context(application):
        for name in application.state.bindings:
            if name != "DB":
                await application.state.bindings[name].create_bucket()
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_healthz_fails_while_a_migration_is_pending(tmp_path: Path, s3_server: object) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    async with _app_on(tmp_path, s3_server, folder) as http:
        applied = await migrations.apply(http._transport.app.state.env.DB, folder)  # type: ignore[attr-defined]
        (folder / "9999_later.sql").write_text("CREATE TABLE later (id INTEGER);\n")  # the code moved on
        response = await http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["checks"]["DB"] == "error: 1 pending migration (9999_later.sql)"
    assert body["schema"] == {"DB": {"version": applied[-1], "pending": ["9999_later.sql"]}}


async def test_healthz_fails_on_a_database_without_schema(tmp_path: Path, s3_server: object) -> None:
    async with _app_on(tmp_path, s3_server, ROOT / "migrations") as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["DB"] == "error: no schema (no migration applied)"
    assert body["schema"]["DB"] == {"version": None,
                                    "pending": [p.name for p in migrations.migration_files(ROOT / "migrations")]}


async def test_unknown_route_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found"})
    wrong = await client.post("/healthz")
    assert (wrong.status_code, wrong.json()) == (405, {"error": "Method not allowed"})


async def test_body_over_the_limit_is_413_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz", content=b"x" * (1_048_576 + 1))
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large (max 1048576 bytes)"}


async def test_request_log_line_has_no_key(client: httpx.AsyncClient, auth: dict, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="leadlight")
    await client.get("/healthz", headers=auth)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "leadlight"]
    request = [line for line in lines if line["event"] == "request"][-1]
    assert request["method"] == "GET" and request["route"] == "/healthz" and request["status"] == 200
    assert set(request) == {"event", "method", "route", "status", "durationMs", "workspaceId"}
    assert all(auth["Authorization"].split()[1] not in r.getMessage() for r in caplog.records)


async def test_scheduled_runs_every_job_and_survives_a_failing_one(client: httpx.AsyncClient) -> None:
    ran = []

    async def failing(event, env, ctx):
        raise RuntimeError("boom")

    async def recording(event, env, ctx):
        ran.append(event)

    jobs.JOBS[:0] = [failing, recording]
    try:
        response = await client.get("/__scheduled", params={"cron": "*/5 * * * *"})
    finally:
        del jobs.JOBS[:2]
    assert response.status_code == 200 and response.json()["ok"] is True
    assert [e.cron for e in ran] == ["*/5 * * * *"]


async def test_wait_until_work_is_awaited_on_shutdown(app) -> None:
    import asyncio

    done = []

    async def later():
        await asyncio.sleep(0.05)
        done.append(True)

    app.state.ctx.wait_until(later())
    await app.state.ctx.drain()
    assert done == [True]


def test_next_fire_picks_the_earliest_cron_in_utc() -> None:
    now = datetime(2026, 11, 25, 10, 7, 30, tzinfo=timezone.utc)
    when, due = cron.next_fire(["*/5 * * * *", "0 * * * *", "10 10 * * *"], now)
    assert when == datetime(2026, 11, 25, 10, 10, tzinfo=timezone.utc)
    assert due == ["*/5 * * * *", "10 10 * * *"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "worker.py"), "--config", str(cwd / "wrangler.toml"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_migrations_execute_and_keys(tmp_path: Path) -> None:
    write_config(tmp_path)
    assert "applied 0001_init.sql" in _cli("d1", "migrations", "apply", cwd=tmp_path).stdout
    assert "No migrations to apply." in _cli("d1", "migrations", "list", cwd=tmp_path).stdout

    assert _cli("workspaces", "create", "acme", cwd=tmp_path).stdout == "Created workspace acme (acme).\n"
    created = _cli("keys", "create", "--workspace", "acme", "--name", "ci", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("ll_")

    result = _cli("d1", "execute", "leadlight", "--command", "SELECT workspace_id, prefix, key_hash FROM api_keys", "--json", cwd=tmp_path)
    [block] = json.loads(result.stdout)
    assert block["success"] is True and set(block["meta"]) >= {"duration", "changes", "last_row_id", "rows_read", "rows_written"}
    [row] = block["results"]
    assert row["workspace_id"] == "acme" and key.startswith(row["prefix"]) and key not in json.dumps(row)

    listed = _cli("keys", "list", cwd=tmp_path).stdout.splitlines()
    assert listed[0].split() == ["ID", "WORKSPACE", "NAME", "PREFIX", "CREATED", "STATE"]
    assert listed[1].split()[:4] == ["1", "acme", "ci", f"{key[:12]}…"] and listed[1].endswith("active")
    assert key not in "".join(listed)
    assert _cli("keys", "revoke", "1", cwd=tmp_path).returncode == 0
    assert _cli("keys", "list", cwd=tmp_path).stdout.splitlines()[1].endswith("revoked")
    assert _cli("keys", "revoke", "1", cwd=tmp_path).returncode == 1


def test_cli_reports_config_errors(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text('name = "x"\nmain = "worker.py"\n')
    result = _cli("d1", "migrations", "list", cwd=tmp_path)
    assert result.returncode == os.EX_CONFIG
    assert result.stderr == f"error: {tmp_path}/wrangler.toml: missing required key 'compatibility_date'\n"


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_dev_serves_and_stopping_it_stops_everything(tmp_path: Path, stop: signal.Signals) -> None:
    write_config(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py"), "--config", str(tmp_path / "wrangler.toml"),
         "--persist-to", str(tmp_path / "state"), "dev", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "dev server did not answer /healthz"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["ok"] is True
        started = _descendants(process.pid)
        assert started, "dev starts the S3 server and the app server as children"
        assert (tmp_path / "state" / "d1").is_dir() and (tmp_path / "state" / "r2").is_dir()
    finally:
        process.send_signal(stop)
        process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if _alive(pid)], "something dev started is still running"
    announced = [line for line in process.stdout.read().splitlines() if line.startswith("leadlight: ")]
    assert announced[0] == f"leadlight: leadlight-test in development, configured by {tmp_path / 'wrangler.toml'}"
    assert announced[1].startswith(f"leadlight: database DB: {tmp_path / 'state' / 'd1' / 'test.sqlite'} (schema ")
    assert announced[2:4] == ["leadlight: development site key: site_dev",
                              f"leadlight: bucket SESSIONS: sessions-{tmp_path.name.lower().replace('_', '-')[:40]} at "
                              f"{announced[3].split(' at ')[1]}"]
    assert announced[3].endswith(f"(local S3 server over {tmp_path / 'state' / 'r2'})")
    assert announced[-4:] == [f"leadlight: listening on http://127.0.0.1:{port} with 1 worker, reloading on code changes",
                              f"leadlight: demo: http://127.0.0.1:{port}/demo",
                              "leadlight: development API key: test-analytics-key",
                              "leadlight: stopped"]
