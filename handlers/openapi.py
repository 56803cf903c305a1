"""The API reference: `GET /openapi.json`, an OpenAPI 3.1 document of every public endpoint.

| part of the document | where it comes from |
| --- | --- |
| each surface's paths, methods, summaries | `Surface.operations` of every surface in `handlers.SURFACES` |
| parameters with their limits | each declared parameter's `.openapi()` |
| request bodies, success responses | `Operation.body`, `.body_type`, `.example`, `.response`, `.status` |
| error bodies | what the surface's `Dialect` renders for 401, its invalid status, 404, 500 and any other |
| extensions (ours, not in the surface's document) | `Operation.extension`, shown as `x-extension: true` |
| one tag per dialect | the dialect's name; the description is the first paragraph of each surface module's docstring |
| ingestion, the snippet, health, this reference | `_public_paths()` below, written by hand |

Nothing here names a surface's route: a route added to a surface appears in the document as it is
declared. The document is built once per process, on first request.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain import ingest
from domain.auth import AuthFailure
from handlers.json_schema import Components, from_example
from handlers.params import ParamError, Problem
from handlers.surface import ApiError, Dialect, Operation, Surface
from runtime import Env, ExecutionContext, endpoint

OPENAPI_VERSION = "3.1.0"
_ROOT = Path(__file__).resolve().parent.parent
_CONVERTER = re.compile(r"{(\w+):\w+}")  # Starlette's {name:path} is OpenAPI's {name}
SECURITY = [{"bearerAuth": []}, {"apiKeyHeader": []}]
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def build(surfaces: Sequence[Surface]) -> dict[str, Any]:
    """The whole document for these surfaces plus the public routes."""
    components = Components()
    paths: dict[str, dict[str, Any]] = _public_paths()
    tags: list[dict[str, str]] = [{"name": "public", "description": "Routes without an API key: ingestion, the"
                                   " tracking snippet, health and this reference."}]
    operation_ids: set[str] = set()
    for surface in surfaces:
        tag = surface.dialect.name
        described = next((t for t in tags if t["name"] == tag), None)
        if described is None:
            tags.append({"name": tag, "description": _surface_description(surface)})
        elif _surface_description(surface) not in described["description"]:  # two surfaces, one dialect
            described["description"] = f"{described['description']} {_surface_description(surface)}".strip()
        for path, method, op in surface.operations:
            operation = _operation(surface.dialect, tag, path, method, op, components, operation_ids)
            paths.setdefault(_CONVERTER.sub(r"{\1}", path), {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "leadlight",
            "version": _version(),
            "description": "Self-hostable lead analytics. Each API surface speaks its own document's dialect:"
                           " its paths, parameters, casing and error bodies. Operations marked `x-extension`"
                           " are ours, beyond the surface's document, in the same dialect.",
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def routes(surfaces: Sequence[Surface]) -> list[BaseRoute]:
    @cache
    def rendered() -> tuple[bytes, str]:
        body = json.dumps(build(surfaces), separators=(",", ":")).encode()
        return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    async def openapi_json(request: Request, env: Env, ctx: ExecutionContext) -> Response:
        body, etag = rendered()
        headers = {"ETag": etag, "Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return [Route("/openapi.json", endpoint(openapi_json), methods=["GET"])]


# --- one operation of a surface ------------------------------------------------------------


def _operation(dialect: Dialect, tag: str, path: str, method: str, op: Operation, components: Components,
               taken: set[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {"tags": [tag], "summary": op.summary or f"{method} {path}",
                                 "operationId": _operation_id(tag, method, op, taken)}
    description = " ".join((op.handler.__doc__ or "").split())
    if op.extension:
        description = ("Extension: ours, not part of this surface's document; same dialect. " + description).strip()
        operation["x-extension"] = True
    if description:
        operation["description"] = description
    if op.params:
        operation["parameters"] = [param.openapi() for param in op.params]
    if op.body is not None:
        body: dict[str, Any] = {"schema": components.schema_of(op.body)}
        if op.example is not None:
            body["example"] = op.example
        operation["requestBody"] = {"required": True, "content": {op.body_type: body}}
    operation["responses"] = {str(op.status): _success(op, components), **_errors(dialect, op)}
    operation["security"] = SECURITY
    return operation


def _operation_id(tag: str, method: str, op: Operation, taken: set[str]) -> str:
    candidate = f"{tag}_{op.handler.__name__}"
    if candidate in taken:
        candidate = f"{candidate}_{method.lower()}"
    taken.add(candidate)
    return candidate


def _success(op: Operation, components: Components) -> dict[str, Any]:
    response: dict[str, Any] = {"description": op.summary or "Success"}
    if op.response is not None:
        schema = components.schema_of(op.response)
        response["content"] = {"application/json": {"schema": schema}}
    return response


def _errors(dialect: Dialect, op: Operation) -> dict[str, Any]:
    """The error answers an operation can give, each with the body its dialect really renders."""
    answers: dict[str, tuple[str, Response]] = {
        "401": ("Missing or invalid API key", dialect.unauthorized(AuthFailure.MISSING)),
    }
    parameter = next((p for p in op.params if p.location == "query"), None) or next(iter(op.params), None)
    if parameter is not None or op.body is not None:
        error = ParamError(parameter.location, parameter.name, Problem.NOT_INTEGER) if parameter is not None \
            else ParamError("body", "body", Problem.NOT_JSON_OBJECT)
        answers[str(dialect.invalid_status)] = ("An invalid parameter or request body, named in the message",
                                                dialect.invalid([error]))
    if any(p.location == "path" for p in op.params):
        answers.setdefault("404", ("Not found (or another workspace's)",
                                   dialect.error(ApiError(404, dialect.not_found, "NOT_FOUND"))))
    answers["500"] = ("An unexpected failure; details go to the log only", dialect.server_error())
    answers["default"] = ("Any other error, in this surface's error shape",
                          dialect.error(ApiError(400, "Bad request", "BAD_REQUEST")))
    rendered: dict[str, Any] = {}
    for status, (description, response) in answers.items():
        body = json.loads(bytes(response.body))
        rendered[status] = {"description": description,
                            "content": {"application/json": {"schema": from_example(body), "example": body}}}
    return rendered


def _surface_description(surface: Surface) -> str:
    handlers = [op.handler for _, _, op in surface.operations]
    module = sys.modules.get(handlers[0].__module__) if handlers else None
    doc = (module.__doc__ or "") if module else ""
    return " ".join(doc.strip().split("\n\n")[0].split())


@cache
def _version() -> str:
    with (_ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


# --- the routes without an API key ---------------------------------------------------------


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _public_paths() -> dict[str, dict[str, Any]]:
    text = {"type": "string"}
    event = {
        "type": "object",
        "required": ["id", "type", "ts"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$",
                   "description": "Made by the client; unique per workspace, so a retried batch counts once"},
            "type": {"type": "string", "enum": sorted(ingest.EVENT_TYPES)},
            "ts": {"type": "integer", "minimum": ingest.EARLIEST_TS,
                   "description": "Epoch milliseconds; at most a day ahead of the server's clock"},
            "url": {"type": "string", "maxLength": ingest.MAX_URL_CHARS},
            "props": {"type": "object", "description": "scroll: depth; engagement: active_ms; click: tag, text,"
                                                       " href; form_submit: form, fill_ms, fields, payload"},
        },
    }
    batch = {
        "type": "object",
        "required": ["site", "visitor_id", "session_id", "events"],
        "properties": {
            "site": {"type": "string", "maxLength": ingest.MAX_ID_CHARS, "description": "The site's public key"},
            "visitor_id": {"type": "string", "maxLength": ingest.MAX_ID_CHARS},
            "session_id": {"type": "string", "maxLength": ingest.MAX_ID_CHARS},
            "fingerprint": {"type": ["string", "null"], "maxLength": 128},
            "timezone": {"type": ["string", "null"], "maxLength": 64},
            "language": {"type": ["string", "null"], "maxLength": 35},
            "screen": {"type": ["string", "null"], "maxLength": 32},
            "referrer": {"type": ["string", "null"], "maxLength": ingest.MAX_URL_CHARS},
            "utm": {"type": "object", "additionalProperties": False,
                    "properties": {key: {"type": "string", "maxLength": 256} for key in ingest.UTM_KEYS}},
            "webdriver": {"type": "boolean"},
            "sent_at": {"type": ["integer", "null"]},
            "events": {"type": "array", "minItems": 1, "maxItems": ingest.MAX_EVENTS, "items": event},
        },
    }
    accepted = {"type": "object", "required": ["accepted", "duplicates"],
                "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}}
    migrations = {"type": "object", "required": ["version", "pending"],
                  "properties": {"version": {"type": ["string", "null"], "description": "The last migration applied"},
                                 "pending": {"type": "array", "items": {"type": "string"}}}}
    health = {"type": "object", "required": ["ok", "checks"],
              "properties": {"ok": {"type": "boolean"},
                             "checks": {"type": "object", "additionalProperties": {"type": "string"},
                                        "description": "Each binding by name: `ok` or `error: <problem>`"},
                             "schema": {"type": "object", "additionalProperties": migrations,
                                        "description": "Each database by binding name: its migrations"}}}
    public = {"tags": ["public"], "security": []}
    return {
        "/track": {
            "post": {**public, "operationId": "public_track", "summary": "Ingest a batch of snippet events",
                     "description": "Answered only after the events are committed. JSON, also sent as text/plain"
                                    " (sendBeacon). A partly invalid batch is rejected whole.",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": batch},
                                                                   "text/plain": {"schema": batch}}},
                     "responses": {
                         "202": _json(accepted, "Committed (bots and Do Not Track batches: nothing stored)"),
                         "400": _json(_ERROR, "An invalid batch; the message names the field"),
                         "403": _json(_ERROR, "The Origin is not allowed for this site"),
                         "404": _json(_ERROR, "Unknown site key"),
                         "413": _json(_ERROR, "Body over 64 KiB"),
                         "503": _json(_ERROR, "Could not commit; retry later"),
                     }},
            "options": {**public, "operationId": "public_track_preflight", "summary": "CORS preflight",
                        "parameters": [{"name": "site", "in": "query", "required": False, "schema": text}],
                        "responses": {"204": {"description": "The origin is allowed"},
                                      "403": _json(_ERROR, "The origin is not allowed")}},
        },
        "/t.js": {"get": {**public, "operationId": "public_snippet", "summary": "The tracking snippet",
                          "responses": {"200": {"description": "JavaScript (gzip when accepted), with an ETag",
                                                "content": {"application/javascript": {"schema": text}}},
                                        "304": {"description": "Not modified (If-None-Match)"}}}},
        "/healthz": {"get": {**public, "operationId": "public_healthz", "summary": "Health of every binding",
                             "responses": {"200": _json(health, "Every binding answered"),
                                           "503": _json(health, "A binding failed")}}},
        "/openapi.json": {"get": {**public, "operationId": "public_openapi", "summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {"schema": {
                                                            "type": "object"}}}},
                                                "304": {"description": "Not modified (If-None-Match)"}}}},
    }
