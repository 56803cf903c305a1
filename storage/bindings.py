"""Bindings built from the configuration: the D1 databases and R2 buckets a Worker's `env` holds,
and the one way to open a database with its migrations applied (under a lock, so processes
starting together apply each migration once)."""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import migrations
from storage.config import Config, ConfigError, D1Binding, R2Binding
from storage.d1 import D1Database
from storage.r2 import R2Bucket
from storage.s3local import S3Endpoint

STATE_DIR = ".wrangler/state"


def where(config: Config, binding: D1Binding | R2Binding, key: str = "") -> str:
    """The file and key of a binding, as configuration errors name them."""
    table, found = ("d1_databases", config.d1_databases) if isinstance(binding, D1Binding) \
        else ("r2_buckets", config.r2_buckets)
    scope = f"env.{config.env_name}." if config.env_name else ""
    return f"{config.path}: {scope}{table}[{found.index(binding)}]{'.' + key if key else ''}"


def database_file(config: Config, binding: D1Binding, state_dir: Path | None = None) -> Path:
    """A deployment's `database_path`; in development `<state>/d1/<database id>.sqlite`."""
    if not config.local:
        if not binding.database_path:
            raise ConfigError(f"{where(config, binding, 'database_path')}: required for a deployment (the SQLite "
                              "file it serves; only development keeps databases under .wrangler/state)")
        return (config.root / binding.database_path).resolve()
    return (state_dir or config.root / STATE_DIR) / "d1" / f"{binding.database_id_for(config.local)}.sqlite"


def migrations_dir(config: Config, binding: D1Binding, *, must_exist: bool = True) -> Path:
    """The binding's migrations folder, relative to the configuration's folder as wrangler reads it.

    A missing folder is an error rather than "no migrations": a copied wrangler.toml would
    otherwise serve a database without a schema.
    """
    directory = (config.root / binding.migrations_dir).resolve()
    if must_exist and not directory.is_dir():
        raise ConfigError(f"{where(config, binding, 'migrations_dir')}: folder {directory} does not exist "
                          f"(relative paths start at {config.root})")
    return directory


def bucket(config: Config, binding: R2Binding, local_s3: S3Endpoint | None) -> R2Bucket:
    name = binding.bucket_for(config.local)
    if binding.s3_endpoint:
        try:
            key_id = config.secrets[binding.s3_access_key_id_secret]
            secret = config.secrets[binding.s3_secret_access_key_secret]
        except KeyError as missing:
            origin = "in .dev.vars" if config.local else "in the process environment"
            raise ConfigError(f"{where(config, binding)}: secret {missing.args[0]} is not set ({origin})") from None
        return R2Bucket(name, endpoint_url=binding.s3_endpoint, access_key_id=key_id, secret_access_key=secret,
                        region=binding.s3_region, path_style=binding.s3_path_style)
    if local_s3 is None:
        raise ConfigError(
            f"{where(config, binding, 's3_endpoint')}: not set, and no local S3 server is running "
            "(set s3_endpoint for a deployment; `leadlight dev` starts a local one)"
        )
    return R2Bucket(name, endpoint_url=local_s3.url, access_key_id=local_s3.access_key_id,
                    secret_access_key=local_s3.secret_access_key, region=local_s3.region)


def bindings(config: Config, local_s3: S3Endpoint | None = None, state_dir: Path | None = None) -> dict[str, Any]:
    """Every binding by name, not yet opened."""
    found: dict[str, Any] = {}
    for d1 in config.d1_databases:
        found[d1.binding] = D1Database(database_file(config, d1, state_dir))
    for r2 in config.r2_buckets:
        found[r2.binding] = bucket(config, r2, local_s3)
    return found


@contextlib.asynccontextmanager
async def migration_lock(database: Path) -> AsyncIterator[None]:
    """An exclusive lock on `<database>.migrate.lock`, beside the database.

    Two processes starting together (two `serve`s, `serve` and the CLI) would both find a
    migration pending, and the second would fail re-applying it; under the lock the second
    finds nothing left to do.
    """
    path = database.with_suffix(".migrate.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class SchemaState:
    version: str | None  # the last migration applied; None when the database has no schema
    pending: list[str]

    @property
    def problem(self) -> str | None:
        if self.pending and self.version is None:
            return "no schema (no migration applied)"
        if self.pending:
            return f"{len(self.pending)} pending migration{'s' if len(self.pending) != 1 else ''}" \
                   f" ({', '.join(self.pending)})"
        return None


async def schema_state(config: Config, binding: D1Binding, db: D1Database) -> SchemaState:
    """The migrations applied to an open database against its binding's folder, read only."""
    done, pending = await migrations.status(db, migrations_dir(config, binding), binding.migrations_table)
    return SchemaState(done[-1] if done else None, pending)


async def migrate(db: D1Database, directory: Path, table: str = "d1_migrations") -> list[str]:
    """Apply the pending migrations under the database's migration lock; the names applied."""
    async with migration_lock(db.path):
        return await migrations.apply(db, directory, table)


@contextlib.asynccontextmanager
async def open_migrated(path: Path, directory: Path, table: str = "d1_migrations", *, migrate_first: bool = True,
                        applied: list[str] | None = None) -> AsyncIterator[D1Database]:
    """A database opened with every pending migration applied (their names added to `applied`);
    closed on exit. With `migrate_first=False` it is opened as it is."""
    db = D1Database(path)
    await db.open()
    try:
        if migrate_first:
            names = await migrate(db, directory, table)
            if applied is not None:
                applied.extend(names)
        yield db
    finally:
        await db.close()


def open_database(config: Config, binding: D1Binding, state_dir: Path | None = None, *, migrate_first: bool = True,
                  applied: list[str] | None = None) -> contextlib.AbstractAsyncContextManager[D1Database]:
    """`open_migrated` for a configured database."""
    return open_migrated(database_file(config, binding, state_dir), migrations_dir(config, binding),
                         binding.migrations_table, migrate_first=migrate_first, applied=applied)
