"""The dashboard surface, `/analytics/*`, exactly as tracking-analytics-api.md speaks it.

Every request is authenticated first (an unauthenticated caller learns nothing, not even which
paths exist), then routed: an unknown path is 404, a known path with another method 405.
Numbers come from domain.metrics; the leads CRM queries live here.

Parameters, beyond what the document states:
- `days`, `limit`, `offset` take digits only; anything else (a sign, a fraction, a word) is 400.
  A value above the maximum is clamped to it; 0 is valid and returns no rows (`total` still
  counts every match). A parameter given empty is the same as leaving it out.
- `days=N` is today (UTC) and the N-1 UTC days before it, oldest first, each day present with
  zeros when it had no sessions, so a chart gets one point per day.
- `status` (one of the six stages) and `sort` (one of the eight keys) are case-insensitive;
  any other value is 400 naming the parameter and the allowed values.
- `q` matches name, email, phone, project and visitor id as a substring; case is ignored for
  ASCII letters (SQLite's LIKE).
- Deleted leads (`deleted_at` set) are left out of the list, the detail and the update.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from domain import auth, metrics
from runtime import Env, ExecutionContext, endpoint, log_event, now_ms

MISSING_KEY = "API key required. Use Authorization: Bearer <key> or X-API-Key header."
INVALID_KEY = "Invalid API key"
QUERY_FAILED = "Analytics query failed"

DAYS_DEFAULT, DAYS_MAX = 30, 90
PAGES_DEFAULT, PAGES_MAX = 20, 100
LEADS_DEFAULT, LEADS_MAX = 25, 100
STATUSES = ("new", "contacted", "qualified", "proposal", "won", "lost")
_BEYOND_ANY_ROW = 10**15  # an offset past every possible row; also keeps SQLite's 64-bit integers happy
_DIGITS = re.compile(r"[0-9]+")

Action = Callable[[Request, Env, str], Awaitable[Any]]


class AnalyticsError(Exception):
    """An answer in this surface's dialect: a status and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- parameters --------------------------------------------------------------------------


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def _count_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = _param(request, name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise AnalyticsError(400, f"Invalid {name}: expected a non-negative integer")
    value = int(raw) if len(raw) <= 15 else _BEYOND_ANY_ROW
    return min(value, maximum) if maximum is not None else value


def _choice(request: Request, name: str, allowed: Mapping[str, str] | tuple[str, ...]) -> str | None:
    raw = _param(request, name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value not in allowed:
        raise AnalyticsError(400, f"Invalid {name}: expected one of {', '.join(allowed)}")
    return value


def _lead_id(request: Request) -> int | None:
    """The path's lead id; None for a well-formed id no lead can have (past SQLite's integers)."""
    raw = request.path_params["lead_id"]
    if not _DIGITS.fullmatch(raw):
        raise AnalyticsError(400, "Invalid lead id")
    return int(raw) if len(raw) <= 18 else None


def _datetime(epoch_ms: int | None) -> str | None:
    """The document's "YYYY-MM-DD HH:MM:SS", UTC."""
    if epoch_ms is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_ms // 1000))


# --- dashboard endpoints -------------------------------------------------------------------


async def overview(request: Request, env: Env, workspace_id: str) -> Any:
    return await metrics.overview(env.DB, workspace_id)


async def daily_sessions(request: Request, env: Env, workspace_id: str) -> Any:
    days = _count_param(request, "days", DAYS_DEFAULT, DAYS_MAX)
    return await metrics.daily_sessions(env.DB, workspace_id, days, now_ms())


async def top_pages(request: Request, env: Env, workspace_id: str) -> Any:
    limit = _count_param(request, "limit", PAGES_DEFAULT, PAGES_MAX)
    return await metrics.top_pages(env.DB, workspace_id, limit)


async def geo(request: Request, env: Env, workspace_id: str) -> Any:
    return await metrics.countries(env.DB, workspace_id)


async def engagement(request: Request, env: Env, workspace_id: str) -> Any:
    return await metrics.engagement(env.DB, workspace_id)


async def sources(request: Request, env: Env, workspace_id: str) -> Any:
    return await metrics.sources(env.DB, workspace_id)


async def realtime(request: Request, env: Env, workspace_id: str) -> Any:
    return await metrics.realtime(env.DB, workspace_id, now_ms())


async def storage(request: Request, env: Env, workspace_id: str) -> Any:
    return await metrics.storage(env.DB, workspace_id)


# --- leads -------------------------------------------------------------------------------

_LEAD_FIELDS = (
    "l.lead_id, coalesce(l.enquiry_at, l.created_at) AS enquiry_at, l.contact_name, l.email, l.phone,"
    " l.project_name, l.project_location, l.project_source, l.country, l.city, l.visitor_id, l.session_id,"
    " l.engagement_score, l.engagement_label, l.form_submit_count, l.suspicion_score,"
    " coalesce(f.follow_ups, 0) AS follow_ups, f.last_follow_up_at, l.status"
)
_FOLLOW_UPS_JOIN = " LEFT JOIN lead_follow_ups f ON f.lead_id = l.lead_id"
_LEADS_FROM = f" FROM leads l{_FOLLOW_UPS_JOIN}"
_LEADS_WHERE = " WHERE l.workspace_id = ? AND l.deleted_at IS NULL"
_STATUS_FILTER = " AND l.status = ?"
_SEARCH_COLUMNS = ("l.contact_name", "l.email", "l.phone", "l.project_name", "l.visitor_id")
_SEARCH_FILTER = " AND (" + " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for column in _SEARCH_COLUMNS) + ")"
_NEWEST = "coalesce(l.enquiry_at, l.created_at) DESC, l.lead_id DESC"
# Every sort ends on a unique key, so pages never overlap or skip a lead. Each matches one of
# migration 0002's leads_list_* indexes, so a page is found by walking an index, not by sorting.
SORTS: dict[str, str] = {
    "newest": _NEWEST,
    "oldest": "coalesce(l.enquiry_at, l.created_at), l.lead_id",
    "last_follow_up": f"f.last_follow_up_at IS NULL, f.last_follow_up_at DESC, {_NEWEST}",
    "score_desc": f"l.engagement_score DESC, {_NEWEST}",
    "score_asc": f"l.engagement_score, {_NEWEST}",
    "risk_desc": f"l.suspicion_score DESC, {_NEWEST}",
    "risk_asc": f"l.suspicion_score, {_NEWEST}",
    "name_asc": "l.contact_name IS NULL, l.contact_name COLLATE NOCASE, l.lead_id",
}
# The follow-up order lives in another table, so no index gives it; reading the leads through
# the narrow newest index and sorting those few columns beats the planner's own pick by 4x.
_FOLLOW_UP_SCAN = " INDEXED BY leads_list_newest"
# The page's lead ids first (sorting only sort keys), then the full rows of those few leads.
_LEADS_PAGE = (
    "WITH page AS MATERIALIZED (SELECT l.lead_id FROM leads l{scan}" + _FOLLOW_UPS_JOIN
    + "{where} ORDER BY {order} LIMIT ? OFFSET ?)"
    f" SELECT {_LEAD_FIELDS} FROM page CROSS JOIN leads l ON l.lead_id = page.lead_id{_FOLLOW_UPS_JOIN}"
    " ORDER BY {order}"
)
_LEAD = f"SELECT {_LEAD_FIELDS}{_LEADS_FROM}{_LEADS_WHERE} AND l.lead_id = ?"
# CROSS JOIN fixes the join order: from the lead's few visitors into sessions by visitor, rather
# than walking every session of the workspace in start order. The lead's submissions come by
# lead (submissions_visitor would walk every submission of the workspace).
_LEAD_SESSIONS = (
    "WITH lead_visitors (visitor_id) AS ("
    " SELECT visitor_id FROM submissions INDEXED BY submissions_lead"
    " WHERE lead_id = ?2 AND workspace_id = ?1 AND visitor_id IS NOT NULL"
    " UNION SELECT ?3)"
    " SELECT s.session_id, s.visitor_id, s.entry_page, s.exit_page, s.country, s.started_at, s.ended_at,"
    " s.duration_ms AS duration, s.engagement_score, s.event_count"
    " FROM lead_visitors v CROSS JOIN sessions s ON s.workspace_id = ?1 AND s.visitor_id = v.visitor_id"
    " ORDER BY s.started_at, s.session_id"
)
_LEAD_SUBMISSIONS = (
    "SELECT submission_id, lead_id, submitted_at, project_name, visitor_id, session_id, contact_email,"
    " contact_phone, contact_ip, source, referer, cta_name, is_primary_lead, is_duplicate_window, payload_json"
    " FROM submissions WHERE lead_id = ? AND workspace_id = ? ORDER BY submitted_at, submission_id"
)
_UPDATE_STATUS = (
    "UPDATE leads SET status = ?, updated_at = ? WHERE lead_id = ? AND workspace_id = ? AND deleted_at IS NULL"
)


def lead_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead as the list and the detail show it, from a row with the columns of `_LEAD_FIELDS`."""
    return {
        "lead_id": row["lead_id"],
        "enquiry_datetime": _datetime(row["enquiry_at"]),
        "contact_name": row["contact_name"],
        "contact_email": row["email"],
        "contact_phone": row["phone"],
        "project_name": row["project_name"],
        "project_location": row["project_location"],
        "project_source": row["project_source"],
        "contact_country_name": row["country"],
        "contact_city": row["city"],
        "visitor_id": row["visitor_id"],
        "session_id": row["session_id"],
        "engagement_score": row["engagement_score"],
        "engagement_label": row["engagement_label"],
        "form_submit_count": row["form_submit_count"],
        "suspicion_score": row["suspicion_score"],
        "follow_ups_count": row["follow_ups"],
        "last_follow_up_at": _datetime(row["last_follow_up_at"]),
        "status": row["status"],
    }


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def leads(request: Request, env: Env, workspace_id: str) -> Any:
    limit = _count_param(request, "limit", LEADS_DEFAULT, LEADS_MAX)
    offset = _count_param(request, "offset", 0)
    status = _choice(request, "status", STATUSES)
    sort = _choice(request, "sort", SORTS) or "newest"
    q = _param(request, "q")
    # Only fixed fragments shape the SQL; every value is bound.
    where, params = _LEADS_WHERE, [workspace_id]
    if q is not None:
        where += _SEARCH_FILTER
        params.extend([_like_pattern(q)] * len(_SEARCH_COLUMNS))
    if status is not None:
        where += _STATUS_FILTER
        params.append(status)
    total = await env.DB.prepare(f"SELECT count(*) AS n FROM leads l{where}").bind(*params).first("n")
    rows: list[dict[str, Any]] = []
    if limit > 0 and offset < total:
        scan = _FOLLOW_UP_SCAN if sort == "last_follow_up" and status is None else ""
        page = _LEADS_PAGE.format(scan=scan, where=where, order=SORTS[sort])
        rows = (await env.DB.prepare(page).bind(*params, limit, offset).all()).results
    return {"leads": [lead_item(row) for row in rows], "total": total}


async def lead_detail(request: Request, env: Env, workspace_id: str) -> Any:
    lead_id = _lead_id(request)
    row = None if lead_id is None else await env.DB.prepare(_LEAD).bind(workspace_id, lead_id).first()
    if row is None:
        raise AnalyticsError(404, "Lead not found")
    sessions = await env.DB.prepare(_LEAD_SESSIONS).bind(workspace_id, lead_id, row["visitor_id"]).all()
    submissions = await env.DB.prepare(_LEAD_SUBMISSIONS).bind(lead_id, workspace_id).all()
    return {
        "lead": lead_item(row),
        "sessions": sessions.results,
        "submissions": [{**s, "submitted_at": _datetime(s["submitted_at"])} for s in submissions.results],
    }


async def update_lead_status(request: Request, env: Env, workspace_id: str) -> Any:
    lead_id = _lead_id(request)
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise AnalyticsError(400, "Invalid request body: expected a JSON object") from None
    if not isinstance(body, dict):
        raise AnalyticsError(400, "Invalid request body: expected a JSON object")
    if "status" not in body or body["status"] is None:
        raise AnalyticsError(400, "status is required")
    if not isinstance(body["status"], str):
        raise AnalyticsError(400, "Invalid request body: status must be a string")
    status = body["status"].strip().lower()
    if status not in STATUSES:
        raise AnalyticsError(404, f"Invalid status: expected one of {', '.join(STATUSES)}")
    if lead_id is None:
        raise AnalyticsError(404, "Lead not found")
    result = await env.DB.prepare(_UPDATE_STATUS).bind(status, now_ms(), lead_id, workspace_id).run()
    if result.meta["changes"] == 0:
        raise AnalyticsError(404, "Lead not found")
    return {"updated": True}


# --- routing -----------------------------------------------------------------------------


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _surface(actions: Mapping[str, Action]) -> Callable[[Request, Env, ExecutionContext], Awaitable[Response]]:
    """One path of the surface: authenticate, check the method, answer in the document's dialect."""
    allowed = ", ".join(actions)

    async def analytics(request: Request, env: Env, ctx: ExecutionContext) -> Response:
        principal = await auth.authenticate(request, env)
        if principal is auth.AuthFailure.MISSING:
            return _error(401, MISSING_KEY)
        if isinstance(principal, auth.AuthFailure):
            return _error(401, INVALID_KEY)
        request.state.workspace_id = principal.workspace_id
        action = actions.get("GET" if request.method == "HEAD" else request.method)
        if action is None:
            if not actions:
                return _error(404, "Unknown analytics endpoint")
            return _error(405, "Method not allowed", {"Allow": allowed})
        try:
            return JSONResponse(await action(request, env, principal.workspace_id))
        except AnalyticsError as error:
            return _error(error.status, error.message)
        except Exception as exc:  # the client gets a fixed message; the details go to the log only
            log_event("analytics.error", route=request.url.path, workspaceId=principal.workspace_id,
                      error=repr(exc))
            return _error(500, QUERY_FAILED)

    return analytics


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _route(path: str, actions: Mapping[str, Action]) -> Route:
    return Route(path, endpoint(_surface(actions)), methods=_METHODS)


routes: list[BaseRoute] = [
    _route("/analytics/overview", {"GET": overview}),
    _route("/analytics/sessions/daily", {"GET": daily_sessions}),
    _route("/analytics/pages/top", {"GET": top_pages}),
    _route("/analytics/geo", {"GET": geo}),
    _route("/analytics/engagement", {"GET": engagement}),
    _route("/analytics/sources", {"GET": sources}),
    _route("/analytics/realtime", {"GET": realtime}),
    _route("/analytics/storage", {"GET": storage}),
    _route("/analytics/leads", {"GET": leads}),
    _route("/analytics/leads/{lead_id}", {"GET": lead_detail, "PATCH": update_lead_status}),
    _route("/analytics", {}),
    _route("/analytics/{path:path}", {}),
]
