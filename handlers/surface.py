"""The shared surface layer: what every authenticated API surface does the same way.

A surface is its routes, its parameters and its domain calls; this module does the rest, in
this order, for every request:

1. authenticate the API key to a `Principal` (an unauthenticated caller learns nothing, not
   even which paths exist) and put its workspace on the request for the log line;
2. dispatch by method: a path of the surface with another method is 405 with `Allow`, a path
   the surface does not have is 404 (the surface's catch-all routes);
3. parse every declared parameter (`handlers.params`) into keyword arguments;
4. call the handler with a `Call` (request, env, ctx, principal) and those arguments;
5. render the result, or any error, through the surface's `Dialect`: `ApiError` and
   `ParamError` become the document's error bodies; anything unexpected is logged with the
   route and workspace and answered with the dialect's fixed 500 body, never details.

A client that goes away mid-request is not an error of ours: `ClientDisconnect` passes
through to the request log, which records it as 499.

Routes declare only the methods they serve (`Surface.get`, `.post`, ...), with their
parameters, request body and response types, so `Surface.operations` is enough to write an
OpenAPI document.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route, compile_path

from domain import auth
from domain.auth import AuthFailure, Principal
from handlers.params import Param, ParamError, ParamErrors, Problem, parse_all
from runtime import Env, ExecutionContext, endpoint, log_event

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ApiError(Exception):
    """A non-success answer a handler chooses: a status, a message, and a code for dialects that show one."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


