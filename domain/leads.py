"""Leads: the rules every surface shares, and the reads of the dashboard's leads CRM.

| rule | definition |
| --- | --- |
| visible | `deleted_at IS NULL`; a deleted lead is in no list, detail, update or match |
| pipeline status | one of `new`, `contacted`, `qualified`, `proposal`, `won`, `lost` (new leads are `new`) |
| email | trimmed and lowercased; counts only when it looks like `local@domain.tld` |
| phone | digits only, a leading `+` (or `00`) kept as `+`; 7 to 15 digits |
| same contact | the same normalised email, or phones whose last 10 digits agree (`+91 98765 43210` = `098765-43210`) |
| matching lead | the oldest visible lead of the workspace with the same email, else the same phone |
| list order | each sort ends on a unique key (`lead_id`), so pages never overlap or skip a lead |
| search | `q` is a substring of name, email, phone, project or visitor id; ASCII case ignored (SQLite LIKE) |

The leads list, detail and status update answer in the tracking document's shapes (snake_case,
`YYYY-MM-DD HH:MM:SS` datetimes); other surfaces read the same rows in their own words.
"""
from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any, TypedDict

from domain.dates import sql_datetime
from storage.d1 import D1Database

PIPELINE_STATUSES = ("new", "contacted", "qualified", "proposal", "won", "lost")
PHONE_MATCH_DIGITS = 10
VISIBLE = "deleted_at IS NULL"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def normalise_email(raw: str | None) -> str | None:
    email = (raw or "").strip().lower()
    return email if _EMAIL.fullmatch(email) else None


def normalise_phone(raw: str | None) -> str | None:
    text = (raw or "").strip()
    digits = "".join(c for c in text if c.isdigit())
    international = text.startswith("+")
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if not 7 <= len(digits) <= 15:
        return None
    return "+" + digits if international else digits


def phone_match_key(phone: str) -> str:
    """What two phones must share to be the same contact; stored as `leads.phone_norm`."""
    return phone.lstrip("+")[-PHONE_MATCH_DIGITS:]


# --- matching ------------------------------------------------------------------------------

# Email first, then phone: the column names are fixed here, never taken from input.
_MATCH = {
    column: f"SELECT lead_id FROM leads WHERE workspace_id = ? AND {column} = ? AND {VISIBLE} ORDER BY lead_id LIMIT 1"
    for column in ("email_norm", "phone_norm")
}
_MATCHING = (
    "SELECT * FROM leads WHERE workspace_id = ?1 AND lead_id != ?2 AND " + VISIBLE
    + " AND ((?3 IS NOT NULL AND email_norm = ?3) OR (?4 IS NOT NULL AND phone_norm = ?4)) ORDER BY lead_id"
)


def find_match(conn: sqlite3.Connection, workspace_id: str, email: str | None, phone_key: str | None) -> int | None:
    """The matching lead's id for a normalised email and phone key, inside a write transaction."""
    for column, value in (("email_norm", email), ("phone_norm", phone_key)):
        if value is not None:
            row = conn.execute(_MATCH[column], (workspace_id, value)).fetchone()
            if row is not None:
                return int(row[0])
    return None


async def matching_leads(db: D1Database, workspace_id: str, lead_id: int, email_norm: str | None,
                         phone_norm: str | None) -> list[dict[str, Any]]:
    """Other visible leads of the workspace that are the same contact (same email or phone), oldest first."""
    if email_norm is None and phone_norm is None:
        return []
    return (await db.prepare(_MATCHING).bind(workspace_id, lead_id, email_norm, phone_norm).all()).results


# --- creating ------------------------------------------------------------------------------

# Columns a new lead may be given besides its contact; names are fixed here, never taken from input.
_CREATE_COLUMNS = frozenset({
    "site_id", "status", "source", "enquiry_at", "contact_name", "first_name", "last_name", "business_name",
    "website", "project_name", "project_source", "external_lead_id", "is_test",
})


def create_lead(conn: sqlite3.Connection, workspace_id: str, now: int, *, email: str | None = None,
                phone: str | None = None, **columns: object) -> int:
    """Insert a new lead (status `new` unless given) inside a write transaction; its integer id.

    `email` and `phone` are stored as given with their normalised forms beside them, so the
    lead is found by `find_match` from then on.
    """
    unknown = set(columns) - _CREATE_COLUMNS
    if unknown:
        raise ValueError(f"unknown lead columns: {sorted(unknown)}")
    normalised_email = normalise_email(email)
    normalised_phone = normalise_phone(phone)
    values: dict[str, object] = {
        "id": str(uuid.uuid4()), "workspace_id": workspace_id, "created_at": now, "updated_at": now,
        "email": email.strip() if normalised_email and email else None, "email_norm": normalised_email,
        "phone": normalised_phone, "phone_norm": phone_match_key(normalised_phone) if normalised_phone else None,
        **columns,
    }
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    lead_id = conn.execute(f"INSERT INTO leads ({names}) VALUES ({marks})", tuple(values.values())).lastrowid
    assert lead_id is not None
    return lead_id


# --- the leads CRM (tracking document) -----------------------------------------------------


class DashboardLead(TypedDict):
    lead_id: int
    enquiry_datetime: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    project_name: str | None
    project_location: str | None
    project_source: str | None
    contact_country_name: str | None
    contact_city: str | None
    visitor_id: str | None
    session_id: str | None
    engagement_score: int
    engagement_label: str
    form_submit_count: int
    suspicion_score: int
    follow_ups_count: int
    last_follow_up_at: str | None
    status: str


