"""The campaign surface, `/api/*`, as campaign-analytics-api.md speaks it: GET /api/analytics, and
the writes that feed it (campaigns, sender lines, messages, conversation tags).

Numbers come from domain.campaigns. Every answer is `{"success": true, ...}` or
`{"success": false, "error": {"code", "message"}}`. Beyond what the document states:

- An empty query value is the same as leaving the parameter out; ids are matched without case
  and echoed in lowercase; `dateTo` before `dateFrom` is 400 naming dateTo.
- The writes are ours (the document shows none): JSON bodies in camelCase, 400 naming the field,
  404 for a campaign, line, lead or message the workspace does not have, 409 for a status
  callback the message cannot take.
"""
from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from domain import campaigns, messages
from domain.auth import AuthFailure
from domain.campaigns import Filter
from handlers.params import (
    OBJECT_ID,
    USER_ID,
    Choice,
    Instant,
    InstantParam,
    Param,
    ParamError,
    Pattern,
    Problem,
    Text,
    json_body,
)
from handlers.surface import ApiError, Call, Dialect, Surface
from runtime import Env, log_event, now_ms

# Every key authenticates the same way here (Bearer or X-API-Key); the document's other method,
# a dashboard session, does not exist in this worker.
AUTH_METHOD = "api_key"


class CampaignDialect(Dialect):
    name = "campaign"
    error_event = "campaigns.error"
    missing_key = "Missing API key: pass Authorization: Bearer <key> or X-API-Key: <key>"
    invalid_key = "Invalid API key"
    not_found = "Not found"
    server_error_message = "Request failed"

    def body(self, status: int, message: str, code: str | None) -> Any:
        return {"success": False, "error": {"code": code or "ERROR", "message": message}}

    def unauthorized(self, failure: AuthFailure) -> Response:
        message = self.missing_key if failure is AuthFailure.MISSING else self.invalid_key
        return self.respond(401, message, "Unauthorized")  # the document's code, as its table writes it


class AnalyticsDialect(CampaignDialect):
    error_event = "analytics.error"
    server_error_message = "Aggregation failed; see the analytics.error event"

    def server_error(self) -> Response:
        return self.respond(500, self.server_error_message, "AGGREGATION_FAILED")


analytics_api = Surface(AnalyticsDialect(), prefixes=("/api/analytics", "/api/analytics/{path:path}"))
api = Surface(CampaignDialect(), prefixes=(
    "/api/campaigns", "/api/campaigns/{path:path}", "/api/lines", "/api/lines/{path:path}", "/api/messages",
    "/api/messages/{path:path}", "/api/conversations", "/api/conversations/{path:path}"))

HEX_ID = "a 24-character hex id"
CAMPAIGN_ID = Pattern(name="campaignId", arg="campaign_id", pattern=OBJECT_ID, format=HEX_ID,
                      description="Restrict the result to one campaign")
LINE_ID = Pattern(name="lineId", arg="line_id", pattern=OBJECT_ID, format=HEX_ID,
                  description="Restrict to a single sender line")
USER = Pattern(name="userId", arg="user_id", pattern=USER_ID, format="a user id (user_...)",
               description="Restrict to a single user who created the messages")
DATE_FROM = InstantParam(name="dateFrom", arg="date_from", description="Inclusive lower bound on message.createdAt")
DATE_TO = InstantParam(name="dateTo", arg="date_to",
                       description="Inclusive upper bound; a date alone covers that whole day")
AGENCY_ID = Text(name="agencyId", arg="agency_id", max_length=256, description="Reserved: answers 501")
FILTERS: tuple[Param, ...] = (CAMPAIGN_ID, LINE_ID, USER, DATE_FROM, DATE_TO)

# Path ids are looked up, not shaped: an id of any form the workspace does not have is a 404.
LOOKED_UP = r"[A-Za-z0-9_-]{1,64}"
MESSAGE_ID = Pattern(name="id", arg="message_id", location="path", pattern=LOOKED_UP, format="a message id")
LEAD_ID = Pattern(name="leadId", arg="lead_id", location="path", pattern=LOOKED_UP, format="a lead id")


def analytics_filter(campaign_id: str | None, line_id: str | None, user_id: str | None, date_from: Instant | None,
                     date_to: Instant | None) -> Filter:
    """The domain filter from parsed parameters; ParamError when the window ends before it starts."""
    end = campaigns.inclusive_end(date_to.text, date_to.ms) if date_to is not None else None
    if date_from is not None and end is not None and end < date_from.ms:
        raise ParamError("query", "dateTo", Problem.INVALID, message="must not be before dateFrom")
    return Filter(campaign_id.lower() if campaign_id else None, line_id.lower() if line_id else None, user_id,
                  date_from.ms if date_from is not None else None, end)


