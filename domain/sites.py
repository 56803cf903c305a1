"""Tracked websites: a public site key, the origins allowed to send, per-site settings.

Ingestion looks sites up through a small in-process cache (`SITE_CACHE_SECONDS`), so a
change made by another process (the CLI) takes effect within that time.

A deleted site keeps its row (`deleted_at` set), so the sessions and leads it collected keep
their history; every lookup here skips it, so its key is refused like an unknown one.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import urlsplit

from runtime import now_ms
from storage.d1 import D1Database

SITE_CACHE_SECONDS = 10.0
CANONICAL_FIELDS = ("name", "email", "phone", "project", "message")
DEFAULT_SETTINGS: Mapping[str, Any] = {
    "capture": list(CANONICAL_FIELDS),
    "respect_dnt": False,
    "duplicate_window_hours": 24,
    "session_timeout_minutes": 30,
}
DEV_SITE_KEY = "site_dev"
DEV_WORKSPACE = "default"
DEV_ORIGINS = ("http://127.0.0.1:8787", "http://localhost:8787")
ANY_ORIGIN = "*"


def dev_origins(ip: str, port: int) -> list[str]:
    """The development site's origins, from the configured `[dev]` address: that address and the
    loopback names a browser may use for it. Never from a request."""
    hosts = dict.fromkeys([f"[{ip}]" if ":" in ip else ip, "127.0.0.1", "localhost"])
    return [f"http://{host}:{port}" for host in hosts]
MAX_NAME_LENGTH = 200

_COLUMNS = "id, workspace_id, site_key, name, origins, settings, created_at"
_BY_KEY = f"SELECT {_COLUMNS} FROM sites WHERE site_key = ? AND deleted_at IS NULL"
_UPDATE = "UPDATE sites SET name = ?, origins = ?, settings = ? WHERE site_key = ? AND deleted_at IS NULL"
_DELETE = "UPDATE sites SET deleted_at = ? WHERE site_key = ? AND deleted_at IS NULL"
_RESTORE = "UPDATE sites SET deleted_at = NULL WHERE site_key = ? AND deleted_at IS NOT NULL"
_INSERT = (
    "INSERT OR IGNORE INTO sites (workspace_id, site_key, name, origins, settings, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class SiteError(ValueError):
    """A site request that cannot be carried out; the message names the key and the problem."""


@dataclass(frozen=True)
class SiteSettings:
    capture: frozenset[str]
    respect_dnt: bool
    duplicate_window_hours: int
    session_timeout_minutes: int


@dataclass(frozen=True)
class Site:
    id: int
    site_key: str
    workspace_id: str
    origins: frozenset[str]
    settings: SiteSettings

    def allows(self, origin: str) -> bool:
        return ANY_ORIGIN in self.origins or normalise_origin(origin) in self.origins


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def validate_origins(origins: Iterable[str]) -> list[str]:
    checked: list[str] = []
    for index, raw in enumerate(origins):
        origin = normalise_origin(raw) if isinstance(raw, str) else ""
        if origin != ANY_ORIGIN:
            try:
                parts = urlsplit(origin)
                valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0 \
                    and not parts.path and not parts.query and not parts.fragment
            except ValueError:
                valid = False
            if not valid:
                raise SiteError(f"origins[{index}]: {raw!r} is not an origin like https://example.com")
        if origin not in checked:
            checked.append(origin)
    if not checked:
        raise SiteError("origins: at least one origin is required")
    return checked


def validate_settings(changes: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge `changes` into `current` (defaults when None) and check every key."""
    if not isinstance(changes, Mapping):
        raise SiteError("settings: expected a JSON object")
    merged = {**DEFAULT_SETTINGS, **(current or {})}
    for key, value in changes.items():
        if key not in DEFAULT_SETTINGS:
            raise SiteError(f"settings.{key}: unknown setting (known: {', '.join(DEFAULT_SETTINGS)})")
        merged[key] = value
    capture = merged["capture"]
    if not isinstance(capture, list) or any(field not in CANONICAL_FIELDS for field in capture):
        raise SiteError(f"settings.capture: expected a list of {', '.join(CANONICAL_FIELDS)}")
    merged["capture"] = [field for field in CANONICAL_FIELDS if field in capture]
    if not isinstance(merged["respect_dnt"], bool):
        raise SiteError("settings.respect_dnt: expected true or false")
    for key, low, high in (("duplicate_window_hours", 0, 8760), ("session_timeout_minutes", 1, 1440)):
        value = merged[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise SiteError(f"settings.{key}: expected an integer from {low} to {high}")
    return merged


async def create_site(db: D1Database, workspace_id: str, origins: Iterable[str], name: str = "") -> dict[str, Any]:
    checked = validate_origins(origins)
    name = validate_name(name)
    if await db.prepare("SELECT 1 AS found FROM workspaces WHERE id = ?").bind(workspace_id).first() is None:
        raise SiteError(f"workspace: no workspace {workspace_id!r}")
    key = "site_" + secrets.token_urlsafe(16)
    settings = json.dumps(dict(DEFAULT_SETTINGS))
    await db.prepare(_INSERT).bind(workspace_id, key, name, json.dumps(checked), settings, now_ms()).run()
    return await _get(db, key)


async def list_sites(db: D1Database, workspace_id: str | None = None) -> list[dict[str, Any]]:
    if workspace_id is None:
        result = await db.prepare(f"SELECT {_COLUMNS} FROM sites WHERE deleted_at IS NULL ORDER BY id").all()
    else:
        result = await db.prepare(f"SELECT {_COLUMNS} FROM sites WHERE workspace_id = ? AND deleted_at IS NULL"
                                  " ORDER BY id").bind(workspace_id).all()
    return [_as_dict(row) for row in result.results]


class SiteSnippet(TypedDict):
    """What installing the snippet on a site needs; nothing about its settings."""

    site_key: str
    name: str
    origins: list[str]


async def snippet_sites(db: D1Database, workspace_id: str) -> list[SiteSnippet]:
    return [{"site_key": site["site_key"], "name": site["name"], "origins": site["origins"]}
            for site in await list_sites(db, workspace_id)]


async def update_site(db: D1Database, site_key: str, origins: Iterable[str] | None = None,
                      settings: Mapping[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    """Rename, replace the origins and/or merge settings; what is not named keeps its value."""
    current = await _get(db, site_key)
    new_origins = validate_origins(origins) if origins is not None else current["origins"]
    new_settings = validate_settings(settings or {}, current["settings"])
    new_name = validate_name(name) if name is not None else current["name"]
    await db.prepare(_UPDATE).bind(new_name, json.dumps(new_origins), json.dumps(new_settings), site_key).run()
    _forget(db, site_key)
    return await _get(db, site_key)


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise SiteError(f"name: at most {MAX_NAME_LENGTH} characters")
    return name.strip()


async def delete_site(db: D1Database, site_key: str) -> dict[str, Any]:
    """Stop accepting the site's key; what it collected stays. Returns the site as it was."""
    site = await _get(db, site_key)
    if (await db.prepare(_DELETE).bind(now_ms(), site_key).run()).meta["changes"] != 1:
        raise SiteError(f"site_key: no site {site_key!r}")  # deleted by someone else meanwhile
    _forget(db, site_key)
    return site


async def ensure_dev_site(db: D1Database, origins: Iterable[str] = DEV_ORIGINS) -> dict[str, Any]:
    """The development site (key `site_dev`, workspace "default"), allowing at least `origins`;
    brought back if it was deleted."""
    wanted = validate_origins(origins)
    row = await db.prepare(_BY_KEY).bind(DEV_SITE_KEY).first()
    if row is None and (await db.prepare(_RESTORE).bind(DEV_SITE_KEY).run()).meta["changes"]:
        row = await db.prepare(_BY_KEY).bind(DEV_SITE_KEY).first()
    if row is None:
        settings = json.dumps(dict(DEFAULT_SETTINGS))
        await db.prepare(_INSERT).bind(DEV_WORKSPACE, DEV_SITE_KEY, "Development", json.dumps(wanted),
                                       settings, now_ms()).run()
        return await _get(db, DEV_SITE_KEY)
    site = _as_dict(row)
    missing = [origin for origin in wanted if origin not in site["origins"]]
    if missing:
        return await update_site(db, DEV_SITE_KEY, origins=site["origins"] + missing)
    return site


async def site_by_key(db: D1Database, site_key: str) -> Site | None:
    """The site for a key, from the cache when it was read in the last SITE_CACHE_SECONDS."""
    cache_key = (str(db.path), site_key)
    cached = _cache.get(cache_key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    row = await db.prepare(_BY_KEY).bind(site_key).first()
    site = _as_site(row) if row is not None else None
    if len(_cache) > 10_000:  # unknown keys are cached too; never let them grow without bound
        _cache.clear()
    _cache[cache_key] = (now + SITE_CACHE_SECONDS, site)
    return site


async def any_site_allows(db: D1Database, origin: str) -> bool:
    """For a CORS preflight, which names no site: does any site allow this origin?"""
    cache_key = str(db.path)
    cached = _origins_cache.get(cache_key)
    now = time.monotonic()
    if cached is None or cached[0] <= now:
        rows = await db.prepare("SELECT origins FROM sites WHERE deleted_at IS NULL").raw()
        allowed = frozenset(origin for (text,) in rows for origin in json.loads(text))
        cached = _origins_cache[cache_key] = (now + SITE_CACHE_SECONDS, allowed)
    return ANY_ORIGIN in cached[1] or normalise_origin(origin) in cached[1]


_cache: dict[tuple[str, str], tuple[float, Site | None]] = {}
_origins_cache: dict[str, tuple[float, frozenset[str]]] = {}


def _forget(db: D1Database, site_key: str) -> None:
    _cache.pop((str(db.path), site_key), None)
    _origins_cache.pop(str(db.path), None)


async def _get(db: D1Database, site_key: str) -> dict[str, Any]:
    row = await db.prepare(_BY_KEY).bind(site_key).first()
    if row is None:
        raise SiteError(f"site_key: no site {site_key!r}")
    _forget(db, site_key)
    return _as_dict(row)


def _as_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    settings = {**DEFAULT_SETTINGS, **json.loads(row["settings"])}
    return {
        "id": row["id"], "site_key": row["site_key"], "workspace_id": row["workspace_id"], "name": row["name"],
        "origins": json.loads(row["origins"]), "settings": settings, "created_at": row["created_at"],
    }


def _as_site(row: Mapping[str, Any]) -> Site:
    values = _as_dict(row)
    settings = values["settings"]
    return Site(
        id=values["id"], site_key=values["site_key"], workspace_id=values["workspace_id"],
        origins=frozenset(values["origins"]),
        settings=SiteSettings(
            capture=frozenset(settings["capture"]), respect_dnt=bool(settings["respect_dnt"]),
            duplicate_window_hours=int(settings["duplicate_window_hours"]),
            session_timeout_minutes=int(settings["session_timeout_minutes"]),
        ),
    )
