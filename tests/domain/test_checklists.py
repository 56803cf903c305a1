"""The checklist rules of domain/checklists.py: value checks, visibility, completion, the lead status, templates."""
from __future__ import annotations

from typing import Any

import pytest

from domain import checklists, lead_records
from domain.checklists import StoredValue, Template
from domain.fields import FieldError
from storage.d1 import D1Database

NOW = 1_770_000_000_000


def item(field_type: str, rules: dict[str, Any] | None = None, code: str = "x") -> checklists.Item:
    return checklists.Item("i", None, code, "X", field_type, True, None, None, rules, 0)


@pytest.mark.parametrize("field_type, rules, value, expected", [
    ("TEXT", None, "hello", ("COMPLETED", None)),
    ("TEXT", None, "  ", ("INVALID", "is empty")),
    ("TEXT", None, 5, ("INVALID", "expected a string")),
    ("TEXT", {"minLength": 3}, "ab", ("INVALID", "must be at least 3 characters")),
    ("TEXT", {"maxLength": 3}, "abcd", ("INVALID", "must be at most 3 characters")),
    ("NUMBER", None, 12.5, ("COMPLETED", None)),
    ("NUMBER", None, "12", ("INVALID", "expected a number")),
    ("NUMBER", None, True, ("INVALID", "expected a number")),
    ("NUMBER", {"integer": True}, 2.5, ("INVALID", "expected a whole number")),
    ("NUMBER", {"integer": True}, 2.0, ("COMPLETED", None)),
    ("NUMBER", {"min": 0, "max": 10}, -1, ("INVALID", "must be at least 0")),
    ("NUMBER", {"min": 0, "max": 10}, 11, ("INVALID", "must be at most 10")),
    ("DATE", None, "2026-02-28", ("COMPLETED", None)),
    ("DATE", None, "2026-02-30", ("INVALID", "expected a date, YYYY-MM-DD")),
    ("DATE", None, "28/02/2026", ("INVALID", "expected a date, YYYY-MM-DD")),
    ("DATE", {"min": "2026-01-01"}, "2025-12-31", ("INVALID", "must be on or after 2026-01-01")),
    ("EMAIL", None, "Jane@Acme.com", ("COMPLETED", None)),
    ("EMAIL", None, "jane@", ("INVALID", "expected an email address")),
    ("PHONE", None, "+1 (555) 123-4567", ("COMPLETED", None)),
    ("PHONE", None, "123", ("INVALID", "expected a phone number (7 to 15 digits)")),
    ("SELECT", {"options": ["a", "b"]}, "b", ("COMPLETED", None)),
    ("SELECT", {"options": ["a", "b"]}, "B", ("INVALID", "expected one of: a, b")),
    ("BOOLEAN", None, False, ("COMPLETED", None)),
    ("BOOLEAN", None, "false", ("INVALID", "expected true or false")),
    ("FILE", None, "s3://bucket/key.pdf", ("COMPLETED", None)),
    ("FILE", None, "https://files.example/w9.pdf", ("COMPLETED", None)),
    ("FILE", None, "w9.pdf", ("INVALID", "expected a document: upload one, or give its URL")),
])
def test_values_are_checked_by_type_and_rules(field_type: str, rules: Any, value: Any, expected: Any) -> None:
    assert checklists.check_value(item(field_type, rules), value) == expected


TEMPLATE = {"items": [
    {"code": "kind", "label": "Kind", "fieldType": "SELECT", "isRequired": True,
     "validationRules": {"options": ["person", "business"]}},
], "groups": [
    {"name": "Business", "conditions": [{"item": "kind", "equals": "business"}], "items": [
        {"code": "company", "label": "Company", "fieldType": "TEXT", "isRequired": True},
        {"code": "vat_registered", "label": "VAT registered", "fieldType": "BOOLEAN", "isRequired": True},
        {"code": "vat_number", "label": "VAT number", "fieldType": "TEXT", "isRequired": True,
         "conditions": [{"item": "vat_registered", "equals": True}]}]},
    {"name": "Money", "items": [
        {"code": "income", "label": "Income", "fieldType": "NUMBER", "isRequired": True},
        {"code": "proof", "label": "Proof", "fieldType": "FILE", "isRequired": True,
         "conditions": [{"item": "income", "exists": True}]},
        {"code": "note", "label": "Note", "fieldType": "TEXT",
         "conditions": [{"item": "company", "in": ["Acme", "Initech"]}]}]},
]}


