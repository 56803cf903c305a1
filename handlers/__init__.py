"""One module per API surface; `routes(config)` gathers them for the app, `warm()` readies them."""
from __future__ import annotations

from starlette.routing import BaseRoute

from domain import enrich
from handlers import track, tracking
from storage.config import Config


def routes(config: Config) -> list[BaseRoute]:
    return [*track.routes, *tracking.routes]


def warm() -> None:
    """Run before a process accepts requests: what the surfaces would otherwise load on first use."""
    enrich.warm()
