"""The operator CLI, with wrangler's verbs where one exists: dev, serve, d1, r2, workspaces, keys, sites.

`leadlight` (installed by the package) and `python worker.py` are this same CLI. As with
wrangler, `--env NAME` (or `WORKER_ENV`) acts on that environment's deployment: its
`database_path` and its S3 endpoint (wrangler's `--remote`); without an environment, or with
`--local`, commands act on the development state under `.wrangler/state`.
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
import warnings
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from domain.dates import sql_datetime
from server import uvicorn_options
from storage import migrations
from storage.bindings import STATE_DIR, database_file, migrate, migrations_dir, open_database, schema_state
from storage.config import Config, ConfigError, D1Binding, load_config, read_env_file
from storage.d1 import D1Database, D1Error
from storage.r2 import R2Error
from storage.s3local import LocalS3Server, S3Endpoint

ROOT = Path(__file__).resolve().parent
_LOCAL_S3_VAR = "LEADLIGHT_LOCAL_S3"  # url|key|secret of the dev server's S3, handed to the app process


def app_from_environment() -> Starlette:
    """The ASGI app factory each server process calls: the CLI hands its choices over through the
    environment. A configuration error is one line and EX_CONFIG, never a traceback per process."""
    try:
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
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(os.EX_CONFIG) from None


class _Lines(logging.StreamHandler):  # type: ignore[type-arg]
    """A record as its message alone, one line: what the format "%(message)s" writes, without a
    formatter's passes over the record (a fifth of a request's log line). A record with a
    traceback is formatted as usual. stderr is line-buffered, so each line is written at once."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.stack_info:
            return super().emit(record)
        try:
            self.stream.write(f"{record.getMessage()}\n")
        except RecursionError:
            raise
        except Exception:  # as StreamHandler.emit: a logging failure is reported, never raised
            self.handleError(record)


def _configure_logging() -> None:
    # Our JSON lines at INFO; libraries (the MCP SDK, botocore) only from WARNING up.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[_Lines(sys.stderr)], force=True)
    logging.getLogger("leadlight").setLevel(logging.INFO)
    # A line is its message alone, so a record need not find its caller, thread or process (the
    # logging HOWTO's "Optimization"): about 1 % of the instructions of a `POST /track`.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def _say(line: str) -> None:
    print(f"leadlight: {line}", flush=True)


def _database(config: Config, name: str | None) -> D1Binding:
    for binding in config.d1_databases:
        if name in (None, binding.binding, binding.database_name):
            return binding
    if not config.d1_databases:
        scope = f"env.{config.env_name}." if config.env_name else ""
        raise ConfigError(f"{config.path}: {scope}d1_databases: none configured")
    known = ", ".join(b.database_name for b in config.d1_databases)
    raise ConfigError(f"{config.path}: d1_databases: no database named {name!r} (configured: {known})")


def _opened_line(config: Config, binding: D1Binding, path: Path) -> str:
    """Which database a command acts on, so nobody administers the wrong one unawares."""
    where = "local" if config.local else f"environment {config.env_name}" if config.env_name else "deployment"
    return f"Using {where} database {binding.database_name} ({binding.binding}): {path}"


@contextlib.asynccontextmanager
async def _admin_database(config: Config, args: argparse.Namespace) -> AsyncIterator[D1Database]:
    """The configured database with its migrations applied, announced on stderr."""
    binding = _database(config, getattr(args, "database", None))
    applied: list[str] = []
    async with open_database(config, binding, args.persist_to, applied=applied) as db:
        print(_opened_line(config, binding, db.path), file=sys.stderr)
        for name in applied:
            print(f"Applied migration {name}", file=sys.stderr)
        yield db