async def served_analytics(env: Env, workspace_id: str, flt: Filter) -> campaigns.Analytics:
    """The analytics answer and its `analytics.served` log line: the HTTP route and the MCP tool answer here."""
    started = time.perf_counter()
    answer = await campaigns.analytics(env.DB, workspace_id, flt)
    log_event("analytics.served", workspaceId=workspace_id, authMethod=AUTH_METHOD, filter=answer["filter"],
              metrics=answer["metrics"], durationMs=round((time.perf_counter() - started) * 1000, 2))
    return answer


async def analytics(call: Call, campaign_id: str | None, line_id: str | None, user_id: str | None,
                    date_from: Instant | None, date_to: Instant | None, agency_id: str | None
                    ) -> campaigns.Analytics:
    if agency_id is not None:
        raise ApiError(501, "The agency rollup is not available yet; call without agencyId for this workspace's"
                            " numbers", "AGENCY_NOT_AVAILABLE")
    flt = analytics_filter(campaign_id, line_id, user_id, date_from, date_to)
    return await served_analytics(call.env, call.workspace_id, flt)


# --- writes ----------------------------------------------------------------------------------------

NAME = Text(name="name", location="body", max_length=campaigns.MAX_NAME)
ADDRESS = Text(name="address", location="body", max_length=320)
DIRECTION = Choice(name="direction", location="body", choices=messages.DIRECTIONS, case_sensitive=True)
CONTACT = Text(name="contact", location="body", max_length=320)
CHANNEL = Choice(name="channel", location="body", choices=messages.CHANNELS, case_sensitive=True)
STATUS = Choice(name="status", location="body", choices=messages.OUTBOUND_STATUSES + (messages.INBOUND_STATUS,),
                case_sensitive=True)
BODY_CAMPAIGN = Pattern(name="campaignId", location="body", pattern=OBJECT_ID, format=HEX_ID)
BODY_LINE = Pattern(name="lineId", location="body", pattern=OBJECT_ID, format=HEX_ID)
BODY_USER = Pattern(name="userId", location="body", pattern=USER_ID, format="a user id (user_...)")
MESSAGE_BODY = Text(name="body", location="body", max_length=10_000)
CREATED_AT = InstantParam(name="createdAt", location="body")


def _text(body: dict[str, Any], param: Param, *, required: bool = False) -> Any:
    """A string field of a JSON body, parsed by its declared parameter; None when absent and optional."""
    value = body.get(param.name)
    if value is None:
        if required:
            raise param.error(Problem.MISSING)
        return None
    if not isinstance(value, str):
        raise param.error(Problem.INVALID, message="must be a string")
    if required and not value.strip():
        raise param.error(Problem.MISSING)
    return param.parse(value)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ParamError("body", name, Problem.INVALID, message="must be true or false")
    return value


async def create_campaign(call: Call) -> dict[str, Any]:
    body = json_body(await call.request.body())
    name = _text(body, NAME, required=True).strip()
    return {"success": True, "campaign": await campaigns.create_campaign(call.env.DB, call.workspace_id, name,
                                                                        now_ms())}


async def create_line(call: Call) -> dict[str, Any]:
    body = json_body(await call.request.body())
    name = _text(body, NAME, required=True).strip()
    address = campaigns.line_address(_text(body, ADDRESS, required=True))
    if address is None:
        raise ADDRESS.error(Problem.INVALID, message="must be a phone number (7 to 15 digits) or an email address")
    return {"success": True, "line": await campaigns.create_line(call.env.DB, call.workspace_id, name, address,
                                                                now_ms())}


def _message_input(body: dict[str, Any], now: int) -> campaigns.MessageInput:
    direction = _text(body, DIRECTION, required=True)
    status = _text(body, STATUS)
    fallback = _flag(body, "fallbackSmsDispatched")
    if direction == "inbound" and status not in (None, messages.INBOUND_STATUS):
        raise STATUS.error(Problem.INVALID, message="of a reply is always received")
    if direction == "outbound" and status == messages.INBOUND_STATUS:
        raise STATUS.error(Problem.NOT_CHOICE, choices=messages.OUTBOUND_STATUSES)
    if direction == "inbound" and fallback:
        raise ParamError("body", "fallbackSmsDispatched", Problem.INVALID, message="applies to outbound messages only")
    created = _text(body, CREATED_AT)
    if created is not None and created.ms < 0:
        raise CREATED_AT.error(Problem.INVALID, message="must not be before 1970")
    campaign_id, line_id = _text(body, BODY_CAMPAIGN), _text(body, BODY_LINE)
    return campaigns.MessageInput(
        direction=direction, contact=_text(body, CONTACT, required=True), channel=_text(body, CHANNEL, required=True),
        created_at=created.ms if created is not None else now, status=status, fallback_sms_dispatched=fallback,
        campaign_id=campaign_id.lower() if campaign_id else None, line_id=line_id.lower() if line_id else None,
        user_id=_text(body, BODY_USER), body=_text(body, MESSAGE_BODY))


