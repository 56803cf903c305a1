"""The dashboard surface, `/analytics/*`, exactly as tracking-analytics-api.md speaks it.

Numbers come from domain.metrics, leads from domain.leads. Errors are `{"error": message}`.
Parameters, beyond what the document states:

- `days`, `limit`, `offset` and lead ids take digits only; anything else (a sign, a fraction, a
  word) is 400. A value above the maximum is clamped to it; 0 is valid and returns no rows
  (`total` still counts every match). A parameter given empty is the same as leaving it out.
- `days=N` is today (UTC) and the N-1 UTC days before it, oldest first, each day present with
  zeros when it had no sessions, so a chart gets one point per day.
- `status` (one of the six stages) and `sort` (one of the eight keys) are case-insensitive;
  any other value is 400 naming the parameter and the allowed values.
- A PATCH with an unknown status is 404, as the document says.

Ours, in the same dialect (marked as extensions in the OpenAPI document): `/analytics/devices`,
`/analytics/campaigns/utm` and `/analytics/bots` take `days` from 1 to 90 (default 30, above 90
clamped, 0 is 400) and the first two `limit` (default 20, at most 100); `/analytics/sites` lists
the workspace's site keys, for the dashboard's snippet instructions.
"""
from __future__ import annotations

from typing import Any

from domain import leads, metrics, sites
from handlers.params import Choice, Integer, ParamError, Problem, Text, json_body
from handlers.surface import ApiError, Call, Dialect, Surface
from runtime import now_ms

LEAD_NOT_FOUND = "Lead not found"


class TrackingDialect(Dialect):
    name = "tracking"
    error_event = "analytics.error"
    missing_key = "API key required. Use Authorization: Bearer <key> or X-API-Key header."
    invalid_key = "Invalid API key"
    not_found = "Unknown analytics endpoint"
    server_error_message = "Analytics query failed"

    def describe(self, error: ParamError) -> str:
        if error.location == "path":
            return f"Invalid {error.name.replace('_', ' ')}"
        if error.location == "body":
            if error.problem is Problem.TOO_DEEP:
                return f"Invalid request body: nested deeper than {error.context['limit']} levels"
            if error.problem is Problem.INVALID:
                return f"Invalid request body: {error.name} {error.context['message']}"
            return "Invalid request body: expected a JSON object"
        if error.problem is Problem.NOT_CHOICE:
            return f"Invalid {error.name}: expected one of {', '.join(error.context['choices'])}"
        if error.problem is Problem.TOO_LONG:
            return f"Invalid {error.name}: at most {error.context['limit']} characters"
        if error.problem is Problem.TOO_SMALL:
            return f"Invalid {error.name}: expected an integer of at least {error.context['limit']}"
        return f"Invalid {error.name}: expected a non-negative integer"


api = Surface(TrackingDialect(), prefixes=("/analytics", "/analytics/{path:path}"))

DAYS = Integer(name="days", default=30, minimum=0, maximum=90, clamp=True, description="Number of days to look back")
PAGES_LIMIT = Integer(name="limit", default=20, minimum=0, maximum=100, clamp=True,
                      description="Number of pages to return")
LEADS_LIMIT = Integer(name="limit", default=25, minimum=0, maximum=100, clamp=True,
                      description="Number of leads to return")
OFFSET = Integer(name="offset", default=0, minimum=0, description="Pagination offset")
STATUS = Choice(name="status", choices=leads.PIPELINE_STATUSES, description="Filter by pipeline stage")
SORT = Choice(name="sort", choices=tuple(leads.SORTS), default="newest")
SEARCH = Text(name="q", max_length=1000, description="Search term (name, email, phone, project, visitor_id)")
# Past SQLite's integers no lead can exist; such an id is simply not found.
LEAD_ID = Integer(name="lead_id", location="path", minimum=0)
# The breakdowns (ours): a window of 1 to 90 days, the top `limit` values of each list.
BREAKDOWN_DAYS = Integer(name="days", default=30, minimum=1, maximum=90, clamp=True,
                         description="Number of days to look back, today included")
BREAKDOWN_LIMIT = Integer(name="limit", default=20, minimum=0, maximum=100, clamp=True,
                          description="Number of values to return in each list")


async def overview(call: Call) -> metrics.Overview:
    return await metrics.overview(call.env.DB, call.workspace_id)


async def daily_sessions(call: Call, days: int) -> list[metrics.DaySessions]:
    return await metrics.daily_sessions(call.env.DB, call.workspace_id, days, now_ms())


async def top_pages(call: Call, limit: int) -> list[metrics.PageViews]:
    return await metrics.top_pages(call.env.DB, call.workspace_id, limit)


async def geo(call: Call) -> list[metrics.CountrySessions]:
    return await metrics.countries(call.env.DB, call.workspace_id)