def _print_rows(rows: Iterable[Mapping[str, Any]], columns: Mapping[str, str], as_json: bool) -> None:
    """A table with a header (`columns`: heading by key), or one JSON object per line."""
    rows = list(rows)
    if as_json:
        for row in rows:
            print(json.dumps(dict(row), default=str))
        return
    cells = [list(columns.values())] + [["" if row[key] is None else str(row[key]) for key in columns]
                                       for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


@contextlib.asynccontextmanager
async def _opened(config: Config, name: str | None, state_dir: Path | None) -> AsyncIterator[D1Database]:
    """A configured database, as it is: no migration applied (for the migrations commands)."""
    binding = _database(config, name)
    db = D1Database(database_file(config, binding, state_dir))
    await db.open()
    print(_opened_line(config, binding, db.path), file=sys.stderr)
    try:
        yield db
    finally:
        await db.close()


async def _migrations_command(config: Config, args: argparse.Namespace) -> int:
    binding = _database(config, args.database)
    if args.action == "create":
        print(migrations.create(migrations_dir(config, binding, must_exist=False), args.message))
        return 0
    directory = migrations_dir(config, binding)
    async with _opened(config, args.database, args.persist_to) as db:
        if args.action == "list":
            state = await schema_state(config, binding, db)
            print(f"Schema: {state.version or 'none'}", file=sys.stderr)
            print("\n".join(state.pending) if state.pending else "No migrations to apply.")
        else:
            names = await migrate(db, directory, binding.migrations_table)
            print("\n".join(f"applied {n}" for n in names) if names else "No migrations to apply.")
    return 0


async def _execute_command(config: Config, args: argparse.Namespace) -> int:
    """Every statement of --command or --file in one transaction, as wrangler runs them."""
    sql = args.sql if args.sql is not None else Path(args.file).read_text()
    statements = migrations.statements(sql)
    async with _opened(config, args.database, args.persist_to) as db:
        results = await db.batch([db.prepare(s) for s in statements]) if statements else []
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, default=str))
        return 0
    for number, result in enumerate(results):
        if number:
            print()
        if result.results:
            _print_rows(result.results, {column: column for column in result.results[0]}, as_json=False)
        else:
            print(f"changes: {result.meta['changes']}")
    return 0


async def _workspaces_command(config: Config, args: argparse.Namespace) -> int:
    from domain import workspaces

    async with _admin_database(config, args) as db:
        if args.action == "create":
            created = await workspaces.create_workspace(db, args.id, args.name)
            print(f"Created workspace {created['id']} ({created['name']}).")
        else:
            rows = await workspaces.list_workspaces(db)
            if not args.json:
                rows = [{**row, "created_at": sql_datetime(row["created_at"])} for row in rows]
            _print_rows(rows, {"id": "ID", "name": "NAME", "sites": "SITES", "keys": "KEYS",
                               "created_at": "CREATED"}, args.json)
    return 0


async def _keys_command(config: Config, args: argparse.Namespace) -> int:
    from domain import auth

    async with _admin_database(config, args) as db:
        if args.action == "create":
            key, key_id = await auth.create_key(db, args.workspace, args.name, livemode=not args.test)
            print(f"Created key {key_id} for workspace {args.workspace}. It is shown only once:\n{key}")
        elif args.action == "list":
            rows = [{**row, "state": "revoked" if row["revoked_at"] else "active"}
                    for row in await auth.list_keys(db, args.workspace)]
            if not args.json:
                rows = [{**row, "prefix": f"{row['prefix']}…", "created_at": sql_datetime(row["created_at"])}
                        for row in rows]
            _print_rows(rows, {"id": "ID", "workspace_id": "WORKSPACE", "name": "NAME", "prefix": "PREFIX",
                               "created_at": "CREATED", "state": "STATE"}, args.json)
        elif not await auth.revoke_key(db, args.id):
            print(f"No active key with id {args.id}.", file=sys.stderr)
            return 1
        else:
            print(f"Revoked key {args.id}.")
    return 0


async def _sites_command(config: Config, args: argparse.Namespace) -> int:
    from domain import sites

    async with _admin_database(config, args) as db:
        if args.action == "create":
            site = await sites.create_site(db, args.workspace, args.origin, name=args.name)
            print(f"Created site {site['site_key']} for workspace {args.workspace}. Install the snippet with:\n"
                  f'<script src="https://YOUR-HOST/t.js" data-site="{site["site_key"]}" defer></script>')
        elif args.action == "list":
            rows = await sites.list_sites(db, args.workspace)
            if not args.json:
                rows = [{**row, "origins": " ".join(row["origins"]), "created_at": sql_datetime(row["created_at"])}
                        for row in rows]
            _print_rows(rows, {"site_key": "SITE KEY", "workspace_id": "WORKSPACE", "name": "NAME",
                               "origins": "ORIGINS", "created_at": "CREATED"}, args.json)
        elif args.action == "delete":
            site = await sites.delete_site(db, args.site_key)
            print(f"Deleted site {site['site_key']} of workspace {site['workspace_id']}: its key is refused from "
                  "now on (within a minute on a running server); what it collected stays.")
        else:
            settings = json.loads(args.settings) if args.settings else None
            site = await sites.update_site(db, args.site_key, origins=args.origin or None, settings=settings,
                                           name=args.name)
            print(json.dumps(site, default=str))
    return 0


