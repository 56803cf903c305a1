"""Load `wrangler.toml` with Cloudflare's meaning into one immutable `Config`.

Keys marked OURS are not Cloudflare's: the `[leadlight]` table, the top-level `secrets`
list, `database_path` on a D1 binding and the `s3_*` keys on an R2 binding.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from croniter import croniter
from starlette.config import Config as _DotEnv


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class D1Binding:
    binding: str
    database_name: str
    database_id: str
    preview_database_id: str | None = None
    migrations_dir: str = "migrations"
    migrations_table: str = "d1_migrations"
    # OURS: the SQLite file in production, relative to the config's directory; local
    # development keeps it under .wrangler/state/ instead.
    database_path: str | None = None

    def database_id_for(self, local: bool) -> str:
        return self.preview_database_id if local and self.preview_database_id else self.database_id


@dataclass(frozen=True)
class R2Binding:
    binding: str
    bucket_name: str
    preview_bucket_name: str | None = None
    jurisdiction: str | None = None
    # OURS: how to reach the S3-compatible endpoint. No endpoint in local development,
    # where the dev server starts its own.
    s3_endpoint: str | None = None
    s3_region: str = "auto"
    s3_access_key_id_secret: str = "S3_ACCESS_KEY_ID"  # names of secrets, never the keys
    s3_secret_access_key_secret: str = "S3_SECRET_ACCESS_KEY"
    s3_path_style: bool = True

    def bucket_for(self, local: bool) -> str:
        return self.preview_bucket_name if local and self.preview_bucket_name else self.bucket_name


@dataclass(frozen=True)
class Settings:
    max_body_bytes: int = 1_048_576
    workers: int | None = None  # None: one per CPU
    # Behind Cloudflare or another proxy that sets CF-Connecting-IP / CF-IPCountry / X-Forwarded-For.
    trust_proxy: bool = False
    # Raw event rows of archived sessions are kept this many days (0: forever).
    raw_event_retention_days: int = 30
    # How the HTTP server treats each connection (server.py says what happens past each limit).
    max_header_bytes: int = 16_384  # request line and headers together
    max_headers: int = 100
    header_timeout_seconds: int = 10  # to receive a request's headers
    body_timeout_seconds: int = 30  # to receive its body, once the headers are in
    keep_alive_seconds: int = 5  # an idle connection between requests
    max_connections: int = 1000  # per process


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path
    env_name: str | None
    name: str
    main: str
    compatibility_date: str
    compatibility_flags: tuple[str, ...]
    local: bool
    vars: Mapping[str, Any]
    secrets: Mapping[str, str]
    d1_databases: tuple[D1Binding, ...]
    r2_buckets: tuple[R2Binding, ...]
    crons: tuple[str, ...]
    settings: Settings
    # wrangler defaults to "localhost"; we bind 127.0.0.1 so the address never depends on
    # how the host resolves "localhost" (it may be ::1 only).
    dev_ip: str = "127.0.0.1"
    dev_port: int = 8787

    def bindings_env(self) -> dict[str, Any]:
        return {**self.vars, **self.secrets}


_REQUIRED = object()
_NAME = re.compile(r"[A-Za-z0-9-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_KINDS = {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "a table"}
_SETTINGS: dict[str, tuple[type, int]] = {  # key: (type, minimum)
    "max_body_bytes": (int, 1), "workers": (int, 1), "trust_proxy": (bool, 0), "raw_event_retention_days": (int, 0),
    "max_header_bytes": (int, 1024), "max_headers": (int, 8), "header_timeout_seconds": (int, 1),
    "body_timeout_seconds": (int, 1), "keep_alive_seconds": (int, 1), "max_connections": (int, 1),
}
_B = TypeVar("_B", D1Binding, R2Binding)


@dataclass(frozen=True)
class _Table:
    file: str
    path: str  # dotted path of this table in the file; "" for the top level
    data: Mapping[str, Any]

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, problem: str, key: str | None = None) -> ConfigError:
        where = self.where(key) if key else self.path
        return ConfigError(f"{self.file}: {where}: {problem}" if where else f"{self.file}: {problem}")

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(f"missing required key {key!r}")
            return default
        value = self.data[key]
        # bool is an int in Python, never in TOML
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.error(f"expected {_KINDS[kind]}, got {type(value).__name__} {value!r}", key)
        return value

    def table(self, key: str) -> _Table:
        return _Table(self.file, self.where(key), self.get(key, dict, {}))

    def tables(self, key: str) -> list[_Table]:
        items = self.get(key, list, [])
        found = [_Table(self.file, f"{self.where(key)}[{i}]", item) for i, item in enumerate(items)]
        for table in found:
            if not isinstance(table.data, dict):
                raise table.error(f"expected a table, got {type(table.data).__name__}")
        return found

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list, [])
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"expected a string, got {type(item).__name__} {item!r}", f"{key}[{i}]")
        return tuple(items)


def load_config(path: str | Path = "wrangler.toml", env: str | None = None, *,
                local: bool = True, environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    file = str(path)
    path = Path(path).resolve()
    try:
        top = _Table(file, "", tomllib.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    env_name = env or environ.get("WORKER_ENV") or None
    scope = top
    if env_name is not None:
        envs = top.table("env")
        if env_name not in envs.data:
            known = ", ".join(sorted(envs.data)) or "none"
            raise envs.error(f"unknown environment {env_name!r} (known: {known})")
        scope = envs.table(env_name)

    # For the keys Cloudflare lets an environment inherit (name, main, compatibility date
    # and flags, triggers; routes and limits too, which we do not read) and our `secrets`.
    def inherited(key: str) -> _Table:
        return scope if key in scope.data else top

    name_from = inherited("name")
    name = name_from.get("name", str)
    if name_from is not scope:  # Cloudflare runs an environment as "<name>-<env>"
        name = f"{name}-{env_name}"
    if not _NAME.fullmatch(name):
        raise name_from.error(f"{name!r} must be letters, digits and dashes only", "name")
    date_from = inherited("compatibility_date")
    date = date_from.get("compatibility_date", str)
    if not _DATE.fullmatch(date) or not _is_date(date):
        raise date_from.error(f"{date!r} is not a YYYY-MM-DD date", "compatibility_date")
    triggers = inherited("triggers").table("triggers")
    crons = triggers.strings("crons")
    for i, cron in enumerate(crons):
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise triggers.error(f"{cron!r} is not a five-field cron expression", f"crons[{i}]")
    dev = top.table("dev")  # like wrangler, [dev] is read from the top level only
    port = dev.get("port", int, 8787)
    if not 0 < port < 65536:
        raise dev.error(f"{port} is not a TCP port", "port")

    vars_table = scope.table("vars")
    d1 = tuple(_binding(D1Binding, t) for t in scope.tables("d1_databases"))
    r2 = tuple(_binding(R2Binding, t) for t in scope.tables("r2_buckets"))
    _check_binding_names(vars_table, scope.tables("d1_databases"), scope.tables("r2_buckets"))
    if env_name is not None:
        _warn_not_inherited(top, scope, env_name)
    declared = inherited("secrets").strings("secrets")
    if local:
        secrets = _local_secrets(path.parent, env_name)
    else:
        # Only names the configuration declares, so an unrelated variable in the process
        # environment never reaches `env`.
        names = {*vars_table.data, *declared}
        names.update(n for b in r2 for n in (b.s3_access_key_id_secret, b.s3_secret_access_key_secret))
        secrets = {n: environ[n] for n in sorted(names) if n in environ}
    return Config(
        path=path, root=path.parent, env_name=env_name, name=name,
        main=inherited("main").get("main", str), compatibility_date=date,
        compatibility_flags=inherited("compatibility_flags").strings("compatibility_flags"),
        local=local, vars=MappingProxyType(dict(vars_table.data)),
        secrets=MappingProxyType(secrets), d1_databases=d1, r2_buckets=r2, crons=crons,
        settings=_settings([top.table("leadlight"), scope.table("leadlight")]),
        dev_ip=dev.get("ip", str, "127.0.0.1"), dev_port=port,
    )


def _binding(cls: type[_B], t: _Table) -> _B:
    for key in t.data:  # the s3_ prefix is ours, so a misspelt key there is an error
        if key.startswith("s3_") and key not in cls.__dataclass_fields__:
            raise t.error("unknown key", key)
    binding = cls(**{
        f.name: t.get(f.name, bool if isinstance(f.default, bool) else str,
                      _REQUIRED if f.default is MISSING else f.default)
        for f in fields(cls)
    })
    endpoint = getattr(binding, "s3_endpoint", None)
    if endpoint is not None and not _is_endpoint(endpoint):
        # Caught here, not as a ValueError from the S3 client in every worker process.
        raise t.error(f"{endpoint!r} is not an endpoint URL like https://<ACCOUNT_ID>.r2.cloudflarestorage.com",
                      "s3_endpoint")
    return binding


def _is_endpoint(url: str) -> bool:
    """The S3 client's own rule (botocore's), plus an http or https scheme."""
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    return url.split("://", 1)[0] in ("http", "https") and bool(
        is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url))


def _check_binding_names(vars_table: _Table, d1: list[_Table], r2: list[_Table]) -> None:
    seen: dict[str, str] = {}
    named = [(vars_table, key, key) for key in vars_table.data]
    named += [(t, "binding", t.data["binding"]) for t in d1 + r2]
    for table, key, name in named:
        if not name.isidentifier():
            raise table.error(f"{name!r} is not a valid identifier", key)
        if name in seen:
            raise table.error(f"{name!r} is already bound at {seen[name]}", key)
        seen[name] = table.where(key)


def _warn_not_inherited(top: _Table, scope: _Table, env_name: str) -> None:
    if "vars" in top.data and "vars" not in scope.data:
        warnings.warn(f'{top.file}: "vars" exists at the top level but not in "env.{env_name}"; '
                      f'vars are not inherited by environments', stacklevel=3)
    for key in ("d1_databases", "r2_buckets"):
        present = {t.data["binding"] for t in scope.tables(key)}
        for t in top.tables(key):
            if t.data.get("binding") not in present:
                warnings.warn(f'{top.file}: {key} binding {t.data.get("binding")!r} exists at the '
                              f'top level but not in "env.{env_name}"; bindings are not inherited '
                              f'by environments', stacklevel=3)


def _is_date(text: str) -> bool:
    try:
        return bool(dt.date.fromisoformat(text))
    except ValueError:
        return False


def read_env_file(path: str | Path) -> dict[str, str]:
    """A dotenv file of secrets (systemd's EnvironmentFile for a deployment), as a mapping."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: env file not found")
    try:
        return dict(_DotEnv(file, environ={}).file_values)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read env file: {exc}") from None


def _local_secrets(root: Path, env_name: str | None) -> dict[str, str]:
    # Files only, never the process environment, so a developer's shell cannot change
    # what the worker sees. `.env` counts only when there is no `.dev.vars`.
    candidates = [root / f".dev.vars.{env_name}"] if env_name else []
    for file in candidates + [root / ".dev.vars", root / ".env"]:
        if file.is_file():
            return dict(_DotEnv(file, environ={}).file_values)
    return {}


def _settings(tables: list[_Table]) -> Settings:
    values: dict[str, int | bool] = {}
    for table in tables:  # the environment's table, last, overrides key by key
        for key in table.data:
            if key not in _SETTINGS:
                raise table.error(f"unknown key (known: {', '.join(_SETTINGS)})", key)
            kind, minimum = _SETTINGS[key]
            values[key] = table.get(key, kind)
            if values[key] < minimum:
                raise table.error(f"{values[key]} must be at least {minimum}", key)
    return Settings(**values)
