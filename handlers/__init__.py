"""One module per API surface; `routes(config)` gathers them for the app."""
from __future__ import annotations

from starlette.routing import BaseRoute

from handlers import track, tracking
from storage.config import Config


def routes(config: Config) -> list[BaseRoute]:
    return [*track.routes, *tracking.routes]