async def _r2_command(config: Config, args: argparse.Namespace) -> int:
    """`r2 bucket create NAME`: a configured bucket, on the environment's S3 endpoint."""
    from storage.bindings import bucket

    found = [b for b in config.r2_buckets if args.name in (b.binding, b.bucket_for(config.local))]
    if not found:
        known = ", ".join(b.bucket_for(config.local) for b in config.r2_buckets) or "none"
        raise ConfigError(f"{config.path}: r2_buckets: no bucket named {args.name!r} (configured: {known})")
    if config.local or not found[0].s3_endpoint:
        raise ConfigError(f"{config.path}: r2 bucket create acts on a deployment's s3_endpoint (--env NAME); "
                          "`leadlight dev` creates the local buckets itself")
    store = bucket(config, found[0], None)
    name, endpoint = found[0].bucket_for(config.local), found[0].s3_endpoint
    async with store:
        try:
            await store.ping()
            print(f"Bucket {name} already exists at {endpoint}.")
        except R2Error as error:
            if error.status != 404:
                raise
            await store.create_bucket()
            print(f"Created bucket {name} at {endpoint}.")
    return 0


def _dev(config: Config, args: argparse.Namespace, config_path: Path) -> int:
    import uvicorn

    state_dir = args.persist_to or config.root / STATE_DIR
    host, port = args.ip or config.dev_ip, args.port or config.dev_port
    lines = [f"{config.name} in development, configured by {config.path}"]
    for binding in config.d1_databases:

        async def prepare(binding: D1Binding = binding) -> None:
            applied: list[str] = []
            async with open_database(config, binding, state_dir, applied=applied) as db:
                site_key = await _prepare_dev_state(db, host, port)
                lines.append(_database_line(binding.binding, db.path, (await schema_state(config, binding, db)).version,
                                            applied))
            lines.append(f"development site key: {site_key}")

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
        for binding in config.r2_buckets:
            endpoint = binding.s3_endpoint or f"{s3.url if s3 else '?'} (local S3 server over {state_dir / 'r2'})"
            lines.append(f"bucket {binding.binding}: {binding.bucket_for(True)} at {endpoint}")
        lines.append(f"listening on http://{host}:{port} with 1 worker"
                     f"{', reloading on code changes' if not args.no_reload else ''}")
        lines.append(f"demo: http://{host}:{port}/demo")
        if config.bindings_env().get("ANALYTICS_API_KEY"):
            lines.append(f"development API key: {config.bindings_env()['ANALYTICS_API_KEY']}")
        for line in lines:
            _say(line)
        uvicorn.run("cli:app_from_environment", factory=True, host=host, port=port, reload=not args.no_reload,
                    reload_dirs=[str(ROOT)] if not args.no_reload else None, log_level="warning", access_log=False,
                    **uvicorn_options(config.settings))
    finally:
        server.stop()
        _say("stopped")
    return 0


def _database_line(binding: str, path: Path, schema: str | None, applied: Sequence[str]) -> str:
    now = f"; applied now: {', '.join(applied)}" if applied else ""
    return f"database {binding}: {path} (schema {schema or 'none'}{now})"


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


async def _prepare_dev_state(db: D1Database, ip: str, port: int) -> str:
    """Development starts with something to look at; other surfaces add their defaults here.
    Returns the development site's key."""
    from domain.sites import dev_origins, ensure_dev_site

    site = await ensure_dev_site(db, dev_origins(ip, port))  # the demo page only reads them
    return str(site["site_key"])