class LeadPage(TypedDict):
    leads: list[DashboardLead]
    total: int


class LeadSession(TypedDict):
    session_id: str
    visitor_id: str
    entry_page: str | None
    exit_page: str | None
    country: str | None
    started_at: int
    ended_at: int | None
    duration: int
    engagement_score: int
    event_count: int


class LeadSubmission(TypedDict):
    submission_id: int
    lead_id: int
    submitted_at: str | None
    project_name: str | None
    visitor_id: str | None
    session_id: str | None
    contact_email: str | None
    contact_phone: str | None
    contact_ip: str | None
    source: str | None
    referer: str | None
    cta_name: str | None
    is_primary_lead: int
    is_duplicate_window: int
    payload_json: str


class DetailLead(DashboardLead):
    """The detail's lead: also its UUID, the lead's id on the lead-record surface (`/api/v1/leads/:id`)."""

    uuid: str


class LeadDetail(TypedDict):
    lead: DetailLead
    sessions: list[LeadSession]
    submissions: list[LeadSubmission]


_LEAD_FIELDS = (
    "l.lead_id, coalesce(l.enquiry_at, l.created_at) AS enquiry_at, l.contact_name, l.email, l.phone,"
    " l.project_name, l.project_location, l.project_source, l.country, l.city, l.visitor_id, l.session_id,"
    " l.engagement_score, l.engagement_label, l.form_submit_count, l.suspicion_score,"
    " coalesce(f.follow_ups, 0) AS follow_ups, f.last_follow_up_at, l.status"
)
_FOLLOW_UPS_JOIN = " LEFT JOIN lead_follow_ups f ON f.lead_id = l.lead_id"
_LEADS_WHERE = f" WHERE l.workspace_id = ? AND l.{VISIBLE}"
_STATUS_FILTER = " AND l.status = ?"
_SEARCH_COLUMNS = ("l.contact_name", "l.email", "l.phone", "l.project_name", "l.visitor_id")
_SEARCH_FILTER = " AND (" + " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for column in _SEARCH_COLUMNS) + ")"
_NEWEST = "coalesce(l.enquiry_at, l.created_at) DESC, l.lead_id DESC"
# Each matches one of migration 0002's leads_list_* indexes, so a page is found by walking an
# index, not by sorting.
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
_LEAD = f"SELECT {_LEAD_FIELDS}, l.id FROM leads l{_FOLLOW_UPS_JOIN}{_LEADS_WHERE} AND l.lead_id = ?"
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
_UPDATE_STATUS = f"UPDATE leads SET status = ?, updated_at = ? WHERE lead_id = ? AND workspace_id = ? AND {VISIBLE}"


def dashboard_lead(row: Mapping[str, Any]) -> DashboardLead:
    """A lead as the tracking document's list and detail show it, from a row of `_LEAD_FIELDS`."""
    return {
        "lead_id": row["lead_id"],
        "enquiry_datetime": sql_datetime(row["enquiry_at"]),
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
        "last_follow_up_at": sql_datetime(row["last_follow_up_at"]),
        "status": row["status"],
    }


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_leads(db: D1Database, workspace_id: str, *, limit: int, offset: int, status: str | None = None,
                     sort: str = "newest", q: str | None = None) -> LeadPage:
    """A page of the workspace's visible leads; `total` counts every match, whatever the page."""
    # Only fixed fragments shape the SQL; every value is bound.
    where, params = _LEADS_WHERE, [workspace_id]
    if q is not None:
        where += _SEARCH_FILTER
        params.extend([_like_pattern(q)] * len(_SEARCH_COLUMNS))
    if status is not None:
        where += _STATUS_FILTER
        params.append(status)
    total = await db.prepare(f"SELECT count(*) AS n FROM leads l{where}").bind(*params).first("n")
    rows: list[dict[str, Any]] = []
    if limit > 0 and offset < total:
        scan = _FOLLOW_UP_SCAN if sort == "last_follow_up" and status is None else ""
        page = _LEADS_PAGE.format(scan=scan, where=where, order=SORTS[sort])
        rows = (await db.prepare(page).bind(*params, limit, offset).all()).results
    return {"leads": [dashboard_lead(row) for row in rows], "total": total}


async def lead_detail(db: D1Database, workspace_id: str, lead_id: int) -> LeadDetail | None:
    """A visible lead with the sessions of every visitor that submitted its forms, and its submissions."""
    row = await db.prepare(_LEAD).bind(workspace_id, lead_id).first()
    if row is None:
        return None
    sessions = await db.prepare(_LEAD_SESSIONS).bind(workspace_id, lead_id, row["visitor_id"]).all()
    submissions = await db.prepare(_LEAD_SUBMISSIONS).bind(lead_id, workspace_id).all()
    return {
        "lead": {**dashboard_lead(row), "uuid": row["id"]},
        "sessions": sessions.results,  # type: ignore[typeddict-item]
        "submissions": [{**s, "submitted_at": sql_datetime(s["submitted_at"])}  # type: ignore[misc]
                        for s in submissions.results],
    }


async def update_status(db: D1Database, workspace_id: str, lead_id: int, status: str, now: int) -> bool:
    """Move a visible lead to another pipeline stage; False when the workspace has no such lead."""
    if status not in PIPELINE_STATUSES:
        raise ValueError(f"unknown pipeline status {status!r}")
    result = await db.prepare(_UPDATE_STATUS).bind(status, now, lead_id, workspace_id).run()
    return bool(result.meta["changes"])
