"""Per-lead analytics, `GET /api/v0/analytics`, as lead-analytics-api.md speaks.

Errors are handlers.lead_dialect's. Beyond what the document states:

- `start` and `end` are ISO 8601 dates or date-times (a date alone is its midnight UTC, no
  offset means UTC), both inclusive; they are echoed exactly as sent.
- 400 for a value that is not one, `end` before `start`, a `format` other than `json`/`csv`
  (any case), a `token` we did not issue (or issued for another `start`/`end`), a `token`
  with `format=csv`, and any parameter the document does not list.
- `format=csv` writes the file before answering; its link and the object expire after an hour.

Numbers and their definitions: domain.lead_analytics; the CSV: domain.exports.
"""
from __future__ import annotations

from domain import exports, lead_analytics
from domain.exports import ExportLink
from domain.lead_analytics import AnalyticsPage
from handlers.lead_dialect import DIALECT, domain_errors
from handlers.params import Choice, Instant, InstantParam, ParamError, Problem, Text
from handlers.surface import Call, Surface
from runtime import now_ms

api = Surface(DIALECT, prefixes=("/api/v0/analytics", "/api/v0/analytics/{path:path}"))

START = InstantParam(name="start", description="ISO 8601 datetime (e.g. 2026-03-14T00:00:00Z). Filters leads by createdAt.")
END = InstantParam(name="end", description="ISO 8601 datetime. Must be on or after start when both are provided.")
FORMAT = Choice(name="format", choices=("json", "csv"), default="json", description="Response format")
TOKEN = Text(name="token", max_length=1024, arg="token",
             description="Pagination token returned as nextToken on a prior request (format=json only)")


async def analytics(call: Call, start: Instant | None, end: Instant | None, format: str, token: str | None
                    ) -> AnalyticsPage | ExportLink:
    with domain_errors("query"):
        leads = lead_analytics.lead_filter(call.workspace_id, start.ms if start else None, end.ms if end else None)
        if format == "csv":
            if token is not None:
                raise ParamError("query", "token", Problem.INVALID, message="is only used with format=json")
            return await exports.export_csv(call.env.DB, call.env.EXPORTS, leads, now_ms())
        return await lead_analytics.analytics_page(call.env.DB, leads, start.text if start else None,
                                                   end.text if end else None, token)


api.get("/api/v0/analytics", analytics, params=(START, END, FORMAT, TOKEN), response=AnalyticsPage | ExportLink,
        summary="Get Analytics")
