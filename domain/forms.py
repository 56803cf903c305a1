"""Form submissions into leads: the writes ingestion makes for each `form_submit` event.

- A submission needs a usable email or phone (domain.leads normalises both) to become a lead.
  It joins the workspace's matching lead (domain.leads.find_match), else a new lead (status `new`).
- The first submission of a lead is `is_primary_lead`; a later one within the site's
  duplicate window (default 24 h) of the lead's previous submission is `is_duplicate_window`.
- The lead keeps the latest non-empty contact and project fields, country and city, the latest
  visitor and session, `form_submit_count`, `enquiry_at` (its first submission), the best
  engagement score of its visitors' sessions with its label, and the highest suspicion score
  any of its submissions reached (see domain.suspicion). `contact_ip` stays on the submission.
- Fields that look like passwords, card numbers or other secrets are never stored.

The functions taking a `sqlite3.Connection` run inside the ingestion writer's transaction.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from domain.engagement import engagement_label
from domain.leads import create_lead, find_match, normalise_email, normalise_phone, phone_match_key
from domain.suspicion import (
    SHARED_FINGERPRINT_WINDOW_MS,
    SuspicionSignals,
    is_disposable_email,
    suspicion_score,
)
from storage.d1 import select_in

SOURCE = "WebSite"

_SENSITIVE = re.compile(r"(^|[^a-z])cc[-_ ]|card|cvv|cvc|csc|iban|ssn|passw|secret|token")
_CANONICAL = (
    ("email", re.compile(r"e-?mail")),
    ("phone", re.compile(r"phone|mobile|whatsapp|(^|[^a-z])tel")),
    ("message", re.compile(r"message|comment|enquiry|inquiry|question")),
    ("project", re.compile(r"project|property")),
)
_NAME = re.compile(r"name")
_NOT_A_PERSON = re.compile(r"user|company|business|org")


def canonical_field(key: str) -> str | None:
    """Which canonical field (name, email, phone, project, message) a form input's name means."""
    key = key.lower()
    for field, pattern in _CANONICAL:
        if pattern.search(key):
            return field
    if _NAME.search(key) and not _NOT_A_PERSON.search(key):
        return "name"
    return None


def is_sensitive_field(key: str, value: str) -> bool:
    """Passwords, card numbers and the like are never stored, whatever the snippet sent."""
    if _SENSITIVE.search(key.lower()) is not None:
        return True
    # A phone with its country code can be 13 digits and pass the card checksum by chance.
    return canonical_field(key) != "phone" and _card_like(value)