async def create_message(call: Call) -> dict[str, Any]:
    now = now_ms()
    given = _message_input(json_body(await call.request.body()), now)
    try:
        message = await campaigns.write_message(call.env.DB, call.workspace_id, given, now)
    except campaigns.NotFound as missing:
        raise ApiError(404, str(missing), "NOT_FOUND") from None
    except messages.MessageError as error:
        raise ApiError(400, str(error), "INVALID_BODY") from None
    return {"success": True, "message": message}


async def update_message(call: Call, message_id: str) -> dict[str, Any]:
    body = json_body(await call.request.body())
    status = _text(body, STATUS, required=True)
    try:
        message = await campaigns.move_message_status(call.env.DB, call.workspace_id, message_id, status,
                                                      _flag(body, "fallbackSmsDispatched"), now_ms())
    except campaigns.NotFound:
        raise ApiError(404, "Message not found", "NOT_FOUND") from None
    except messages.StatusMoveError as error:
        raise ApiError(409, str(error), "INVALID_STATUS_TRANSITION") from None
    except messages.MessageError as error:
        raise ApiError(400, str(error), "INVALID_BODY") from None
    return {"success": True, "message": message}


async def set_tags(call: Call, lead_id: str) -> dict[str, Any]:
    body = json_body(await call.request.body())
    tags = body.get("tags")
    if tags is None:
        raise ParamError("body", "tags", Problem.MISSING)
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ParamError("body", "tags", Problem.INVALID, message="must be an array of strings")
    if len(tags) > campaigns.MAX_TAGS:
        raise ParamError("body", "tags", Problem.INVALID, message=f"must hold at most {campaigns.MAX_TAGS} tags")
    for index, tag in enumerate(tags):
        if len(tag.strip()) > campaigns.MAX_TAG:
            raise ParamError("body", f"tags[{index}]", Problem.TOO_LONG, limit=campaigns.MAX_TAG)
    try:
        conversation = await campaigns.set_conversation_tags(call.env.DB, call.workspace_id, lead_id, tags, now_ms())
    except campaigns.NotFound:
        raise ApiError(404, "Lead not found", "NOT_FOUND") from None
    return {"success": True, "conversation": conversation}


_STRING = {"type": "string"}


def _answer(name: str, schema: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"success": {"const": True}, name: schema}}


analytics_api.get("/api/analytics", analytics, params=(*FILTERS, AGENCY_ID), response=campaigns.Analytics,
                  summary="Campaign analytics")
api.post("/api/campaigns", create_campaign, status=201, summary="Create a campaign", extension=True,
         body={"type": "object", "required": ["name"], "properties": {"name": _STRING}},
         example={"name": "Spring launch"}, response=_answer("campaign", campaigns.Campaign))
api.post("/api/lines", create_line, status=201, summary="Create a sender line", extension=True,
         body={"type": "object", "required": ["name", "address"],
               "properties": {"name": _STRING, "address": _STRING}},
         example={"name": "Main iMessage line", "address": "+14155550100"}, response=_answer("line", campaigns.Line))
api.post("/api/messages", create_message, status=201, summary="Record an outbound message or a reply",
         extension=True,
         body={"type": "object", "required": ["direction", "contact", "channel"], "properties": {
             "direction": {"enum": list(messages.DIRECTIONS)}, "contact": _STRING,
             "channel": {"enum": list(messages.CHANNELS)},
             "status": {"enum": list(messages.OUTBOUND_STATUSES) + [messages.INBOUND_STATUS]},
             "fallbackSmsDispatched": {"type": "boolean"}, "campaignId": _STRING, "lineId": _STRING,
             "userId": _STRING, "body": _STRING, "createdAt": {"type": "string", "format": "date-time"}}},
         example={"direction": "outbound", "contact": "+14155550123", "channel": "imessage", "status": "sent",
                  "userId": "user_2abc", "body": "Hi! Still looking for a flat?"},
         response=_answer("message", campaigns.Message))
api.patch("/api/messages/{id}", update_message, params=(MESSAGE_ID,), summary="Move a message's delivery status",
          extension=True,
          body={"type": "object", "required": ["status"], "properties": {
              "status": {"enum": list(messages.OUTBOUND_STATUSES)}, "fallbackSmsDispatched": {"type": "boolean"}}},
          example={"status": "delivered"}, response=_answer("message", campaigns.Message))
api.put("/api/conversations/{leadId}/tags", set_tags, params=(LEAD_ID,), summary="Set a conversation's tags",
        extension=True,
        body={"type": "object", "required": ["tags"], "properties": {"tags": {"type": "array", "items": _STRING}}},
        example={"tags": ["Interested"]}, response=_answer("conversation", campaigns.Conversation))