def _serve(config: Config, args: argparse.Namespace, config_path: Path) -> int:
    """Check everything once (`preflight.py`), then hand over to the process supervisor."""
    import preflight
    import supervisor

    try:
        report = asyncio.run(preflight.check(config, migrate=not args.no_migrate))
    except preflight.StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    os.environ.update({"LEADLIGHT_CONFIG": str(config_path), "WORKER_ENV": config.env_name or "",
                       "LEADLIGHT_LOCAL": "0"})
    os.environ.pop(_LOCAL_S3_VAR, None)
    workers = args.workers or config.settings.workers or os.cpu_count() or 1
    _say(f"{config.name}, environment {config.env_name or '(top level)'}, configured by {config.path}")
    for database in report.databases:
        _say(_database_line(database.binding, database.path, database.schema, database.applied_now))
    for found in report.buckets:
        _say(f"bucket {found.binding}: {found.bucket} at {found.endpoint}")
    _say(f"API keys: {report.api_keys}")
    _say(f"starting {workers} worker{'s' if workers != 1 else ''}")
    return supervisor.run("cli:app_from_environment", host=args.host or config.dev_ip,
                          port=config.dev_port if args.port is None else args.port, workers=workers,
                          log_level="warning", access_log=False, timeout_graceful_shutdown=30,
                          **uvicorn_options(config.settings))


def _global_options(top: bool) -> argparse.ArgumentParser:
    """The options wrangler takes before or after any command (`leadlight serve --env production`).

    After a command they are declared again with no default, so a value given before the
    command is not overwritten by one the command line does not hold.
    """
    options = argparse.ArgumentParser(add_help=False)

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    options.add_argument("--config", "-c", default=default(str(ROOT / "wrangler.toml")),
                         help="path to wrangler.toml (default: the checkout's)")
    options.add_argument("--env", "-e", default=default(None),
                         help="environment [env.NAME]: its deployment's database and buckets (default $WORKER_ENV)")
    options.add_argument("--env-file", default=default(None),
                         help="a deployment's secrets as KEY=value lines (systemd's EnvironmentFile); "
                              "a variable already set wins")
    options.add_argument("--persist-to", type=Path, default=default(None),
                         help="directory for local state (default .wrangler/state)")
    return options


def _target_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="the development state, even with --env")
    where.add_argument("--remote", action="store_true",
                       help="the deployment's database_path (the default with --env or $WORKER_ENV)")
    return options


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadlight", description="leadlight: run, migrate and administer the worker",
                                     parents=[_global_options(True)])
    common, data = _global_options(False), _target_options()
    commands = parser.add_subparsers(dest="command", required=True)

    def group(parent: Any, name: str, help: str, dest: str = "action") -> Any:
        return parent.add_parser(name, help=help, parents=[common]).add_subparsers(dest=dest, required=True)

    def command(parent: Any, name: str, help: str | None = None) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help, parents=[common, data])

    dev = commands.add_parser("dev", help="local development server with its own S3 server", parents=[common])
    dev.add_argument("--ip")
    dev.add_argument("--port", type=int)
    dev.add_argument("--no-reload", action="store_true", help="do not restart on code changes")

    serve = commands.add_parser("serve", help="a deployment: its database, its S3 endpoint, several worker processes",
                                parents=[common])
    serve.add_argument("--host", help="address to listen on (default [dev] ip, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default [dev] port, 8787; 0 picks a free one)")
    serve.add_argument("--workers", type=_positive,
                       help="worker processes (default [leadlight] workers, else one per core)")
    serve.add_argument("--no-migrate", action="store_true",
                       help="refuse to start while migrations are pending instead of applying them")

    d1 = group(commands, "d1", "D1 database commands", dest="d1_command")
    mig = group(d1, "migrations", "the database's migrations")
    create = mig.add_parser("create", help="a new numbered migration file", parents=[common])
    create.add_argument("database", nargs="?")
    create.add_argument("message")
    command(mig, "list", "pending migrations").add_argument("database", nargs="?")
    command(mig, "apply", "apply the pending migrations").add_argument("database", nargs="?")
    execute = command(d1, "execute", "run SQL statements, in one transaction")
    execute.add_argument("database", nargs="?")
    source = execute.add_mutually_exclusive_group(required=True)
    source.add_argument("--command", dest="sql", help="one or more statements separated by ';'")
    source.add_argument("--file")
    execute.add_argument("--json", action="store_true", help="one {results, success, meta} per statement")

    r2 = group(group(commands, "r2", "R2 bucket commands", dest="r2_command"), "bucket", "buckets")
    command(r2, "create", "create a configured bucket on the environment's S3 endpoint").add_argument("name")

    workspaces = group(commands, "workspaces", "workspaces: what keys and sites belong to")
    wc = command(workspaces, "create")
    wc.add_argument("id", help="letters, digits, '-' and '_'")
    wc.add_argument("--name", default="")
    command(workspaces, "list").add_argument("--json", action="store_true", help="JSON lines instead of a table")

    keys = group(commands, "keys", "API keys")
    kc = command(keys, "create", "a new key, printed once")
    kc.add_argument("--workspace", required=True)
    kc.add_argument("--name", default="")
    kc.add_argument("--test", action="store_true", help="a test key: what it creates is marked livemode false")
    kl = command(keys, "list")
    kl.add_argument("--workspace")
    kl.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    command(keys, "revoke").add_argument("id", type=int)

    sites = group(commands, "sites", "tracked websites")
    sc = command(sites, "create", "a new site and its public key")
    sc.add_argument("--workspace", required=True)
    sc.add_argument("--origin", action="append", required=True, help="allowed origin (repeatable)")
    sc.add_argument("--name", default="")
    sl = command(sites, "list")
    sl.add_argument("--workspace")
    sl.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    su = command(sites, "update", "rename, change origins or settings")
    su.add_argument("site_key")
    su.add_argument("--name", help="a new name")
    su.add_argument("--origin", action="append", help="replace the allowed origins (repeatable)")
    su.add_argument("--settings", help='JSON, e.g. \'{"duplicate_window_hours": 12, "respect_dnt": true}\'')
    command(sites, "delete", "refuse the site's key from now on; what it collected stays").add_argument("site_key")
    return parser