async def template(db: D1Database, body: dict[str, Any] = TEMPLATE) -> Template:
    return await db.transaction(lambda conn: checklists.replace_template(conn, "default", body, NOW))


def values(template: Template, **by_code: Any) -> dict[str, StoredValue]:
    found = {}
    for code, given in by_code.items():
        value, status, source = given if isinstance(given, tuple) else (given, None, "portal")
        target = template.by_code[code.upper()]
        status = status or (checklists.check_value(target, value)[0] if value is not None else "TODO")
        found[target.id] = StoredValue(f"v-{code}", target.id, value, status, source, None, None, NOW)
    return found


def shown(template: Template, stored: dict[str, StoredValue]) -> dict[str, tuple[bool, bool]]:
    evaluation = checklists.evaluate(template, stored)
    return {i.code: (evaluation.visible[i.id], evaluation.required[i.id]) for i in template.items}


async def test_conditions_show_and_hide_items(db: D1Database) -> None:
    t = await template(db)
    assert [i.code for i in t.items] == ["kind", "company", "vat_registered", "vat_number", "income", "proof", "note"]
    assert shown(t, {}) == {"kind": (True, True), "company": (False, False), "vat_registered": (False, False),
                            "vat_number": (False, False), "income": (True, True), "proof": (False, False),
                            "note": (False, False)}
    business = values(t, kind="business", vat_registered=True, company="Acme", income=10)
    assert shown(t, business) == {"kind": (True, True), "company": (True, True), "vat_registered": (True, True),
                                  "vat_number": (True, True), "income": (True, True), "proof": (True, True),
                                  "note": (True, False)}


async def test_conditions_read_only_visible_valid_values(db: D1Database) -> None:
    t = await template(db)
    # A person's leftover company and VAT answers are hidden, so nothing after them reads them.
    person = values(t, kind="person", vat_registered=True, company="Acme")
    assert shown(t, person)["vat_number"] == (False, False) and shown(t, person)["note"] == (False, False)
    # An INVALID income is no value: the proof stays hidden.
    assert shown(t, values(t, income="lots"))["proof"] == (False, False)
    # JSON true is not 1.
    assert shown(t, values(t, kind="business", vat_registered=(1, "COMPLETED", "agent")))["vat_number"] == (
        False, False)


async def test_completion_counts_required_visible_items_by_source(db: D1Database) -> None:
    t = await template(db)
    stored = values(t, kind="business", company=("Acme", None, "agent"), vat_registered=(False, None, "manual"),
                    income=("lots", None, "portal"))
    evaluation = checklists.evaluate(t, stored)
    # Required and visible: kind, company, vat_registered, income; proof stays hidden (an invalid income is no value).
    assert evaluation.completion == {"totalRequired": 4, "totalCompleted": 3,
                                     "bySource": {"agent": 1, "imported": 0, "manual": 1, "portal": 1}}
    assert evaluation.has_invalid and not evaluation.needs_review


async def test_an_override_changes_what_is_required(db: D1Database) -> None:
    t = await template(db)
    income = t.by_code["INCOME"]
    stored = {income.id: StoredValue("v", income.id, None, "TODO", None, None, {"isRequired": False}, NOW)}
    assert shown(t, stored)["income"] == (True, False)