def _card_like(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


@dataclass(frozen=True)
class FormSubmission:
    workspace_id: str
    site_id: int
    event_id: str
    submitted_at: int
    session_id: str
    visitor_id: str
    fingerprint: str | None
    name: str | None
    email: str | None
    phone: str | None
    project: str | None
    contact_ip: str | None
    page_url: str
    form: str
    fill_ms: int | None
    payload_json: str
    country: str | None
    city: str | None
    vpn_suspected: bool
    duplicate_window_ms: int


@dataclass(frozen=True)
class SubmissionResult:
    lead_id: int
    submission_id: int
    is_primary_lead: bool
    is_duplicate_window: bool


_LEAD_COLUMNS = (
    "lead_id, contact_name, first_name, last_name, email, email_norm, phone, phone_norm, project_name, "
    "country, city, engagement_score, suspicion_score, enquiry_at"
)


def record_submission(conn: sqlite3.Connection, sub: FormSubmission, now: int) -> SubmissionResult | None:
    """Link a submission to its lead (matched or new); None when it has no usable email or phone."""
    email = normalise_email(sub.email)
    phone = normalise_phone(sub.phone)
    if email is None and phone is None:
        return None
    phone_key = phone_match_key(phone) if phone else None
    matched = find_match(conn, sub.workspace_id, email, phone_key)
    if matched is None:
        lead_id = create_lead(conn, sub.workspace_id, now, site_id=sub.site_id, enquiry_at=sub.submitted_at,
                              project_source=SOURCE)
        previous = None
    else:
        lead_id = matched
        previous = conn.execute("SELECT max(submitted_at) FROM submissions WHERE lead_id = ?", (lead_id,)).fetchone()[0]
    lead = _lead(conn, lead_id)
    primary = previous is None
    duplicate = previous is not None and abs(sub.submitted_at - previous) < sub.duplicate_window_ms

    fingerprint_leads = 1
    if sub.fingerprint:
        fingerprint_leads += conn.execute(
            "SELECT count(DISTINCT lead_id) FROM submissions"
            " WHERE workspace_id = ? AND fingerprint = ? AND submitted_at > ? AND lead_id != ?",
            (sub.workspace_id, sub.fingerprint, sub.submitted_at - SHARED_FINGERPRINT_WINDOW_MS, lead_id),
        ).fetchone()[0]
    suspicion = suspicion_score(SuspicionSignals(
        vpn_suspected=sub.vpn_suspected, fill_ms=sub.fill_ms, fingerprint_leads=fingerprint_leads,
        disposable_email=is_disposable_email(email),
    ))
    visitor_best = conn.execute(
        "SELECT max(engagement_score) FROM sessions WHERE workspace_id = ? AND visitor_id = ?",
        (sub.workspace_id, sub.visitor_id),
    ).fetchone()[0] or 0
    engagement = max(lead["engagement_score"], visitor_best)

    submission_id = conn.execute(
        "INSERT INTO submissions (workspace_id, lead_id, site_id, event_id, submitted_at, session_id, visitor_id,"
        " fingerprint, contact_name, contact_email, contact_phone, contact_ip, project_name, source, referer,"
        " cta_name, fill_ms, is_primary_lead, is_duplicate_window, payload_json)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sub.workspace_id, lead_id, sub.site_id, sub.event_id, sub.submitted_at, sub.session_id, sub.visitor_id,
         sub.fingerprint, sub.name, sub.email, sub.phone, sub.contact_ip, sub.project, SOURCE, sub.page_url,
         sub.form, sub.fill_ms, int(primary), int(duplicate), sub.payload_json),
    ).lastrowid
    assert submission_id is not None

    first_name, last_name = _split_name(sub.name) if sub.name else (lead["first_name"], lead["last_name"])
    conn.execute(
        "UPDATE leads SET updated_at = ?, enquiry_at = ?, contact_name = ?, first_name = ?, last_name = ?,"
        " email = ?, email_norm = ?, phone = ?, phone_norm = ?, project_name = ?, country = ?, city = ?,"
        " visitor_id = ?, session_id = ?, engagement_score = ?, engagement_label = ?,"
        " form_submit_count = form_submit_count + 1, suspicion_score = ? WHERE lead_id = ?",
        (now, min(lead["enquiry_at"] or sub.submitted_at, sub.submitted_at), sub.name or lead["contact_name"],
         first_name, last_name, email or lead["email"], email or lead["email_norm"], phone or lead["phone"],
         phone_key or lead["phone_norm"], sub.project or lead["project_name"], sub.country or lead["country"],
         sub.city or lead["city"], sub.visitor_id, sub.session_id, engagement, engagement_label(engagement),
         max(lead["suspicion_score"], suspicion), lead_id),
    )
    return SubmissionResult(lead_id=lead_id, submission_id=submission_id, is_primary_lead=primary,
                            is_duplicate_window=duplicate)


def raise_engagement(conn: sqlite3.Connection, scores: Iterable[tuple[str, str, int]], now: int) -> None:
    """A visitor's session scored higher: every lead that visitor submitted a form for takes the better score.

    Most visitors never submitted one, so those who did are found first, with one query per
    workspace and chunk of visitors; the update, whose subquery SQLite gathers into a temporary
    index each time it runs, runs only for them."""
    scores = list(scores)
    visitors: dict[str, set[str]] = {}
    for workspace_id, visitor_id, _ in scores:
        visitors.setdefault(workspace_id, set()).add(visitor_id)
    sql = "SELECT DISTINCT visitor_id FROM submissions WHERE workspace_id = ? AND visitor_id IN ({})"
    submitted = {(workspace_id, visitor_id) for workspace_id, ids in visitors.items()
                 for (visitor_id,) in select_in(conn, sql, workspace_id, ids)}
    conn.executemany(
        "UPDATE leads SET engagement_score = ?1, engagement_label = ?2, updated_at = ?3"
        " WHERE lead_id IN (SELECT lead_id FROM submissions WHERE workspace_id = ?4 AND visitor_id = ?5)"
        " AND engagement_score < ?1",
        [(score, engagement_label(score), now, workspace_id, visitor_id)
         for workspace_id, visitor_id, score in scores if (workspace_id, visitor_id) in submitted],
    )


def _lead(conn: sqlite3.Connection, lead_id: int) -> sqlite3.Row:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    row: sqlite3.Row = cursor.execute(f"SELECT {_LEAD_COLUMNS} FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
    return row


def _split_name(name: str) -> tuple[str, str | None]:
    first, _, rest = name.strip().partition(" ")
    return first, rest.strip() or None
