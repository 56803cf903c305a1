"""What `serve` checks once, before any worker starts, so that a problem is one line and an exit
status instead of every worker failing the same way.

| check | a failure names | exit status |
| --- | --- | --- |
| each R2 binding has an endpoint and both credential secrets | the binding and the secret | 78 (EX_CONFIG) |
| each D1 binding has a `database_path` and an existing `migrations_dir` | the key | 78 |
| each database opens and its pending migrations are applied, under the migration lock; with `--no-migrate` none may be pending | the database and the migrations | 78 |
| each bucket answers a HEAD request with the credentials | the bucket, the endpoint and S3's answer | 78, or 75 (EX_TEMPFAIL) when the endpoint cannot be reached |
| there is a way in: `ANALYTICS_API_KEY` is set or the database holds an active key | how to create one | 78 |

The configuration itself (wrangler.toml, the environment, every key) is checked by `load_config`
before this runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from domain import auth
from storage.bindings import bucket, database_file, open_database, schema_state, where
from storage.config import Config, ConfigError, D1Binding
from storage.r2 import R2Error

AUTH_DATABASE = "DB"  # the binding API keys live in (domain/auth.py reads env.DB)


class StartupError(Exception):
    """A reason not to start, as one line, and the exit status that says what kind it is."""

    def __init__(self, message: str, status: int = os.EX_CONFIG) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DatabaseState:
    binding: str
    path: Path
    schema: str | None  # the last migration applied
    applied_now: tuple[str, ...]


@dataclass(frozen=True)
class BucketState:
    binding: str
    bucket: str
    endpoint: str


@dataclass(frozen=True)
class Report:
    databases: tuple[DatabaseState, ...]
    buckets: tuple[BucketState, ...]
    api_keys: str  # how requests will authenticate, for the start-up lines


async def check(config: Config, *, migrate: bool = True) -> Report:
    """Raise StartupError (or ConfigError) for the first problem; else what was found."""
    for binding in config.r2_buckets:
        bucket(config, binding, None)  # ConfigError for a missing endpoint or secret
    databases = tuple([await _database(config, binding, migrate) for binding in config.d1_databases])
    buckets = tuple([await _bucket(config, index) for index in range(len(config.r2_buckets))])
    return Report(databases, buckets, await _api_keys(config))


async def _database(config: Config, binding: D1Binding, migrate: bool) -> DatabaseState:
    path = database_file(config, binding)
    applied: list[str] = []
    async with open_database(config, binding, migrate_first=migrate, applied=applied) as db:
        state = await schema_state(config, binding, db)
    if state.problem:
        command = f"leadlight --config {config.path}{' --env ' + config.env_name if config.env_name else ''} " \
                  f"d1 migrations apply {binding.database_name}"
        raise StartupError(f"{where(config, binding)}: database {path}: {state.problem}, and --no-migrate was "
                           f"given; apply them with: {command}")
    return DatabaseState(binding.binding, path, state.version, tuple(applied))


async def _bucket(config: Config, index: int) -> BucketState:
    binding = config.r2_buckets[index]
    store = bucket(config, binding, None)
    name = binding.bucket_for(config.local)
    endpoint = binding.s3_endpoint or ""
    try:
        await store.open()
        await store.ping()
    except ValueError as error:  # the S3 client's own refusal of the endpoint
        raise StartupError(f"{where(config, binding, 's3_endpoint')}: {error}") from None
    except R2Error as error:
        if error.code == "NetworkError":
            raise StartupError(f"{where(config, binding)}: cannot reach {endpoint}: {error.message}",
                               os.EX_TEMPFAIL) from None
        problem = f"bucket {name!r} does not exist" if error.status == 404 else \
            f"the credentials were refused ({error})" if error.status == 403 else str(error)
        raise StartupError(f"{where(config, binding)}: {endpoint}: {problem}") from None
    finally:
        await store.close()
    return BucketState(binding.binding, name, endpoint)


async def _api_keys(config: Config) -> str:
    configured = bool(config.bindings_env().get("ANALYTICS_API_KEY"))
    binding = next((b for b in config.d1_databases if b.binding == AUTH_DATABASE), None)
    if binding is None:
        raise ConfigError(f"{config.path}: d1_databases: no binding named {AUTH_DATABASE!r} (API keys live there)")
    async with open_database(config, binding, migrate_first=False) as db:
        active = await auth.count_active_keys(db)
    keys = f"{active} active key{'s' if active != 1 else ''} in the database"
    if configured:
        return f"ANALYTICS_API_KEY (workspace {auth.DEFAULT_WORKSPACE}) and {keys}"
    if active:
        return f"{keys} (ANALYTICS_API_KEY is not set)"
    env = f" --env {config.env_name}" if config.env_name else ""
    raise StartupError(
        f"no API key: ANALYTICS_API_KEY is not set and the database has no active key, so no request could "
        f"authenticate; set the secret, or create a key with: leadlight --config {config.path}{env} "
        f"keys create --workspace {auth.DEFAULT_WORKSPACE}")
