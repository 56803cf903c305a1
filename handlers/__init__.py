"""The worker's routes: system routes, ingestion, then every API surface (one module per document).

`routes(config)` gathers them for the app; `warm()` readies what they would otherwise load on
first use. Every authenticated surface is a `handlers.surface.Surface`, listed in `SURFACES`.
"""
from __future__ import annotations

from starlette.routing import BaseRoute, Route

from domain import enrich
from handlers import ingestion, system, tracking_analytics
from handlers.surface import Surface, surfaces_routes
from runtime import endpoint
from storage.config import Config

SURFACES: list[Surface] = [tracking_analytics.api]


def routes(config: Config) -> list[BaseRoute]:
    found: list[BaseRoute] = [Route("/healthz", endpoint(system.healthz), methods=["GET"])]
    if config.local:
        found.append(Route("/__scheduled", endpoint(system.test_scheduled), methods=["GET"]))
    return found + ingestion.routes + surfaces_routes(SURFACES)


def warm() -> None:
    """Run before a process accepts requests."""
    enrich.warm()
