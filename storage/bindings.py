"""Bindings built from the configuration: the D1 databases and R2 buckets a Worker's `env` holds,
and the one way to open a database with its migrations applied."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from storage import migrations
from storage.config import Config, ConfigError, D1Binding, R2Binding
from storage.d1 import D1Database
from storage.r2 import R2Bucket
from storage.s3local import S3Endpoint

STATE_DIR = ".wrangler/state"


def database_file(config: Config, binding: D1Binding, state_dir: Path | None = None) -> Path:
    """A deployment's `database_path`; in development `<state>/d1/<database id>.sqlite`."""
    if not config.local and binding.database_path:
        return (config.root / binding.database_path).resolve()
    return (state_dir or config.root / STATE_DIR) / "d1" / f"{binding.database_id_for(config.local)}.sqlite"


def migrations_dir(config: Config, binding: D1Binding) -> Path:
    return config.root / binding.migrations_dir


def bucket(config: Config, binding: R2Binding, local_s3: S3Endpoint | None) -> R2Bucket:
    name = binding.bucket_for(config.local)
    if binding.s3_endpoint:
        try:
            key_id = config.secrets[binding.s3_access_key_id_secret]
            secret = config.secrets[binding.s3_secret_access_key_secret]
        except KeyError as missing:
            raise ConfigError(
                f"{config.path.name}: r2_buckets.{binding.binding}: secret {missing} is not set"
            ) from None
        return R2Bucket(name, endpoint_url=binding.s3_endpoint, access_key_id=key_id, secret_access_key=secret,
                        region=binding.s3_region, path_style=binding.s3_path_style)
    if local_s3 is None:
        raise ConfigError(
            f"{config.path.name}: r2_buckets.{binding.binding}: no s3_endpoint, and no local S3 server is running "
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
async def open_migrated(path: Path, directory: Path, table: str = "d1_migrations") -> AsyncIterator[D1Database]:
    """A database opened with every pending migration applied; closed on exit."""
    db = D1Database(path)
    await db.open()
    try:
        await migrations.apply(db, directory, table)
        yield db
    finally:
        await db.close()


def open_database(config: Config, binding: D1Binding, state_dir: Path | None = None
                  ) -> contextlib.AbstractAsyncContextManager[D1Database]:
    """`open_migrated` for a configured database."""
    return open_migrated(database_file(config, binding, state_dir), migrations_dir(config, binding),
                         binding.migrations_table)
