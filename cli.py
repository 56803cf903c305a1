"""The operator CLI, with wrangler's verbs where one exists: dev, serve, d1, keys, sites.

`leadlight` (installed by the package) and `python worker.py` are this same CLI.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from starlette.applications import Starlette

from storage import migrations
from storage.bindings import STATE_DIR, database_file, migrations_dir, open_database
from storage.config import Config, ConfigError, D1Binding, load_config
from storage.d1 import D1Database, D1Error
from storage.s3local import LocalS3Server, S3Endpoint

ROOT = Path(__file__).resolve().parent
_LOCAL_S3_VAR = "LEADLIGHT_LOCAL_S3"  # url|key|secret of the dev server's S3, handed to the app process


def app_from_environment() -> Starlette:
    """The uvicorn factory: the CLI hands its choices to each worker process through the environment."""
    config = load_config(
        os.environ.get("LEADLIGHT_CONFIG", ROOT / "wrangler.toml"),
        os.environ.get("WORKER_ENV") or None,
        local=os.environ.get("LEADLIGHT_LOCAL", "1") == "1",
    )
    local_s3 = None
    if os.environ.get(_LOCAL_S3_VAR):
        url, key, secret = os.environ[_LOCAL_S3_VAR].split("|")
        local_s3 = S3Endpoint(url, key, secret)
    state_dir = Path(os.environ["LEADLIGHT_STATE_DIR"]) if os.environ.get("LEADLIGHT_STATE_DIR") else None
    _configure_logging()
    from worker import create_app

    return create_app(config, local_s3=local_s3, state_dir=state_dir)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)


def _database(config: Config, name: str | None) -> D1Binding:
    for binding in config.d1_databases:
        if name in (None, binding.binding, binding.database_name):
            return binding
    known = ", ".join(b.database_name for b in config.d1_databases) or "none"
    raise ConfigError(f"{config.path.name}: d1_databases: no database named {name!r} (configured: {known})")


@contextlib.asynccontextmanager
async def _opened(config: Config, name: str | None, state_dir: Path | None) -> AsyncIterator[D1Database]:
    """A configured database, as it is: no migration applied (for the migrations commands)."""
    db = D1Database(database_file(config, _database(config, name), state_dir))
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def _migrations_command(config: Config, args: argparse.Namespace) -> int:
    binding = _database(config, args.database)
    directory = migrations_dir(config, binding)
    if args.action == "create":
        print(migrations.create(directory, args.message))
        return 0
    async with _opened(config, args.database, args.persist_to) as db:
        if args.action == "list":
            names = [p.name for p in await migrations.pending(db, directory, binding.migrations_table)]
            print("\n".join(names) if names else "No migrations to apply.")
        else:
            names = await migrations.apply(db, directory, binding.migrations_table)
            print("\n".join(f"applied {n}" for n in names) if names else "No migrations to apply.")
    return 0


async def _execute_command(config: Config, args: argparse.Namespace) -> int:
    sql = args.sql if args.sql is not None else Path(args.file).read_text()
    async with _opened(config, args.database, args.persist_to) as db:
        statements = migrations.statements(sql)
        results = await db.batch([db.prepare(s) for s in statements]) if statements else []
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, default=str))
    else:
        for result in results:
            for row in result.results:
                print(json.dumps(row, default=str))
            if not result.results:
                print(f"changes: {result.meta['changes']}")
    return 0


async def _keys_command(config: Config, args: argparse.Namespace) -> int:
    from domain import auth

    async with open_database(config, _database(config, None), args.persist_to) as db:
        if args.action == "create":
            key, key_id = await auth.create_key(db, args.workspace, args.name)
            print(f"Created key {key_id} for workspace {args.workspace}. It is shown only once:\n{key}")
        elif args.action == "list":
            for row in await auth.list_keys(db, args.workspace):
                state = "revoked" if row["revoked_at"] else "active"
                print(f"{row['id']}\t{row['workspace_id']}\t{row['prefix']}…\t{row['name']}\t{state}")
        elif not await auth.revoke_key(db, args.id):
            print(f"No active key with id {args.id}.", file=sys.stderr)
            return 1
        else:
            print(f"Revoked key {args.id}.")
    return 0


async def _sites_command(config: Config, args: argparse.Namespace) -> int:
    from domain import sites

    async with open_database(config, _database(config, None), args.persist_to) as db:
        if args.action == "create":
            site = await sites.create_site(db, args.workspace, args.origin, name=args.name)
            print(f"Created site for workspace {args.workspace}. Install the snippet with:\n"
                  f'<script src="https://YOUR-HOST/t.js" data-site="{site["site_key"]}" defer></script>')
        elif args.action == "list":
            for site in await sites.list_sites(db, args.workspace):
                print(json.dumps(site, default=str))
        else:
            settings = json.loads(args.settings) if args.settings else None
            site = await sites.update_site(db, args.site_key, origins=args.origin or None, settings=settings)
            print(json.dumps(site, default=str))
    return 0


def _dev(config: Config, args: argparse.Namespace, config_path: Path) -> int:
    import uvicorn

    state_dir = args.persist_to or config.root / STATE_DIR
    for binding in config.d1_databases:

        async def prepare(binding: D1Binding = binding) -> None:
            async with open_database(config, binding, state_dir) as db:
                await _prepare_dev_state(db)

        asyncio.run(prepare())
    buckets = [b.bucket_for(True) for b in config.r2_buckets if not b.s3_endpoint]
    server = LocalS3Server(state_dir / "r2", **_dev_credentials(state_dir))
    # uvicorn re-raises SIGTERM once it has stopped; exit through `finally` so the S3 server stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        s3 = server.start(buckets) if buckets else None
        os.environ.update({
            "LEADLIGHT_CONFIG": str(config_path), "WORKER_ENV": config.env_name or "", "LEADLIGHT_LOCAL": "1",
            "LEADLIGHT_STATE_DIR": str(state_dir),
        })
        if s3:
            os.environ[_LOCAL_S3_VAR] = f"{s3.url}|{s3.access_key_id}|{s3.secret_access_key}"
        host, port = args.ip or config.dev_ip, args.port or config.dev_port
        print(f"leadlight {config.name}: http://{host}:{port}  (S3 {s3.url if s3 else 'configured'})", flush=True)
        uvicorn.run("cli:app_from_environment", factory=True, host=host, port=port,
                    reload=not args.no_reload, reload_dirs=[str(ROOT)], log_level="warning", access_log=False)
    finally:
        server.stop()
    return 0


def _dev_credentials(state_dir: Path) -> dict[str, str]:
    """The local S3 server's credentials, made once and kept with the state, so presigned URLs
    made before a restart of `dev` still work after it."""
    import secrets

    path = state_dir / "r2-credentials.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"access_key_id": secrets.token_hex(10), "secret_access_key": secrets.token_hex(20)}))
        path.chmod(0o600)
    return json.loads(path.read_text())


async def _prepare_dev_state(db: D1Database) -> None:
    """Development starts with something to look at; other surfaces add their defaults here."""
    from domain.sites import ensure_dev_site

    await ensure_dev_site(db)


def _serve(config: Config, args: argparse.Namespace, config_path: Path) -> int:
    import uvicorn

    async def prepare() -> None:
        for binding in config.d1_databases:
            async with open_database(config, binding):
                pass

    asyncio.run(prepare())
    os.environ.update({"LEADLIGHT_CONFIG": str(config_path), "WORKER_ENV": config.env_name or "",
                       "LEADLIGHT_LOCAL": "0"})
    os.environ.pop(_LOCAL_S3_VAR, None)
    workers = args.workers or config.settings.workers or os.cpu_count() or 1
    uvicorn.run("cli:app_from_environment", factory=True, host=args.host or config.dev_ip,
                port=args.port or config.dev_port, workers=workers, log_level="warning", access_log=False,
                timeout_graceful_shutdown=30)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadlight", description="leadlight: run, migrate and administer the worker")
    parser.add_argument("--config", "-c", default=str(ROOT / "wrangler.toml"), help="path to wrangler.toml")
    parser.add_argument("--env", "-e", default=None, help="environment ([env.NAME]); defaults to $WORKER_ENV")
    parser.add_argument("--persist-to", type=Path, default=None, help="directory for local state (default .wrangler/state)")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="local development server with its own S3 server")
    dev.add_argument("--ip")
    dev.add_argument("--port", type=int)
    dev.add_argument("--no-reload", action="store_true", help="do not restart on code changes")

    serve = commands.add_parser("serve", help="production server: configured S3, several worker processes")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)

    d1 = commands.add_parser("d1", help="D1 database commands").add_subparsers(dest="d1_command", required=True)
    mig = d1.add_parser("migrations").add_subparsers(dest="action", required=True)
    create = mig.add_parser("create")
    create.add_argument("database", nargs="?")
    create.add_argument("message")
    for action in ("list", "apply"):
        mig.add_parser(action).add_argument("database", nargs="?")
    execute = d1.add_parser("execute")
    execute.add_argument("database", nargs="?")
    source = execute.add_mutually_exclusive_group(required=True)
    source.add_argument("--command", dest="sql")
    source.add_argument("--file")
    execute.add_argument("--json", action="store_true")

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    kc = keys.add_parser("create")
    kc.add_argument("--workspace", required=True)
    kc.add_argument("--name", default="")
    keys.add_parser("list").add_argument("--workspace")
    keys.add_parser("revoke").add_argument("id", type=int)

    sites = commands.add_parser("sites", help="tracked websites").add_subparsers(dest="action", required=True)
    sc = sites.add_parser("create")
    sc.add_argument("--workspace", required=True)
    sc.add_argument("--origin", action="append", required=True, help="allowed origin (repeatable)")
    sc.add_argument("--name", default="")
    sites.add_parser("list").add_argument("--workspace")
    su = sites.add_parser("update")
    su.add_argument("site_key")
    su.add_argument("--origin", action="append", help="replace the allowed origins (repeatable)")
    su.add_argument("--settings", help='JSON, e.g. \'{"duplicate_window_hours": 12, "respect_dnt": true}\'')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    local = args.command != "serve"
    try:
        config_path = Path(args.config).resolve()
        config = load_config(config_path, args.env, local=local)
        if args.command == "dev":
            return _dev(config, args, config_path)
        if args.command == "serve":
            _configure_logging()
            return _serve(config, args, config_path)
        if args.command == "d1" and args.d1_command == "migrations":
            return asyncio.run(_migrations_command(config, args))
        if args.command == "d1":
            return asyncio.run(_execute_command(config, args))
        if args.command == "keys":
            return asyncio.run(_keys_command(config, args))
        if args.command == "sites":
            return asyncio.run(_sites_command(config, args))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (D1Error, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