@dataclass(frozen=True)
class Call:
    """What a surface handler sees: the Worker's (request, env, ctx) and who is calling."""

    request: Request
    env: Env
    ctx: ExecutionContext
    principal: Principal

    @property
    def workspace_id(self) -> str:
        return self.principal.workspace_id


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One method of one path: the handler and what it declares about itself."""

    handler: Handler
    params: tuple[Param, ...] = ()
    response: Any = None  # a type (TypedDict, list[...]) or a JSON schema dict, for OpenAPI
    body: Any = None  # the request body's type or schema, for OpenAPI
    example: Any = None  # a valid request body, for the reference and the workspace-scoping test
    status: int = 200
    summary: str = ""
    body_type: str = "application/json"  # the request body's media type
    extension: bool = False  # ours, not in the surface's document: OpenAPI marks it `x-extension`
    max_body: int | None = None  # a body limit above the app's `max_body_bytes`, for routes that take files


class Dialect:
    """How one document speaks: its error bodies, its statuses, its parameter rules.

    Subclasses override `body` (the shape of an error) and, where the document words things
    its own way, `describe` (a parameter problem as a message) or whole responses.
    """

    name = "api"
    error_event = "api.error"  # the log line for an unexpected failure
    invalid_status = 400
    empty_is_missing = True  # `?days=` is the same as leaving days out
    reject_unknown_query = False
    stop_at_first = True  # report only the first bad parameter
    missing_key = "API key required"
    invalid_key = "Invalid API key"
    not_found = "Not found"
    method_not_allowed_message = "Method not allowed"
    server_error_message = "Internal server error"

    def body(self, status: int, message: str, code: str | None) -> Any:
        return {"error": message}

    def respond(self, status: int, message: str, code: str | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        return JSONResponse(self.body(status, message, code), status_code=status, headers=headers)

    def unauthorized(self, failure: AuthFailure) -> Response:
        message = self.missing_key if failure is AuthFailure.MISSING else self.invalid_key
        return self.respond(401, message, "UNAUTHORIZED")

    def invalid(self, errors: Sequence[ParamError]) -> Response:
        first = errors[0]
        return self.respond(self.invalid_status, self.describe(first), self.code_of(first))

    def code_of(self, error: ParamError) -> str:
        return "INVALID_PARAMETER" if error.location != "body" else "INVALID_BODY"

    def describe(self, error: ParamError) -> str:
        name, context = error.name, error.context
        return {
            Problem.MISSING: lambda: f"{name} is required",
            Problem.NOT_INTEGER: lambda: f"{name} must be an integer",
            Problem.TOO_SMALL: lambda: f"{name} must be at least {context.get('limit')}",
            Problem.TOO_LARGE: lambda: f"{name} must be at most {context.get('limit')}",
            Problem.NOT_CHOICE: lambda: f"{name} must be one of: {', '.join(context.get('choices', ()))}",
            Problem.TOO_LONG: lambda: f"{name} must be at most {context.get('limit')} characters",
            Problem.NOT_DATETIME: lambda: f"{name} must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z",
            Problem.BAD_FORMAT: lambda: f"{name} must be {context.get('format')}",
            Problem.UNKNOWN: lambda: f"Unrecognized parameter: {name}",
            Problem.NOT_JSON_OBJECT: lambda: "Request body must be a JSON object",
            Problem.TOO_DEEP: lambda: f"Request body is nested deeper than {context.get('limit')} levels",
            Problem.INVALID: lambda: f"{name} {context.get('message', 'is invalid')}",
        }[error.problem]()

    def error(self, error: ApiError) -> Response:
        return self.respond(error.status, error.message, error.code, error.headers)

    def unknown_route(self) -> Response:
        return self.respond(404, self.not_found, "NOT_FOUND")

    def method_not_allowed(self, allowed: Sequence[str]) -> Response:
        return self.respond(405, self.method_not_allowed_message, "METHOD_NOT_ALLOWED",
                            {"Allow": ", ".join(allowed)})

    def server_error(self) -> Response:
        return self.respond(500, self.server_error_message, "INTERNAL_ERROR")

    def success(self, data: Any, status: int) -> Response:
        return JSONResponse(data, status_code=status)


@dataclass
class Surface:
    """One API document's routes. Register with `.get(path, handler, ...)` and friends; mount
    `.routes()` and, after every surface's routes, `.fallbacks()`."""

    dialect: Dialect
    prefixes: tuple[str, ...]  # paths under which an unknown path is this surface's 404
    paths: dict[str, dict[str, Operation]] = field(default_factory=dict)

    def add(self, method: str, path: str, handler: Handler, **declared: Any) -> None:
        self.paths.setdefault(path, {})[method] = Operation(handler, **declared)

    def get(self, path: str, handler: Handler, **declared: Any) -> None:
        self.add("GET", path, handler, **declared)

    def post(self, path: str, handler: Handler, **declared: Any) -> None:
        self.add("POST", path, handler, **declared)

    def put(self, path: str, handler: Handler, **declared: Any) -> None:
        self.add("PUT", path, handler, **declared)

    def patch(self, path: str, handler: Handler, **declared: Any) -> None:
        self.add("PATCH", path, handler, **declared)

    def delete(self, path: str, handler: Handler, **declared: Any) -> None:
        self.add("DELETE", path, handler, **declared)

    @property
    def operations(self) -> list[tuple[str, str, Operation]]:
        return [(path, method, op) for path, ops in self.paths.items() for method, op in ops.items()]

    def routes(self) -> list[BaseRoute]:
        return [Route(path, endpoint(self._dispatch(ops)), methods=list(ops)) for path, ops in self.paths.items()]

    def body_limit(self, path: str) -> tuple[int | None, Dialect] | None:
        """For a request path of this surface: its route's declared upload limit (None: the app's), and
        the dialect its 413 speaks; None when the path is not this surface's."""
        for template, ops in self.paths.items():
            if _compiled(template).fullmatch(path):
                limits = [op.max_body for op in ops.values() if op.max_body is not None]
                return (max(limits) if limits else None), self.dialect
        if any(_compiled(prefix).fullmatch(path) for prefix in self.prefixes):
            return None, self.dialect
        return None

    def fallbacks(self) -> list[BaseRoute]:
        """Catch-alls, after every surface's routes: a known path with another method (405) or an unknown path (404)."""
        known = self.routes()
        handler = endpoint(self._fallback(known))
        return [Route(prefix, handler, methods=_ALL_METHODS, include_in_schema=False) for prefix in self.prefixes]

    def _dispatch(self, ops: Mapping[str, Operation]) -> Callable[[Request, Env, ExecutionContext], Awaitable[Response]]:
        async def surface(request: Request, env: Env, ctx: ExecutionContext) -> Response:
            principal = await self._authenticate(request, env)
            if isinstance(principal, Response):
                return principal
            op = ops.get("GET" if request.method == "HEAD" else request.method)
            if op is None:  # Starlette routes only the declared methods here; kept for safety
                return self.dialect.method_not_allowed(list(ops))
            return await self._run(op, Call(request, env, ctx, principal))

        return surface

    def _fallback(self, known: list[BaseRoute]) -> Callable[[Request, Env, ExecutionContext], Awaitable[Response]]:
        async def fallback(request: Request, env: Env, ctx: ExecutionContext) -> Response:
            principal = await self._authenticate(request, env)
            if isinstance(principal, Response):
                return principal
            for route in known:
                match, _ = route.matches(request.scope)
                if match is not Match.NONE:
                    assert isinstance(route, Route)
                    allowed = [m for m in _ALL_METHODS if m in (route.methods or ())]
                    return self.dialect.method_not_allowed([m for m in allowed if m != "HEAD"])
            return self.dialect.unknown_route()

        return fallback

    async def _authenticate(self, request: Request, env: Env) -> Principal | Response:
        principal = await auth.authenticate(request, env)
        if isinstance(principal, AuthFailure):
            return self.dialect.unauthorized(principal)
        request.state.workspace_id = principal.workspace_id
        return principal

    async def _run(self, op: Operation, call: Call) -> Response:
        dialect, request = self.dialect, call.request
        try:
            values = parse_all(op.params, request.query_params, request.path_params,
                               empty_is_missing=dialect.empty_is_missing,
                               reject_unknown=dialect.reject_unknown_query, stop_at_first=dialect.stop_at_first)
            result = await op.handler(call, **values)
        except ParamErrors as errors:
            return dialect.invalid(errors.errors)
        except ParamError as error:  # raised by a handler reading its body
            return dialect.invalid([error])
        except ApiError as error:
            return dialect.error(error)
        except HTTPException as error:
            if error.status_code != 413:
                raise
            # Starlette's streamed body limit, passed while the handler read the body.
            limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
            return dialect.respond(413, f"Request body too large (max {limit} bytes)", "PAYLOAD_TOO_LARGE")
        except ClientDisconnect:
            raise
        except Exception as exc:  # the client gets a fixed message; the details go to the log only
            log_event(dialect.error_event, route=request.url.path, workspaceId=call.workspace_id, error=repr(exc))
            return dialect.server_error()
        if isinstance(result, Response):
            return result
        return dialect.success(result, op.status)


@cache
def _compiled(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def surfaces_routes(surfaces: Sequence[Surface]) -> list[BaseRoute]:
    """Every surface's routes, then every catch-all, most specific prefix first."""
    routes = [route for surface in surfaces for route in surface.routes()]
    fallbacks = [route for surface in surfaces for route in surface.fallbacks()]
    fallbacks.sort(key=lambda route: -len(getattr(route, "path", "")))
    return routes + fallbacks
