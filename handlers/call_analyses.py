"""Call analyses, `/api/v1/analysis/`, as call-analyses-api.md speaks it (FastAPI's dialect).

Records come from domain.calls, processing from domain.call_processing. Errors are
`{"detail": ...}`; every invalid parameter at once is one 422 whose `detail` lists each with
`loc`, `msg` and `type` in pydantic's words. Beyond the document:

- both `/api/v1/analysis/` and `/api/v1/analysis` serve the list and the upload;
- `POST` (multipart) uploads a call and answers 202 with the analysis in `processing`;
  `GET /api/v1/analysis/{id}` returns one; `GET`/`PUT /api/v1/analysis/settings` read and
  replace the workspace's mandatory disclosure phrases;
- `status_filter` is exact (`processing`, `completed`, `failed`); `limit` outside 1-1000 and a
  negative `offset` are 422, never clamped; as in FastAPI an empty value is a value (`?limit=`
  is 422), while an empty form field counts as absent.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from domain import call_audio, call_findings, call_processing, calls, webhooks
from domain.auth import AuthFailure
from domain.transcription import TranscriptError, parse_uploaded
from handlers.params import UUID, Choice, Integer, ParamError, ParamErrors, Pattern, Problem, Text, json_body
from handlers.surface import ApiError, Call, Dialect, Surface
from runtime import now_ms
from storage.r2 import R2Bucket, R2Error

MAX_ID_LENGTH = 255
MAX_FIELD_BYTES = 1024 * 1024  # any text field of the upload, the transcript included
# The whole multipart body: the audio, the text fields, and room for the part headers.
MAX_UPLOAD_BYTES = call_audio.MAX_AUDIO_BYTES + 2 * MAX_FIELD_BYTES
ANALYSIS_NOT_FOUND = "Analysis not found"
UPLOAD_PATHS = ("/api/v1/analysis/", "/api/v1/analysis")


class FastApiDialect(Dialect):
    name = "call-analyses"
    error_event = "analysis.error"
    invalid_status = 422
    empty_is_missing = False
    stop_at_first = False
    not_found = "Not Found"
    method_not_allowed_message = "Method Not Allowed"
    server_error_message = "Internal Server Error"

    def body(self, status: int, message: str, code: str | None) -> Any:
        return {"detail": message}

    def unauthorized(self, failure: AuthFailure) -> Response:
        return self.respond(401, "Invalid authentication credentials")

    def invalid(self, errors: Sequence[ParamError]) -> Response:
        return JSONResponse({"detail": [self.entry(error) for error in errors]}, status_code=self.invalid_status)

    def entry(self, error: ParamError) -> dict[str, Any]:
        message, kind = self.pydantic(error)
        # A whole request body that is wrong is FastAPI's ["body"]; a part of it is ["body", name, ...].
        loc = error.context.get("loc") or ((error.location,) if error.name == error.location
                                           else (error.location, error.name))
        return {"loc": list(loc), "msg": message, "type": kind}

    def describe(self, error: ParamError) -> str:
        return self.pydantic(error)[0]

    def pydantic(self, error: ParamError) -> tuple[str, str]:
        """A problem as pydantic v1 words it (FastAPI's 422 bodies): message and type."""
        context = error.context
        limit = context.get("limit")
        return {
            Problem.MISSING: lambda: ("field required", "value_error.missing"),
            Problem.NOT_INTEGER: lambda: ("value is not a valid integer", "type_error.integer"),
            Problem.TOO_SMALL: lambda: (f"ensure this value is greater than or equal to {limit}",
                                        "value_error.number.not_ge"),
            Problem.TOO_LARGE: lambda: (f"ensure this value is less than or equal to {limit}",
                                        "value_error.number.not_le"),
            Problem.NOT_CHOICE: lambda: ("value is not a valid enumeration member; permitted: "
                                         + ", ".join(f"'{choice}'" for choice in context.get("choices", ())),
                                         "type_error.enum"),
            Problem.TOO_LONG: lambda: (f"ensure this value has at most {limit} characters",
                                       "value_error.any_str.max_length"),
            Problem.BAD_FORMAT: lambda: ("value is not a valid uuid", "type_error.uuid")
            if context.get("format") == "a UUID" else (f"value is not {context.get('format')}", "value_error"),
            Problem.NOT_JSON_OBJECT: lambda: ("value is not a valid dict", "type_error.dict"),
            Problem.TOO_DEEP: lambda: (f"nested deeper than {limit} levels", "value_error"),
            Problem.UNKNOWN: lambda: ("extra fields not permitted", "value_error.extra"),
            Problem.INVALID: lambda: (str(context.get("message", "value is not valid")),
                                      str(context.get("type", "value_error"))),
            Problem.NOT_DATETIME: lambda: ("invalid datetime format", "value_error.datetime"),
        }[error.problem]()


api = Surface(FastApiDialect(), prefixes=("/api/v1/analysis/{path:path}",))

STATUS_FILTER = Choice(name="status_filter", choices=calls.STATUSES, case_sensitive=True,
                       description="Filter by status: processing, completed, or failed")
AGENT_ID = Text(name="agent_id", max_length=MAX_ID_LENGTH, description="Filter by specific agent ID")
CONTACT_ID = Text(name="contact_id", max_length=MAX_ID_LENGTH, description="Filter by specific contact ID")
SEARCH = Text(name="search", max_length=MAX_ID_LENGTH,
              description="Search in agent_id and contact_id (case-insensitive)")
LIMIT = Integer(name="limit", default=100, minimum=1, maximum=1000, signed=True,
                description="Maximum number of results to return (1-1000)")
OFFSET = Integer(name="offset", default=0, minimum=0, signed=True,
                 description="Number of results to skip (for pagination)")
ANALYSIS_ID = Pattern(name="analysis_id", location="path", pattern=UUID, format="a UUID",
                      description="The analysis' id")


def _recordings(call: Call) -> R2Bucket:
    bucket = call.env.get(call_processing.RECORDINGS)
    if bucket is None:
        raise RuntimeError(f"no R2 binding named {call_processing.RECORDINGS} (wrangler.toml [[r2_buckets]])")
    return bucket


async def list_analyses(call: Call, status_filter: str | None, agent_id: str | None, contact_id: str | None,
                        search: str | None, limit: int, offset: int) -> calls.AnalysisList:
    """The workspace's analyses, newest first, with the document's filters and pagination."""
    return await calls.list_analyses(call.env.DB, _recordings(call), call.workspace_id, limit=limit, offset=offset,
                                     status=status_filter, agent_id=agent_id, contact_id=contact_id, search=search)


async def get_analysis(call: Call, analysis_id: str) -> calls.Analysis:
    """One analysis by id."""
    found = await calls.analysis(call.env.DB, _recordings(call), call.workspace_id, analysis_id.lower())
    if found is None:
        raise ApiError(404, ANALYSIS_NOT_FOUND)
    return found


async def create_analysis(call: Call) -> calls.Analysis:
    """Upload a call recording (multipart): stored in R2 and answered at once in `processing`; the
    transcript and findings follow, then the webhook, if one was given."""
    new = await _upload(call)
    bucket = _recordings(call)
    now = now_ms()
    try:
        row = await calls.create_analysis(call.env.DB, bucket, new, now, now + call_processing.LEASE_MS)
    except R2Error:
        raise ApiError(503, "Audio storage is unavailable; nothing was saved. Please retry.") from None
    call.ctx.wait_until(call_processing.process(call.env, row["id"]))
    return await calls.render(row, bucket)


async def get_settings(call: Call) -> calls.AnalysisSettings:
    """The workspace's analysis settings: the mandatory disclosure phrases each call must contain."""
    return await calls.settings(call.env.DB, call.workspace_id)


async def put_settings(call: Call) -> calls.AnalysisSettings:
    """Replace the workspace's mandatory disclosure phrases (analyses processed from now on use them)."""
    body = json_body(await call.request.body())
    phrases = body.get("mandatory_disclosures")
    errors = [_invalid(("body", "mandatory_disclosures", *where), message, kind)
              for where, message, kind in _disclosure_problems(phrases)]
    if errors:
        raise ParamErrors(errors)
    return await calls.set_disclosures(call.env.DB, call.workspace_id, phrases, now_ms())


# --- the upload ----------------------------------------------------------------------------


def _invalid(loc: Sequence[str | int], message: str, kind: str = "value_error") -> ParamError:
    return ParamError(str(loc[0]), str(loc[-1]), Problem.INVALID, message=message, type=kind, loc=tuple(loc))


def _missing(name: str) -> ParamError:
    return ParamError("body", name, Problem.MISSING)


def _disclosure_problems(value: Any) -> list[tuple[tuple[int, ...], str, str]]:
    if value is None:
        return [((), "field required", "value_error.missing")]
    if not isinstance(value, list):
        return [((), "value is not a valid list", "type_error.list")]
    problems: list[tuple[tuple[int, ...], str, str]] = []
    if len(value) > calls.MAX_DISCLOSURES:
        problems.append(((), f"ensure this value has at most {calls.MAX_DISCLOSURES} items",
                         "value_error.list.max_items"))
    for index, phrase in enumerate(value):
        if not isinstance(phrase, str):
            problems.append(((index,), "str type expected", "type_error.str"))
        elif len(phrase) > calls.MAX_DISCLOSURE_CHARS:
            problems.append(((index,), f"ensure this value has at most {calls.MAX_DISCLOSURE_CHARS} characters",
                             "value_error.any_str.max_length"))
        elif not call_findings.words(phrase):
            problems.append(((index,), "a phrase needs at least one word of letters a-z or digits", "value_error"))
    return problems


def _text_field(form: Any, name: str, errors: list[ParamError], *, required: bool) -> str | None:
    """A text field: an empty one counts as absent, as FastAPI reads forms."""
    value = form.get(name)
    if isinstance(value, UploadFile):
        errors.append(_invalid(("body", name), "must be a text field, not a file"))
        return None
    if value is None or value == "":
        if required:
            errors.append(_missing(name))
        return None
    return value


def _identifier(form: Any, name: str, errors: list[ParamError]) -> str | None:
    value = _text_field(form, name, errors, required=True)
    if value is None:
        return None
    if len(value) > MAX_ID_LENGTH:
        errors.append(ParamError("body", name, Problem.TOO_LONG, limit=MAX_ID_LENGTH))
    elif not value.strip():
        errors.append(_invalid(("body", name), "must not be blank"))
    elif any(ord(c) < 32 or ord(c) == 127 for c in value):
        errors.append(_invalid(("body", name), "must not contain control characters"))
    else:
        return value
    return None


async def _audio(form: Any, errors: list[ParamError]) -> tuple[bytes, str] | None:
    upload = form.get("audio")
    if upload is None or upload == "":
        errors.append(_missing("audio"))
        return None
    if not isinstance(upload, UploadFile):
        errors.append(_invalid(("body", "audio"), "must be a file upload (multipart/form-data)"))
        return None
    data = await upload.read(call_audio.MAX_AUDIO_BYTES + 1)
    if len(data) > call_audio.MAX_AUDIO_BYTES:
        errors.append(_invalid(("body", "audio"), f"ensure this file is at most {call_audio.MAX_AUDIO_BYTES} bytes",
                               "value_error.file.too_large"))
        return None
    if not data:
        errors.append(_invalid(("body", "audio"), "the file is empty", "value_error.file.empty"))
        return None
    fmt = call_audio.sniff(data[:12])
    if fmt is None:
        errors.append(_invalid(("body", "audio"), "must be a WAV or MP3 file", "value_error.file.format"))
        return None
    return data, fmt


async def _upload(call: Call) -> calls.NewAnalysis:
    """Every field checked before anything is stored; every problem reported at once."""
    try:
        async with call.request.form(max_files=1, max_fields=8, max_part_size=MAX_FIELD_BYTES) as form:
            errors: list[ParamError] = []
            audio = await _audio(form, errors)
            agent_id = _identifier(form, "agent_id", errors)
            contact_id = _identifier(form, "contact_id", errors)
            webhook_url = _text_field(form, "webhook_url", errors, required=False)
            raw_transcript = _text_field(form, "transcript", errors, required=False)
    except HTTPException as error:  # Starlette's answer to a malformed multipart body
        if error.status_code == 413:  # the streamed body went past the upload limit
            raise ApiError(413, f"Request body too large (max {MAX_UPLOAD_BYTES} bytes)") from None
        raise ApiError(400, f"There was an error parsing the body: {error.detail}") from None
    if webhook_url is not None:
        problem = webhooks.check_url(
            webhook_url, allow_private=webhooks.allows_private(call.env.get("WEBHOOK_ALLOW_PRIVATE_NETWORKS")))
        if problem is not None:
            errors.append(_invalid(("body", "webhook_url"), problem, "value_error.url"))
    transcript = None
    if raw_transcript is not None:
        try:
            transcript = parse_uploaded(raw_transcript)
        except TranscriptError as error:
            errors.append(_invalid(("body", "transcript", *error.where), str(error)))
    if errors:
        raise ParamErrors(errors)
    assert audio is not None and agent_id is not None and contact_id is not None
    data, fmt = audio
    probe = await asyncio.to_thread(call_audio.probe, data, fmt)
    return calls.NewAnalysis(workspace_id=call.workspace_id, livemode=call.principal.livemode, agent_id=agent_id,
                             contact_id=contact_id, audio=data, format=fmt,
                             duration_ms=probe.duration_ms if probe else None, webhook_url=webhook_url,
                             transcript=transcript)


# --- routes --------------------------------------------------------------------------------

_UPLOAD_BODY = {
    "type": "object", "required": ["audio", "agent_id", "contact_id"],
    "properties": {
        "audio": {"type": "string", "format": "binary",
                  "description": f"WAV or MP3, at most {call_audio.MAX_AUDIO_BYTES} bytes"},
        "agent_id": {"type": "string", "maxLength": MAX_ID_LENGTH},
        "contact_id": {"type": "string", "maxLength": MAX_ID_LENGTH,
                       "description": "a lead's id, email or phone links the analysis to that lead"},
        "webhook_url": {"type": "string", "format": "uri", "description": "receives the finished analysis"},
        "transcript": {"type": "string",
                       "description": "the call's transcript, used instead of speech recognition: text (one line "
                                      "per segment, `Agent:`/`Customer:` prefixes) or JSON segments"},
    },
}
_SETTINGS_BODY = {"type": "object", "required": ["mandatory_disclosures"],
                  "properties": {"mandatory_disclosures": {"type": "array", "maxItems": calls.MAX_DISCLOSURES,
                                                           "items": {"type": "string",
                                                                     "maxLength": calls.MAX_DISCLOSURE_CHARS}}}}

for _path in UPLOAD_PATHS:
    api.get(_path, list_analyses, params=(STATUS_FILTER, AGENT_ID, CONTACT_ID, SEARCH, LIMIT, OFFSET),
            response=calls.AnalysisList, summary="List analyses")
    api.post(_path, create_analysis, body=_UPLOAD_BODY, body_type="multipart/form-data", response=calls.Analysis,
             status=202, max_body=MAX_UPLOAD_BYTES,
             summary="Upload a call for analysis", extension=True,
             example={"agent_id": "agent_001", "contact_id": "customer_12345",
                      "webhook_url": "https://your-app.com/webhooks/analysis"})
# Before `{analysis_id}`, which would otherwise take "settings" as an id.
api.get("/api/v1/analysis/settings", get_settings, response=calls.AnalysisSettings, summary="Analysis settings",
        extension=True)
api.put("/api/v1/analysis/settings", put_settings, body=_SETTINGS_BODY, response=calls.AnalysisSettings,
        example={"mandatory_disclosures": list(call_findings.DEFAULT_DISCLOSURES)},
        summary="Replace the analysis settings", extension=True)
api.get("/api/v1/analysis/{analysis_id}", get_analysis, params=(ANALYSIS_ID,), response=calls.Analysis,
        summary="Retrieve an analysis", extension=True)