async def engagement(call: Call) -> list[metrics.EngagementBucket]:
    return await metrics.engagement(call.env.DB, call.workspace_id)


async def sources(call: Call) -> list[metrics.SourceSessions]:
    return await metrics.sources(call.env.DB, call.workspace_id)


async def realtime(call: Call) -> metrics.Realtime:
    return await metrics.realtime(call.env.DB, call.workspace_id, now_ms())


async def storage(call: Call) -> metrics.Storage:
    return await metrics.storage(call.env.DB, call.workspace_id)


async def devices(call: Call, days: int, limit: int) -> metrics.Devices:
    return await metrics.devices(call.env.DB, call.workspace_id, days, limit, now_ms())


async def utm_campaigns(call: Call, days: int, limit: int) -> metrics.UtmCampaigns:
    return await metrics.utm_campaigns(call.env.DB, call.workspace_id, days, limit, now_ms())


async def bots(call: Call, days: int) -> list[metrics.DayBotHits]:
    return await metrics.bot_days(call.env.DB, call.workspace_id, days, now_ms())


async def site_list(call: Call) -> list[sites.SiteSnippet]:
    return await sites.snippet_sites(call.env.DB, call.workspace_id)


async def lead_list(call: Call, limit: int, offset: int, status: str | None, sort: str, q: str | None
                    ) -> leads.LeadPage:
    return await leads.list_leads(call.env.DB, call.workspace_id, limit=limit, offset=offset, status=status,
                                  sort=sort, q=q)


async def lead_detail(call: Call, lead_id: int) -> leads.LeadDetail:
    detail = await leads.lead_detail(call.env.DB, call.workspace_id, lead_id)
    if detail is None:
        raise ApiError(404, LEAD_NOT_FOUND)
    return detail


async def update_lead_status(call: Call, lead_id: int) -> dict[str, Any]:
    body = json_body(await call.request.body())
    status = body.get("status")
    if status is None:
        raise ApiError(400, "status is required")
    if not isinstance(status, str):
        raise ApiError(400, "Invalid request body: status must be a string")
    status = status.strip().lower()
    if status not in leads.PIPELINE_STATUSES:
        raise ApiError(404, f"Invalid status: expected one of {', '.join(leads.PIPELINE_STATUSES)}")
    if not await leads.update_status(call.env.DB, call.workspace_id, lead_id, status, now_ms()):
        raise ApiError(404, LEAD_NOT_FOUND)
    return {"updated": True}


api.get("/analytics/overview", overview, response=metrics.Overview, summary="Overview")
api.get("/analytics/sessions/daily", daily_sessions, params=(DAYS,), response=list[metrics.DaySessions],
        summary="Daily sessions")
api.get("/analytics/pages/top", top_pages, params=(PAGES_LIMIT,), response=list[metrics.PageViews],
        summary="Top pages")
api.get("/analytics/geo", geo, response=list[metrics.CountrySessions], summary="Geo distribution")
api.get("/analytics/engagement", engagement, response=list[metrics.EngagementBucket],
        summary="Engagement distribution")
api.get("/analytics/sources", sources, response=list[metrics.SourceSessions], summary="Traffic sources")
api.get("/analytics/realtime", realtime, response=metrics.Realtime, summary="Realtime")
api.get("/analytics/storage", storage, response=metrics.Storage, summary="Storage")
api.get("/analytics/leads", lead_list, params=(LEADS_LIMIT, OFFSET, STATUS, SORT, SEARCH), response=leads.LeadPage,
        summary="Leads list")
api.get("/analytics/leads/{lead_id}", lead_detail, params=(LEAD_ID,), response=leads.LeadDetail,
        summary="Lead detail")
api.patch("/analytics/leads/{lead_id}", update_lead_status, params=(LEAD_ID,),
          body={"type": "object", "required": ["status"],
                "properties": {"status": {"type": "string", "enum": list(leads.PIPELINE_STATUSES)}}},
          example={"status": "contacted"},
          response={"type": "object", "properties": {"updated": {"type": "boolean"}}},
          summary="Update lead status")
# Ours, beyond the document, in its dialect: what Plausible and Umami users expect to see.
api.get("/analytics/devices", devices, params=(BREAKDOWN_DAYS, BREAKDOWN_LIMIT), response=metrics.Devices,
        summary="Devices, browsers and operating systems", extension=True)
api.get("/analytics/campaigns/utm", utm_campaigns, params=(BREAKDOWN_DAYS, BREAKDOWN_LIMIT),
        response=metrics.UtmCampaigns, summary="UTM sources, mediums and campaigns", extension=True)
api.get("/analytics/bots", bots, params=(BREAKDOWN_DAYS,), response=list[metrics.DayBotHits],
        summary="Bot hits per day", extension=True)
api.get("/analytics/sites", site_list, response=list[sites.SiteSnippet],
        summary="Sites and their snippet keys", extension=True)
