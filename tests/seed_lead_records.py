"""Lead records, checklists, messages and action logs of the seeded fixture (tests/seed.py), written
through the domain as the lead-record API would write them, at fixed times.

- "ws-123" holds exactly the example of lead-detail-api.md: John Doe, one checklist group.
- "acme" holds the example of lead-analytics-api.md: Jane Doe and her neighbours in and around
  2026-03-14..2026-04-14, with every number of the breakdown worked out below.
- "default" gets a checklist template only (its leads 1-4 and their numbers stay as they are).
- "ws-two" gets a lead record and a pending follow-up, for the workspace-scoping test.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from domain import auth, checklists, lead_records, workspaces
from domain.dates import parse_instant
from storage.d1 import D1Database


def at(text: str) -> int:
    ms = parse_instant(text)
    assert ms is not None, text
    return ms


JOHN_AT = at("2026-01-30T02:00:00Z")
JANE_AT = at("2026-03-15T10:22:00Z")

DETAIL_TEMPLATE = {"groups": [{"name": "Business Information", "items": [
    {"code": "business_name", "label": "Business Name", "fieldType": "TEXT", "isRequired": True}]}]}
JOHN = {
    "firstName": "John", "lastName": "Doe", "email": "john@example.com", "phoneNumber": "+16782319992",
    "businessName": "Pacific Coast Container Haulers", "assigneeType": "HUMAN_AGENT",
    "emailVerifiedAt": "2026-01-30T02:00:00.000Z", "checklist": {"business_name": "Pacific Coast Container Haulers"},
}

# Checklist order: PERSONAL_DETAILS (5), EMPLOYMENT (4), DOCUMENTS (2).
ANALYTICS_TEMPLATE = {"groups": [
    {"name": "Personal Details", "items": [
        {"code": "first_name", "label": "First name", "fieldType": "TEXT", "isRequired": True},
        {"code": "last_name", "label": "Last name", "fieldType": "TEXT", "isRequired": True},
        {"code": "date_of_birth", "label": "Date of birth", "fieldType": "DATE", "isRequired": True,
         "validationRules": {"max": "2008-12-31"}},
        {"code": "email", "label": "Email", "fieldType": "EMAIL", "isRequired": True},
        {"code": "phone", "label": "Phone", "fieldType": "PHONE", "isRequired": True}]},
    {"name": "Employment", "items": [
        {"code": "employer", "label": "Employer", "fieldType": "TEXT", "isRequired": True},
        {"code": "annual_income", "label": "Annual income", "fieldType": "NUMBER", "isRequired": True,
         "validationRules": {"min": 0}},
        {"code": "employment_type", "label": "Employment type", "fieldType": "SELECT",
         "validationRules": {"options": ["salaried", "self_employed"]}},
        {"code": "business_name", "label": "Business name", "fieldType": "TEXT", "isRequired": True,
         "conditions": [{"item": "employment_type", "equals": "self_employed"}]}]},
    {"name": "Documents", "items": [
        {"code": "income_verification", "label": "Income verification", "fieldType": "FILE", "isRequired": True},
        {"code": "business_license", "label": "Business license", "fieldType": "FILE", "isRequired": True,
         "conditions": [{"item": "employment_type", "equals": "self_employed"}]}]},
]}
INCOME_DOCUMENT = "s3://acme-documents/jane/income-verification.pdf"

DEFAULT_TEMPLATE = {"groups": [{"name": "Qualification", "items": [
    {"code": "budget", "label": "Budget", "fieldType": "NUMBER", "isRequired": True},
    {"code": "timeline", "label": "Timeline", "fieldType": "SELECT",
     "validationRules": {"options": ["now", "3 months", "later"]}}]}]}


@dataclass(frozen=True)
class LeadRecords:
    detail_key: str  # ws-123's API key
    analytics_key: str  # acme's API key
    john: str  # lead ids (UUIDs)
    jane: str
    omar: str
    boundary: str
    later: str
    test_lead: str
    deleted: str
    other_lead: str  # ws-two's
    other_action: str


async def seed_lead_records(db: D1Database) -> LeadRecords:
    await workspaces.create_workspace(db, "ws-123", "Lead detail example")
    await workspaces.create_workspace(db, "acme", "Acme")
    detail_key, _ = await auth.create_key(db, "ws-123", "lead detail example")
    analytics_key, _ = await auth.create_key(db, "acme", "lead analytics example")

    def uuid_of(conn: sqlite3.Connection, lead_id: int) -> str:
        return str(conn.execute("SELECT id FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()[0])

    def seed(conn: sqlite3.Connection) -> LeadRecords:
        checklists.replace_template(conn, "default", DEFAULT_TEMPLATE, JOHN_AT)
        checklists.replace_template(conn, "ws-123", DETAIL_TEMPLATE, JOHN_AT)
        john = uuid_of(conn, lead_records.create_in(conn, "ws-123", JOHN, JOHN_AT))

        checklists.replace_template(conn, "acme", ANALYTICS_TEMPLATE, at("2026-03-01T00:00:00Z"))
        create, update = lead_records.create_in, lead_records.update_in

        def message(lead: str, channel: str, direction: str, when: str, **extra: Any) -> None:
            lead_records.message_in(conn, "acme", lead, {"channel": channel, "direction": direction, "body": "...",
                                                         "createdAt": when, **extra}, at(when))

        # Jane: 8 required items, all COMPLETED (portal 5, agent 2, manual 1); 18 counted messages.
        jane = uuid_of(conn, create(conn, "acme", {
            "firstName": "Jane", "lastName": "Doe", "email": "jane@acme.com", "phoneNumber": "+15551234567",
            "source": "portal", "checklist": {"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1990-04-02",
                                              "email": "jane@acme.com", "employment_type": "salaried"}}, JANE_AT))
        update(conn, "acme", jane, {"source": "agent", "checklist": {"phone": "+15551234567", "employer": "Acme Corp"}},
               at("2026-03-15T10:40:00Z"))
        update(conn, "acme", jane, {"source": "portal", "checklist": {"income_verification": INCOME_DOCUMENT}},
               at("2026-03-15T11:02:00Z"))
        update(conn, "acme", jane, {"source": "manual", "checklist": {"annual_income": 85000}},
               at("2026-03-16T09:00:00Z"))
        for minute in range(9):  # sms outbound, the last at 04:40 on the 17th; one of them an edited draft
            message(jane, "sms", "outbound", f"2026-03-17T04:{minute * 5:02d}:00Z",
                    **({"draftState": "edited"} if minute == 3 else {}))
        for minute in range(6):  # sms inbound, the last at 04:30
            message(jane, "sms", "inbound", f"2026-03-17T04:{minute * 6:02d}:00Z")
        message(jane, "sms", "outbound", "2026-03-17T04:50:00Z", status="failed")  # not counted
        message(jane, "email", "outbound", "2026-03-15T10:25:00Z")
        message(jane, "email", "outbound", "2026-03-15T10:30:00Z")
        message(jane, "email", "inbound", "2026-03-15T11:12:00Z")
        update(conn, "acme", jane, {"source": "portal", "submit": True}, at("2026-03-17T04:45:00Z"))

        # Omar: opted out; an invalid income; an escalation resolved; a draft rejected; whatsapp replies only.
        omar = uuid_of(conn, create(conn, "acme", {
            "firstName": "Omar", "lastName": "Haddad", "phoneNumber": "+15557654321",
            "checklist": {"first_name": "Omar", "annual_income": "lots"}}, at("2026-03-20T08:00:00Z")))
        message(omar, "whatsapp", "inbound", "2026-03-20T09:00:00Z")
        _, escalation = lead_records.action_in(conn, "acme", omar, {
            "type": "ESCALATION", "summary": "Asked for a human"}, at("2026-03-20T09:05:00Z"))
        lead_records.decide_in(conn, "acme", omar, escalation, {"status": "COMPLETED", "source": "manual"},
                               at("2026-03-20T10:00:00Z"))
        _, draft = lead_records.action_in(conn, "acme", omar, {
            "type": "MESSAGE_DRAFT", "message": {"channel": "sms", "body": "Any update?"}}, at("2026-03-21T08:00:00Z"))
        lead_records.decide_in(conn, "acme", omar, draft, {"status": "CANCELLED", "source": "manual"},
                               at("2026-03-21T08:30:00Z"))
        update(conn, "acme", omar, {"didOptOut": True}, at("2026-03-21T12:00:00Z"))

        # On the range's last instant (included), untouched; then leads the range leaves out.
        boundary = uuid_of(conn, create(conn, "acme", {"firstName": "Bea", "lastName": "Edge"},
                                        at("2026-04-14T00:00:00Z")))
        later = uuid_of(conn, create(conn, "acme", {"firstName": "Leo", "lastName": "Later", "email": "leo@acme.com"},
                                     at("2026-05-01T00:00:00Z")))
        test_lead = uuid_of(conn, create(conn, "acme", {"firstName": "Tess", "isTest": True, "email": "jane@acme.com"},
                                         at("2026-03-16T00:00:00Z")))
        deleted = uuid_of(conn, create(conn, "acme", {"firstName": "Del", "email": "jane@acme.com"},
                                       at("2026-03-18T00:00:00Z")))
        update(conn, "acme", deleted, {"deleted": True}, at("2026-03-19T00:00:00Z"))

        checklists.replace_template(conn, "ws-two", DETAIL_TEMPLATE, JOHN_AT)
        other = uuid_of(conn, create(conn, "ws-two", {
            "firstName": "Ottilie", "lastName": "Quist", "email": "ottilie@quist.example",
            "checklist": {"business_name": "Quist Freight"}}, JOHN_AT))
        _, other_action = lead_records.action_in(conn, "ws-two", other, {
            "type": "FOLLOW_UP", "scheduledFor": "2026-02-01T09:00:00Z", "summary": "Call Ottilie"}, JOHN_AT)
        return LeadRecords(detail_key, analytics_key, john, jane, omar, boundary, later, test_lead, deleted, other,
                           other_action)

    return await db.transaction(seed)


OTHER_MARKERS = ("Ottilie", "ottilie@quist.example", "Quist Freight", "Call Ottilie")
