"""Serving the dashboard and reference pages: the files, their caching and their security headers."""
from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

from handlers.dashboard import CONTENT_SECURITY_POLICY

STATIC = Path(__file__).resolve().parents[2] / "static"


@pytest.mark.parametrize("path, file, media_type", [
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/docs", "docs.html", "text/html; charset=utf-8"),
    ("/app/app.js", "app/app.js", "text/javascript; charset=utf-8"),
    ("/app/charts.js", "app/charts.js", "text/javascript; charset=utf-8"),
    ("/app/app.css", "app/app.css", "text/css; charset=utf-8"),
    ("/app/favicon.svg", "app/favicon.svg", "image/svg+xml"),
])
async def test_pages_and_assets_are_served_with_a_strict_policy(client: httpx.AsyncClient, path: str, file: str,
                                                                media_type: str) -> None:
    response = await client.get(path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == (STATIC / file).read_bytes()
    assert response.headers["content-type"] == media_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


async def test_an_unchanged_file_is_a_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/app/app.js", headers={"Accept-Encoding": "identity"})
    again = await client.get("/app/app.js",
                             headers={"Accept-Encoding": "identity", "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


async def test_gzip_when_the_client_takes_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/leads.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"].endswith('-gz"')
    assert response.content == (STATIC / "app/leads.js").read_bytes()  # httpx decodes it
    raw = gzip.compress((STATIC / "app/leads.js").read_bytes(), compresslevel=9, mtime=0)
    assert int(response.headers["content-length"]) == len(raw)


@pytest.mark.parametrize("path", ["/app/missing.js", "/app/..%2Fserver.py", "/app/.hidden.js", "/app/t.py",
                                  "/app/%2e%2e%2fhandlers%2fdashboard.py"])
async def test_nothing_outside_the_assets_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


async def test_the_page_references_only_its_own_files(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    for reference in ("/app/app.css", "/app/app.js", "/app/favicon.svg"):
        assert f'"{reference}"' in page
        assert (await client.get(reference)).status_code == 200
    assert "http://" not in page and "https://" not in page and "<style" not in page