def _is_local(args: argparse.Namespace) -> bool:
    """wrangler's rule: `dev` is local and a deployment is remote; a command acts on the
    deployment when an environment is named, unless --local says otherwise."""
    if args.command in ("dev", "serve"):
        return args.command == "dev"
    if getattr(args, "local", False) or getattr(args, "remote", False):
        return bool(getattr(args, "local", False))
    return not (args.env or os.environ.get("WORKER_ENV"))


def main(argv: Sequence[str] | None = None) -> int:
    """Exit statuses: 0 done, 1 the command failed, 2 usage, 78 (EX_CONFIG) configuration;
    `serve` adds those of `preflight.py` and `supervisor.py`."""
    from domain.workspaces import WorkspaceError

    # A configuration warning (a binding an environment does not repeat) is one line, like an error.
    warnings.formatwarning = lambda message, *_, **__: f"warning: {message}\n"
    args = _parser().parse_args(argv)
    try:
        local = _is_local(args)
        if args.env_file:
            if local:
                raise ConfigError(f"{args.env_file}: --env-file holds a deployment's secrets (with --env or "
                                  "--remote); development reads .dev.vars")
            # Into this process's environment, so `serve`'s workers read the same secrets.
            for name, value in read_env_file(args.env_file).items():
                os.environ.setdefault(name, value)
        config_path = Path(args.config).resolve()
        config = load_config(config_path, args.env, local=local)
        if args.command == "dev":
            return _dev(config, args, config_path)
        if args.command == "serve":
            _configure_logging()
            return _serve(config, args, config_path)
        if args.command == "d1" and args.d1_command == "migrations":
            return asyncio.run(_migrations_command(config, args))
        commands = {"d1": _execute_command, "r2": _r2_command, "workspaces": _workspaces_command,
                    "keys": _keys_command, "sites": _sites_command}
        return asyncio.run(commands[args.command](config, args))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return os.EX_CONFIG
    except WorkspaceError as error:
        hint = f" (create it with: leadlight workspaces create {args.workspace})" \
            if getattr(args, "workspace", None) and "no workspace" in str(error) else ""
        print(f"error: {error}{hint}", file=sys.stderr)
        return 1
    except (D1Error, R2Error, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
