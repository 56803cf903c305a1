"""The worker's routes: system routes, ingestion, then every API surface (one module per document).

`routes(config)` gathers them for the app; `serving(app)` runs what they need for the app's lifetime
(the MCP server); `warm()` readies what they would otherwise load on first use. Every
authenticated surface is a `handlers.surface.Surface`, listed in `SURFACES`.
"""
from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from functools import lru_cache

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from domain import enrich
from handlers import (call_analyses, campaign_analytics, dashboard, ingestion, lead_analytics, lead_detail, mcp,
                      openapi, system, tracking_analytics)
from handlers.surface import Dialect, Surface, surfaces_routes
from runtime import endpoint
from storage.config import Config

SURFACES: list[Surface] = [tracking_analytics.api, lead_detail.api, lead_analytics.api,
                           campaign_analytics.analytics_api, campaign_analytics.api, call_analyses.api]


def routes(config: Config) -> list[BaseRoute]:
    # Ingestion first: routes are tried in order, and /track is most of the traffic.
    found: list[BaseRoute] = [*ingestion.routes, Route("/healthz", endpoint(system.healthz), methods=["GET"])]
    if config.local:
        found.append(Route("/__scheduled", endpoint(system.test_scheduled), methods=["GET"]))
    # The dashboard and the reference read SURFACES as they stand when the app is built.
    found += dashboard.routes + openapi.routes(SURFACES)
    return found + mcp.routes + surfaces_routes(SURFACES)


@lru_cache(maxsize=4096)  # every request asks; most ask for the same few paths (/track above all)
def body_limit(path: str) -> tuple[int | None, Dialect | None]:
    """A request path's declared body limit (None: the app's) and the dialect of the surface it belongs to."""
    for surface in SURFACES:
        found = surface.body_limit(path)
        if found is not None:
            return found
    return None, None


def serving(app: Starlette) -> AbstractAsyncContextManager[None]:
    """What routes need running while the app serves: the MCP server's session manager."""
    return mcp.serving(app)


def warm() -> None:
    """Run before a process accepts requests."""
    enrich.warm()
