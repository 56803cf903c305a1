"""The operator CLI: wrangler's command shape, which database a command acts on, the admin verbs."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import cli
from domain.dates import sql_datetime

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"


def _config(root: Path, extra: str = "") -> Path:
    """A development database and a production one with its database_path, as a deployment has."""
    path = root / "wrangler.toml"
    path.write_text(
        'name = "leadlight"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n\n'
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "leadlight-local"\n'
        f'migrations_dir = "{MIGRATIONS}"\n\n'
        '[env.production]\n\n'
        '[[env.production.d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\n'
        'database_id = "leadlight-production"\ndatabase_path = "var/production.sqlite"\n'
        f'migrations_dir = "{MIGRATIONS}"\n' + extra
    )
    return path


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """`leadlight --config <tmp>/wrangler.toml --persist-to <tmp>/state ARGS`, in this process:
    (status, stdout, stderr)."""
    monkeypatch.delenv("WORKER_ENV", raising=False)
    config = _config(tmp_path)

    def leadlight(*args: str) -> tuple[int, str, str]:
        status = cli.main(["--config", str(config), "--persist-to", str(tmp_path / "state"), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return leadlight


def _rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def test_env_after_the_command_acts_on_the_deployment_database(run, tmp_path: Path) -> None:
    production, local = tmp_path / "var" / "production.sqlite", tmp_path / "state" / "d1" / "leadlight-local.sqlite"
    status, out, err = run("workspaces", "create", "acme", "--env", "production")
    assert (status, out) == (0, "Created workspace acme (acme).\n")
    assert err.splitlines()[0] == f"Using environment production database leadlight (DB): {production}"
    assert "Applied migration 0001_init.sql" in err.splitlines()  # a fresh database gets its schema first
    assert _rows(production, "SELECT id FROM workspaces ORDER BY id") == [("acme",), ("default",)]
    # The same command without an environment is the development state's.
    status, _, err = run("workspaces", "list")
    assert err.splitlines()[0] == f"Using local database leadlight (DB): {local}"
    assert _rows(local, "SELECT id FROM workspaces") == [("default",)]


def test_env_before_the_command_and_worker_env_mean_the_same(run, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    production = tmp_path / "var" / "production.sqlite"
    assert run("--env", "production", "workspaces", "create", "one")[0] == 0
    monkeypatch.setenv("WORKER_ENV", "production")
    assert run("workspaces", "create", "two")[0] == 0
    assert _rows(production, "SELECT id FROM workspaces ORDER BY id") == [("default",), ("one",), ("two",)]


def test_local_forces_the_development_state_of_an_environment(run, tmp_path: Path) -> None:
    status, _, err = run("workspaces", "create", "acme", "--env", "production", "--local")
    state = tmp_path / "state" / "d1" / "leadlight-production.sqlite"  # wrangler's local copy of that database
    assert status == 0 and err.splitlines()[0] == f"Using local database leadlight (DB): {state}"
    assert _rows(state, "SELECT id FROM workspaces ORDER BY id") == [("acme",), ("default",)]
    assert not (tmp_path / "var").exists()


def test_remote_without_a_database_path_names_the_key(run, tmp_path: Path) -> None:
    status, out, err = run("workspaces", "list", "--remote")
    assert (status, out) == (os.EX_CONFIG, "")
    assert err == (f"error: {tmp_path}/wrangler.toml: d1_databases[0].database_path: required for a deployment "
                   "(the SQLite file it serves; only development keeps databases under .wrangler/state)\n")


def test_workspaces_list_is_a_table_or_json_lines(run, tmp_path: Path) -> None:
    assert run("workspaces", "create", "acme", "--name", "Acme Inc")[0] == 0
    assert run("keys", "create", "--workspace", "acme")[0] == 0
    assert run("sites", "create", "--workspace", "acme", "--origin", "https://acme.example")[0] == 0
    created = _rows(tmp_path / "state" / "d1" / "leadlight-local.sqlite",
                    "SELECT created_at FROM workspaces WHERE id = 'acme'")[0][0]
    status, out, _ = run("workspaces", "list")
    assert status == 0 and out.splitlines() == [
        "ID       NAME               SITES  KEYS  CREATED",
        "default  Default workspace  0      0     1970-01-01 00:00:00",
        f"acme     Acme Inc           1      1     {sql_datetime(created)}",
    ]
    status, out, _ = run("workspaces", "list", "--json")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"id": "default", "name": "Default workspace", "created_at": 0, "sites": 0, "keys": 0},
        {"id": "acme", "name": "Acme Inc", "created_at": created, "sites": 1, "keys": 1},
    ]


@pytest.mark.parametrize(("args", "error"), [
    (("acme",), "workspace: 'acme' already exists"),
    (("a b",), "workspace: 'a b' must be 1 to 64 letters, digits, '-' or '_'"),
    (("x" * 65,), f"workspace: '{'x' * 65}' must be 1 to 64 letters, digits, '-' or '_'"),
])
def test_a_workspace_that_cannot_be_created_changes_nothing(run, tmp_path: Path, args: tuple, error: str) -> None:
    assert run("workspaces", "create", "acme")[0] == 0
    status, out, err = run("workspaces", "create", *args)
    assert (status, out, err.splitlines()[-1]) == (1, "", f"error: {error}")
    assert _rows(tmp_path / "state" / "d1" / "leadlight-local.sqlite",
                 "SELECT id FROM workspaces ORDER BY id") == [("acme",), ("default",)]


def test_a_key_for_an_unknown_workspace_is_an_error_that_says_so(run, tmp_path: Path) -> None:
    status, out, err = run("keys", "create", "--workspace", "acme")
    assert (status, out) == (1, "")
    assert err.splitlines()[-1] == "error: workspace: no workspace 'acme' (create it with: leadlight workspaces create acme)"
    assert _rows(tmp_path / "state" / "d1" / "leadlight-local.sqlite", "SELECT count(*) FROM api_keys") == [(0,)]


def test_sites_are_renamed_deleted_and_listed(run, tmp_path: Path) -> None:
    status, out, _ = run("sites", "create", "--workspace", "default", "--origin", "https://a.example", "--name", "A")
    key = out.split('data-site="')[1].split('"')[0]
    status, out, _ = run("sites", "update", key, "--name", "Shop")
    assert status == 0 and json.loads(out)["name"] == "Shop"
    status, out, _ = run("sites", "list")
    assert out.splitlines()[0].split() == ["SITE", "KEY", "WORKSPACE", "NAME", "ORIGINS", "CREATED"]
    assert out.splitlines()[1].split()[:4] == [key, "default", "Shop", "https://a.example"]
    status, out, _ = run("sites", "delete", key)
    assert (status, out) == (0, f"Deleted site {key} of workspace default: its key is refused from now on "
                                "(within a minute on a running server); what it collected stays.\n")
    assert run("sites", "list", "--json")[1] == ""
    assert _rows(tmp_path / "state" / "d1" / "leadlight-local.sqlite",
                 "SELECT name, deleted_at IS NOT NULL FROM sites") == [("Shop", 1)]  # the row stays
    status, _, err = run("sites", "delete", key)
    assert (status, err.splitlines()[-1]) == (1, f"error: site_key: no site {key!r}")
    status, _, err = run("sites", "update", key, "--name", "Back")
    assert (status, err.splitlines()[-1]) == (1, f"error: site_key: no site {key!r}")


def test_execute_runs_several_statements_in_one_transaction(run, tmp_path: Path) -> None:
    assert run("d1", "migrations", "apply")[0] == 0  # execute, like wrangler's, runs on the database as it is
    status, out, _ = run("d1", "execute", "--json", "--command",
                         "INSERT INTO workspaces (id, name, created_at) VALUES ('w1', 'One', 5); "
                         "SELECT id, name FROM workspaces WHERE id = 'w1'")
    first, second = json.loads(out)
    assert status == 0 and first["meta"]["changes"] == 1 and first["results"] == []
    assert second["results"] == [{"id": "w1", "name": "One"}]
    status, out, _ = run("d1", "execute", "--command", "SELECT id, name FROM workspaces ORDER BY id; SELECT 1 AS one")
    assert out == "id       name\ndefault  Default workspace\nw1       One\n\none\n1\n"
    # The second statement fails, so the first is not applied either.
    status, _, err = run("d1", "execute", "--command",
                         "INSERT INTO workspaces (id, name, created_at) VALUES ('w2', 'Two', 5); SELECT * FROM nowhere")
    assert status == 1 and "no such table: nowhere" in err
    assert _rows(tmp_path / "state" / "d1" / "leadlight-local.sqlite",
                 "SELECT count(*) FROM workspaces WHERE id = 'w2'") == [(0,)]


def test_a_missing_migrations_folder_is_an_error_not_an_empty_schema(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "wrangler.toml"
    config.write_text(_config(tmp_path).read_text().replace(f'migrations_dir = "{MIGRATIONS}"\n', "", 1))
    for command in (["d1", "migrations", "list"], ["d1", "migrations", "apply"], ["sites", "list"]):
        assert cli.main(["--config", str(config), *command]) == os.EX_CONFIG
        assert capsys.readouterr().err == (f"error: {config}: d1_databases[0].migrations_dir: folder "
                                           f"{tmp_path / 'migrations'} does not exist (relative paths start at "
                                           f"{tmp_path})\n")
    assert cli.main(["--config", str(config), "d1", "migrations", "create", "first table"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'migrations' / '0001_first_table.sql'}\n"


def test_the_shipped_placeholder_endpoint_stops_every_production_command(capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKER_ENV", raising=False)
    for command in (["keys", "list"], ["serve"]):
        assert cli.main(["--env", "production", *command]) == os.EX_CONFIG
        assert capsys.readouterr().err == (
            f"error: {ROOT}/wrangler.toml: env.production.r2_buckets[0].s3_endpoint: "
            "'https://ACCOUNT_ID.r2.cloudflarestorage.com' is not an endpoint URL like "
            "https://<ACCOUNT_ID>.r2.cloudflarestorage.com\n")


def test_env_file_is_for_a_deployment(run, tmp_path: Path) -> None:
    (tmp_path / "secrets.env").write_text("S3_ACCESS_KEY_ID=x\n")
    status, _, err = run("workspaces", "list", "--env-file", str(tmp_path / "secrets.env"))
    assert (status, err) == (os.EX_CONFIG, f"error: {tmp_path / 'secrets.env'}: --env-file holds a deployment's "
                                           "secrets (with --env or --remote); development reads .dev.vars\n")
    status, _, err = run("workspaces", "list", "--env", "production", "--env-file", str(tmp_path / "nope.env"))
    assert (status, err) == (os.EX_CONFIG, f"error: {tmp_path / 'nope.env'}: env file not found\n")


def test_pyproject_installs_every_module_of_the_checkout() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    modules = sorted(p.stem for p in ROOT.glob("*.py"))
    packages = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests", "bench"))
    assert sorted(setuptools["py-modules"]) == modules
    assert sorted(setuptools["packages"]) == packages


def test_the_installed_command_runs_from_anywhere_without_activation(tmp_path: Path) -> None:
    leadlight = Path(sys.executable).parent / "leadlight"
    config = _config(tmp_path)
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no virtual environment, no PYTHONPATH
    result = subprocess.run([str(leadlight), "workspaces", "list", "--config", str(config), "--json"],
                            cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == "default"
