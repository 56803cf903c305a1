"""How the lead-record and lead-analytics documents speak, shared by both surfaces (one vendor).

The documents show no error bodies; every error here is
`{"statusCode": 404, "error": "Not Found", "message": "Lead not found"}`: the status, its
reason phrase, and a message that names the field and the problem. Unrecognised query
parameters are 400 on every route, as the analytics document asks. The domain's `FieldError`,
conflicts and refused uploads become 400, 409 and 413/415 through `domain_errors()`.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.responses import Response

from domain.actions import ActionConflict
from domain.fields import FieldError
from domain.lead_records import RecordConflict, UploadRejected
from handlers.params import ParamError, Problem, json_body
from handlers.surface import ApiError, Call, Dialect


class LeadDialect(Dialect):
    name = "lead"
    error_event = "lead_api.error"
    reject_unknown_query = True
    missing_key = "Missing API key: send it in the x-api-key header"
    invalid_key = "Invalid API key"
    not_found = "Not found"

    def body(self, status: int, message: str, code: str | None) -> Any:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return {"statusCode": status, "error": phrase, "message": message}

    def success(self, data: Any, status: int) -> Response:
        # A page of analytics is megabytes of JSON: orjson writes it several times faster.
        try:
            content = orjson.dumps(data)
        except TypeError:  # an integer past 64 bits in a tool call's arguments, say
            content = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Response(content, status_code=status, media_type="application/json")


DIALECT = LeadDialect()


@contextlib.contextmanager
def domain_errors(location: str = "body") -> Iterator[None]:
    """The domain's refusals in this dialect: a bad field is 400 naming it, a conflict 409."""
    try:
        yield
    except FieldError as error:
        raise ParamError(location, error.field, Problem.INVALID, message=error.message) from None
    except (RecordConflict, ActionConflict) as error:
        raise ApiError(409, str(error)) from None
    except UploadRejected as error:
        raise ApiError(error.status, error.message) from None


async def read_body(call: Call) -> bytes:
    """The request body; a body past the deployment's limit is 413 in this dialect."""
    try:
        return await call.request.body()
    except HTTPException as error:
        raise ApiError(error.status_code, "Request body too large" if error.status_code == 413 else
                       str(error.detail)) from None


async def json_object(call: Call) -> dict[str, Any]:
    return json_body(await read_body(call))