@pytest.mark.parametrize("required, completed, needs_review, invalid, submitted, opted_out, status", [
    (2, 1, False, False, False, False, "IN_PROGRESS"),
    (2, 2, False, False, False, False, "IN_PROGRESS"),  # complete but not submitted
    (2, 2, False, False, True, False, "COMPLETED"),
    (2, 1, False, False, True, False, "REVIEW"),
    (2, 2, False, True, True, False, "REVIEW"),
    (2, 2, False, True, False, False, "IN_PROGRESS"),
    (2, 1, True, False, False, False, "REVIEW"),
    (2, 2, True, False, True, True, "OPTED_OUT"),
])
def test_lead_status(required: int, completed: int, needs_review: bool, invalid: bool, submitted: bool,
                     opted_out: bool, status: str) -> None:
    completion: checklists.Completion = {"totalRequired": required, "totalCompleted": completed,
                                         "bySource": {"agent": 0, "imported": 0, "manual": 0, "portal": 0}}
    evaluation = checklists.Evaluation({}, {}, completion, needs_review, invalid)
    assert checklists.lead_status(evaluation, NOW if submitted else None, NOW if opted_out else None) == status


async def test_codes_move_between_items_and_retired_items_come_back(db: D1Database) -> None:
    t = await template(db, {"items": [{"code": "a", "label": "A", "fieldType": "TEXT"},
                                      {"code": "b", "label": "B", "fieldType": "TEXT"}]})
    a, b = t.by_code["A"].id, t.by_code["B"].id
    swapped = await template(db, {"items": [{"id": a, "code": "b", "label": "A", "fieldType": "TEXT"},
                                            {"id": b, "code": "a", "label": "B", "fieldType": "TEXT"}]})
    assert (swapped.by_code["B"].id, swapped.by_code["A"].id) == (a, b)
    only_c = await template(db, {"items": [{"code": "c", "label": "C", "fieldType": "TEXT"}]})
    assert list(only_c.by_code) == ["C"]
    back = await template(db, {"items": [{"code": "A", "label": "A again", "fieldType": "TEXT"}]})
    assert back.by_code["A"].id == b  # the retired item, by its code
    with pytest.raises(FieldError, match="belongs to another item of this workspace"):
        await template(db, {"items": [{"id": b, "code": "c", "label": "B", "fieldType": "TEXT"}]})


async def test_a_template_change_recomputes_completion(db: D1Database) -> None:
    await template(db)

    def create(conn: Any) -> int:
        return lead_records.create_in(conn, "default", {"firstName": "Kim", "checklist": {"kind": "person",
                                                                                         "income": 5}}, NOW)

    lead_id = await db.transaction(create)
    completion = "SELECT total_required, total_completed FROM lead_completion WHERE lead_id = ?"
    assert await db.prepare(completion).bind(lead_id).first() == {"total_required": 3, "total_completed": 2}
    relaxed = {**TEMPLATE, "groups": [TEMPLATE["groups"][0], {"name": "Money", "items": [
        {"code": "income", "label": "Income", "fieldType": "NUMBER"}]}]}
    await template(db, relaxed)
    assert await db.prepare(completion).bind(lead_id).first() == {"total_required": 1, "total_completed": 1}


async def test_unchanged_values_are_not_rewritten(db: D1Database) -> None:
    t = await template(db)

    def write(conn: Any, changes: dict[str, Any], source: str) -> list[str]:
        lead = conn.execute("SELECT lead_id FROM leads WHERE id = 'uuid-x'").fetchone()
        if lead is None:
            conn.execute("INSERT INTO leads (id, workspace_id, created_at, updated_at) VALUES ('uuid-x', 'default', 0, 0)")
            lead = conn.execute("SELECT lead_id FROM leads WHERE id = 'uuid-x'").fetchone()
        return checklists.apply_changes(conn, "default", lead[0], t, checklists.parse_changes(changes), source, NOW)

    assert await db.transaction(lambda conn: write(conn, {"income": 5, "kind": "person"}, "agent")) == ["kind",
                                                                                                        "income"]
    assert await db.transaction(lambda conn: write(conn, {"income": 5}, "manual")) == []
    assert await db.transaction(lambda conn: write(conn, {"income": {"itemOverride": {"label": "Pay"}}},
                                                   "manual")) == ["income"]
    row = await db.prepare("SELECT status, source, item_override FROM lead_checklist_items"
                           " WHERE checklist_item_id = ?").bind(t.by_code["INCOME"].id).first()
    assert row == {"status": "COMPLETED", "source": "manual", "item_override": '{"label":"Pay"}'}
