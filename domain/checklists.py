"""Qualification checklists: a workspace's template, the values leads give it, and the rules
that turn those values into visibility, completion and the lead's status.

| rule | definition |
| --- | --- |
| template | groups (name, order, conditions) of items (code, label, field type, required, conditions, validation rules); items may also stand outside any group |
| checklist order | ungrouped items first, then groups by order, each group's items by order |
| code | `[A-Za-z][A-Za-z0-9_]*`, unique in the workspace whatever its case; values are written by code |
| group key | the group's name uppercased, spaces replaced by `_`; an item's analytics code is `GROUP_KEY.ITEM_CODE` (just `ITEM_CODE` without a group) |
| condition | `{"item": CODE, "equals": v}`, `{"item": CODE, "in": [v, ...]}` or `{"item": CODE, "exists": true/false}`; `conditions` is null or a list that must all hold |
| what a condition reads | the value of an item earlier in checklist order, when that item is visible and its value not INVALID; otherwise no value |
| visible | the item's group's conditions and the item's own conditions all hold |
| required | `isRequired` (or the lead's `itemOverride.isRequired`) and visible |
| value check | by field type and validation rules (`check_value`); a value that fails is kept with status INVALID and a reason |
| item status | a valid value: COMPLETED unless the caller says SKIPPED, NEEDS_REVIEW or TODO; no value: TODO; a failed check: INVALID |
| completion | required items, and those of them COMPLETED, counted by the source of their last change |
| template change | items and groups keep their ids when matched by id or code (name for groups); the rest are retired, their values kept; values of items whose type or rules changed are checked again |
| lead status | OPTED_OUT if the contact opted out; else REVIEW if a visible item is NEEDS_REVIEW, or the lead is submitted while a required item is not COMPLETED or a visible item is INVALID; else COMPLETED if submitted; else IN_PROGRESS |
| submittedAt | set when a write says `submit: true` (kept by later submits), cleared by `submit: false` |
| kept per lead | every write of a lead's values (and every template change, for every lead) stores its completion and its checklist as per-lead analytics shows it (`analytics_items`) in `lead_completion` |

Values are stored as JSON text; every lead counts the same items, the template's, whether or
not it has values for them (an untouched item is TODO with no value and no source).
"""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, TypedDict

import orjson

from domain import fields, leads
from domain.dates import iso
from domain.fields import MISSING, FieldError
from storage.d1 import D1Database

FIELD_TYPES = ("TEXT", "NUMBER", "DATE", "EMAIL", "PHONE", "SELECT", "BOOLEAN", "FILE")
SETTABLE_STATUSES = ("TODO", "COMPLETED", "SKIPPED", "NEEDS_REVIEW")  # INVALID comes from the value check only
SOURCES = ("agent", "imported", "manual", "portal")
LEAD_STATUSES = ("IN_PROGRESS", "COMPLETED", "REVIEW", "OPTED_OUT")

MAX_GROUPS = 50
MAX_ITEMS = 200
MAX_CONDITIONS = 10
MAX_OPTIONS = 100
MAX_TEXT_VALUE = 10_000
MAX_SAFE_INTEGER = 2**53 - 1  # beyond it a JSON client reading the value back loses digits
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Where a FILE item's value may point: our documents (s3://) or another system's copy.
_DOCUMENT_URL = re.compile(r"(s3|r2|https?)://\S{1,2000}")
_OVERRIDE_KEYS = ("isRequired", "label")


# --- the template ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    item: str  # the code it reads, uppercased
    op: str  # equals | in | exists
    operand: Any

    def holds(self, known: Mapping[str, Any]) -> bool:
        value = known.get(self.item)
        if self.op == "exists":
            return (value is not None) is self.operand
        if value is None:
            return False
        if self.op == "equals":
            return _same(value, self.operand)
        return any(_same(value, option) for option in self.operand)


def _same(a: Any, b: Any) -> bool:
    # JSON true is not 1: compare booleans only with booleans.
    return isinstance(a, bool) is isinstance(b, bool) and a == b


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    position: int
    conditions: tuple[Condition, ...] | None
    raw_conditions: list[dict[str, Any]] | None

    @property
    def key(self) -> str:
        return self.name.upper().replace(" ", "_")


@dataclass(frozen=True)
class Item:
    id: str
    group_id: str | None
    code: str
    label: str
    field_type: str
    is_required: bool
    conditions: tuple[Condition, ...] | None
    raw_conditions: list[dict[str, Any]] | None
    validation_rules: dict[str, Any] | None
    position: int


@dataclass(frozen=True)
class Template:
    groups: tuple[Group, ...]  # by order
    items: tuple[Item, ...]  # in checklist order
    group_by_id: dict[str, Group] = field(repr=False)
    by_code: dict[str, Item] = field(repr=False)  # uppercased code -> item
    # (id, group id, uppercased code, conditions, isRequired) of each item, for evaluate().
    plan: tuple[tuple[str, str | None, str, tuple[Condition, ...] | None, bool], ...] = field(repr=False, default=())

    def analytics_code(self, item: Item) -> str:
        group = self.group_by_id.get(item.group_id or "")
        return f"{group.key}.{item.code.upper()}" if group else item.code.upper()

    def grouped(self) -> list[tuple[Group | None, list[Item]]]:
        """Items by group in checklist order: ungrouped items (group None) first when there are any."""
        by_group: dict[str | None, list[Item]] = {}
        for item in self.items:
            by_group.setdefault(item.group_id, []).append(item)
        found: list[tuple[Group | None, list[Item]]] = []
        if None in by_group:
            found.append((None, by_group[None]))
        found += [(group, by_group.get(group.id, [])) for group in self.groups]
        return found


_GROUPS = ("SELECT id, name, position, conditions FROM checklist_groups"
           " WHERE workspace_id = ? AND deleted_at IS NULL ORDER BY position, id")
_ITEMS = ("SELECT id, group_id, code, label, field_type, is_required, conditions, validation_rules, position"
          " FROM checklist_items WHERE workspace_id = ? AND deleted_at IS NULL ORDER BY position, id")


def _conditions(raw: str | None) -> tuple[list[dict[str, Any]] | None, tuple[Condition, ...] | None]:
    if raw is None:
        return None, None
    listed = json.loads(raw)
    compiled = []
    for condition in listed:
        op = next(name for name in ("equals", "in", "exists") if name in condition)
        compiled.append(Condition(condition["item"].upper(), op, condition[op]))
    return listed, tuple(compiled)


def _template(group_rows: Iterable[Sequence[Any]], item_rows: Iterable[Sequence[Any]]) -> Template:
    groups = []
    for gid, name, position, conditions in group_rows:
        raw, compiled = _conditions(conditions)
        groups.append(Group(gid, name, position, compiled, raw))
    group_by_id = {group.id: group for group in groups}
    group_rank = {group.id: rank for rank, group in enumerate(groups)}
    items = []
    for iid, group_id, code, label, field_type, required, conditions, rules, position in item_rows:
        raw, compiled = _conditions(conditions)
        items.append(Item(iid, group_id if group_id in group_by_id else None, code, label, field_type, bool(required),
                          compiled, raw, json.loads(rules) if rules else None, position))
    items.sort(key=lambda item: (-1 if item.group_id is None else group_rank[item.group_id], item.position, item.id))
    plan = tuple((item.id, item.group_id, item.code.upper(), item.conditions, item.is_required) for item in items)
    return Template(tuple(groups), tuple(items), group_by_id, {item.code.upper(): item for item in items}, plan)


async def read_template(db: D1Database, workspace_id: str) -> Template:
    groups = await db.prepare(_GROUPS).bind(workspace_id).raw()
    items = await db.prepare(_ITEMS).bind(workspace_id).raw()
    return _template(groups, items)


def template_in(conn: sqlite3.Connection, workspace_id: str) -> Template:
    """The template, inside a write transaction."""
    return _template(conn.execute(_GROUPS, (workspace_id,)), conn.execute(_ITEMS, (workspace_id,)))


class ChecklistItemJson(TypedDict):
    id: str
    code: str
    label: str
    fieldType: str
    isRequired: bool
    conditions: list[dict[str, Any]] | None
    validationRules: dict[str, Any] | None


class TemplateItemJson(ChecklistItemJson):
    order: int


class TemplateGroupJson(TypedDict):
    id: str
    name: str
    order: int
    conditions: list[dict[str, Any]] | None
    items: list[TemplateItemJson]


class TemplateJson(TypedDict):
    groups: list[TemplateGroupJson]
    items: list[TemplateItemJson]


def item_json(item: Item) -> ChecklistItemJson:
    return {"id": item.id, "code": item.code, "label": item.label, "fieldType": item.field_type,
            "isRequired": item.is_required, "conditions": item.raw_conditions,
            "validationRules": item.validation_rules}


def template_json(template: Template) -> TemplateJson:
    def listed(items: list[Item]) -> list[TemplateItemJson]:
        return [{**item_json(item), "order": item.position} for item in items]  # type: ignore[typeddict-item]

    grouped = {group.id if group else None: items for group, items in template.grouped()}
    return {
        "groups": [{"id": group.id, "name": group.name, "order": group.position, "conditions": group.raw_conditions,
                    "items": listed(grouped.get(group.id, []))} for group in template.groups],
        "items": listed(grouped.get(None, [])),
    }


# --- reading a template from a request -----------------------------------------------------------


@dataclass
class _ItemSpec:
    where: str
    id: str | None
    code: str
    label: str
    field_type: str
    is_required: bool
    conditions: list[dict[str, Any]] | None
    rules: dict[str, Any] | None
    group: int | None  # index into the groups
    position: int = 0


@dataclass
class _GroupSpec:
    where: str
    id: str | None
    name: str
    conditions: list[dict[str, Any]] | None
    position: int = 0


_TEMPLATE_KEYS = ("groups", "items")
_GROUP_KEYS = ("id", "name", "order", "conditions", "items")
_ITEM_KEYS = ("id", "code", "label", "fieldType", "isRequired", "conditions", "validationRules", "order")


def _ordered(entries: list[Any], where: str) -> list[tuple[int, Any]]:
    """(index, entry) sorted by each entry's `order` when given, else its place in the array."""
    keyed = []
    for index, entry in enumerate(entries):
        entry = fields.obj(entry, f"{where}[{index}]")
        order = entry.get("order")
        rank = index if order is None else fields.integer(order, f"{where}[{index}].order", 0, 1_000_000)
        keyed.append((rank, index, entry))
    keyed.sort(key=lambda entry: (entry[0], entry[1]))
    return [(index, entry) for _, index, entry in keyed]


def parse_template(body: Mapping[str, Any]) -> tuple[list[_GroupSpec], list[_ItemSpec]]:
    """The template a PUT describes, in checklist order; raises FieldError naming the first bad field."""
    fields.no_unknown(body, _TEMPLATE_KEYS)
    raw_groups = fields.array(body.get("groups", []), "groups", MAX_GROUPS)
    ungrouped = fields.array(body.get("items", []), "items", MAX_ITEMS)
    groups: list[_GroupSpec] = []
    items: list[_ItemSpec] = []
    for index, raw in _ordered(ungrouped, "items"):
        items.append(_item_spec(raw, f"items[{index}]", None))
    keys: dict[str, str] = {}
    for index, raw in _ordered(raw_groups, "groups"):
        where = f"groups[{index}]"
        fields.no_unknown(raw, _GROUP_KEYS, where)
        name = fields.text(raw.get("name"), f"{where}.name", 100)
        key = name.upper().replace(" ", "_")
        if key in keys:
            raise FieldError(f"{where}.name", f"gives the same group key ({key}) as {keys[key]}")
        keys[key] = f"{where}.name"
        group = _GroupSpec(where, _optional_id(raw.get("id"), f"{where}.id"), name, None, len(groups))
        groups.append(group)
        for item_index, item_raw in _ordered(fields.array(raw.get("items", []), f"{where}.items", MAX_ITEMS),
                                             f"{where}.items"):
            items.append(_item_spec(item_raw, f"{where}.items[{item_index}]", len(groups) - 1))
        # A group's conditions read items before it; they are checked once the group's place is known.
        group.conditions = raw.get("conditions")
    if len(items) > MAX_ITEMS:
        raise FieldError("items", f"a template has at most {MAX_ITEMS} items")
    codes: dict[str, _ItemSpec] = {}
    group_sizes: dict[int | None, int] = {}
    for item in items:
        if item.code.upper() in codes:
            raise FieldError(f"{item.where}.code", f"repeats {codes[item.code.upper()].where}.code (codes ignore case)")
        codes[item.code.upper()] = item
        item.position = group_sizes.get(item.group, 0)
        group_sizes[item.group] = item.position + 1
    # Conditions may read only items earlier in checklist order, so there is never a cycle.
    earlier: dict[str, _ItemSpec] = {}
    next_group = 0
    for item in items:
        while item.group is not None and next_group <= item.group:
            group = groups[next_group]
            group.conditions = _parse_conditions(group.conditions, f"{group.where}.conditions", earlier)
            next_group += 1
        item.conditions = _parse_conditions(item.conditions, f"{item.where}.conditions", earlier)
        earlier[item.code.upper()] = item
    for group in groups[next_group:]:
        group.conditions = _parse_conditions(group.conditions, f"{group.where}.conditions", earlier)
    return groups, items


def _optional_id(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise FieldError(where, "must be an id of this workspace's checklist (letters, digits, - and _)")
    return value


def _item_spec(raw: dict[str, Any], where: str, group: int | None) -> _ItemSpec:
    fields.no_unknown(raw, _ITEM_KEYS, where)
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise FieldError(f"{where}.code", "must be a letter then up to 63 letters, digits or _")
    field_type = fields.choice(raw.get("fieldType"), f"{where}.fieldType", FIELD_TYPES)
    required = raw.get("isRequired", False)
    return _ItemSpec(
        where, _optional_id(raw.get("id"), f"{where}.id"), code, fields.text(raw.get("label"), f"{where}.label", 200),
        field_type, fields.boolean(required, f"{where}.isRequired"), raw.get("conditions"),
        _parse_rules(raw.get("validationRules"), f"{where}.validationRules", field_type), group)


def _scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (list, dict)):
        raise FieldError(where, "must be a string, number or boolean")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _number(value, where)
    if isinstance(value, str) and len(value) > 1000:
        raise FieldError(where, "must be at most 1000 characters")
    return value


def _parse_conditions(raw: Any, where: str, earlier: Mapping[str, _ItemSpec]) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    listed = fields.array(raw, where, MAX_CONDITIONS)
    if not listed:
        return None
    parsed = []
    for index, condition in enumerate(listed):
        at = f"{where}[{index}]"
        condition = fields.obj(condition, at)
        ops = [op for op in ("equals", "in", "exists") if op in condition]
        if len(ops) != 1:
            raise FieldError(at, "must have exactly one of equals, in, exists")
        fields.no_unknown(condition, ("item", ops[0]), at)
        code = condition.get("item")
        if not isinstance(code, str) or code.upper() not in earlier:
            raise FieldError(f"{at}.item", "must be the code of an item earlier in the checklist")
        op = ops[0]
        if op == "exists":
            operand: Any = fields.boolean(condition[op], f"{at}.exists")
        elif op == "equals":
            operand = _scalar(condition[op], f"{at}.equals")
        else:
            options = fields.array(condition[op], f"{at}.in", MAX_OPTIONS)
            if not options:
                raise FieldError(f"{at}.in", "must list at least one value")
            operand = [_scalar(option, f"{at}.in[{i}]") for i, option in enumerate(options)]
        parsed.append({"item": earlier[code.upper()].code, op: operand})
    return parsed


def _number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > MAX_SAFE_INTEGER:
        raise FieldError(where, f"must be a number between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}")
    return value


def _date(value: Any, where: str) -> str:
    if not isinstance(value, str) or _parse_date(value) is None:
        raise FieldError(where, "must be a date, YYYY-MM-DD")
    return value


def _strings(value: Any, where: str, limit: int, allowed: Sequence[str] | None = None) -> list[str]:
    listed = fields.array(value, where, limit)
    if not listed:
        raise FieldError(where, "must list at least one value")
    found = []
    for index, entry in enumerate(listed):
        text = fields.text(entry, f"{where}[{index}]", 200)
        if allowed is not None and text not in allowed:
            raise FieldError(f"{where}[{index}]", f"must be one of: {', '.join(allowed)}")
        if text in found:
            raise FieldError(f"{where}[{index}]", "is listed twice")
        found.append(text)
    return found


def _parse_rules(raw: Any, where: str, field_type: str) -> dict[str, Any] | None:
    # Imported here: documents knows the content types a FILE item may accept, and imports this module.
    from domain import documents

    if raw is None:
        if field_type == "SELECT":
            raise FieldError(f"{where}.options", "is required for a SELECT item")
        return None
    rules = fields.obj(raw, where)
    readers: dict[str, Any] = {
        "TEXT": {"minLength": lambda v, w: fields.integer(v, w, 0, MAX_TEXT_VALUE),
                 "maxLength": lambda v, w: fields.integer(v, w, 1, MAX_TEXT_VALUE)},
        "NUMBER": {"min": _number, "max": _number, "integer": fields.boolean},
        "DATE": {"min": _date, "max": _date},
        "SELECT": {"options": lambda v, w: _strings(v, w, MAX_OPTIONS)},
        "FILE": {"contentTypes": lambda v, w: _strings(v, w, 20, documents.CONTENT_TYPES),
                 "maxBytes": lambda v, w: fields.integer(v, w, 1, documents.MAX_BYTES)},
    }.get(field_type, {})
    fields.no_unknown(rules, readers, where)
    parsed = {name: readers[name](value, f"{where}.{name}") for name, value in rules.items()}
    if field_type == "SELECT" and "options" not in parsed:
        raise FieldError(f"{where}.options", "is required for a SELECT item")
    low, high = parsed.get("min", parsed.get("minLength")), parsed.get("max", parsed.get("maxLength"))
    if low is not None and high is not None and low > high:
        raise FieldError(where, "has a minimum above its maximum")
    return parsed or None


# --- replacing a template -------------------------------------------------------------------------


_ALL_GROUPS = "SELECT id, name, deleted_at FROM checklist_groups WHERE workspace_id = ?"
_ALL_ITEMS = "SELECT id, code, field_type, validation_rules, deleted_at FROM checklist_items WHERE workspace_id = ?"
_UPSERT_GROUP = (
    "INSERT INTO checklist_groups (id, workspace_id, name, position, conditions, deleted_at) VALUES (?, ?, ?, ?, ?, NULL)"
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position,"
    " conditions = excluded.conditions, deleted_at = NULL WHERE workspace_id = excluded.workspace_id"
)
_PARK_CODE = "UPDATE checklist_items SET code = '~' || id WHERE id = ? AND workspace_id = ?"
_UPSERT_ITEM = (
    "INSERT INTO checklist_items (id, workspace_id, group_id, code, label, field_type, is_required, conditions,"
    " validation_rules, position, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
    " ON CONFLICT (id) DO UPDATE SET group_id = excluded.group_id, code = excluded.code, label = excluded.label,"
    " field_type = excluded.field_type, is_required = excluded.is_required, conditions = excluded.conditions,"
    " validation_rules = excluded.validation_rules, position = excluded.position, deleted_at = NULL"
    " WHERE workspace_id = excluded.workspace_id"
)
_RETIRE_GROUPS = ("UPDATE checklist_groups SET deleted_at = ? WHERE workspace_id = ? AND deleted_at IS NULL"
                  " AND id NOT IN (SELECT value FROM json_each(?))")
_RETIRE_ITEMS = ("UPDATE checklist_items SET deleted_at = ? WHERE workspace_id = ? AND deleted_at IS NULL"
                 " AND id NOT IN (SELECT value FROM json_each(?))")
_VALUES_OF_ITEM = ("SELECT id, value, status FROM lead_checklist_items WHERE workspace_id = ? AND checklist_item_id = ?"
                   " AND status IN ('COMPLETED', 'INVALID') AND value IS NOT NULL")
_RECHECK = "UPDATE lead_checklist_items SET status = ?, reason = ? WHERE id = ?"


def replace_template(conn: sqlite3.Connection, workspace_id: str, body: Mapping[str, Any], now: int) -> Template:
    """Make `body` the workspace's template inside a write transaction; FieldError when it is not one."""
    groups, items = parse_template(body)
    known_groups = {row[0]: (row[1], row[2]) for row in conn.execute(_ALL_GROUPS, (workspace_id,))}
    group_by_key = {name.upper().replace(" ", "_"): gid for gid, (name, deleted) in known_groups.items()
                    if deleted is None}
    group_by_key.update({name.upper().replace(" ", "_"): gid for gid, (name, deleted) in known_groups.items()
                         if deleted is not None and name.upper().replace(" ", "_") not in group_by_key})
    group_ids: list[str] = []
    for group in groups:
        if group.id is not None and group.id not in known_groups:
            raise FieldError(f"{group.where}.id", "is not a checklist group of this workspace")
        gid = group.id or group_by_key.get(group.name.upper().replace(" ", "_")) or str(uuid.uuid4())
        if gid in group_ids:
            raise FieldError(f"{group.where}.id", "names a group listed twice")
        group_ids.append(gid)
    known_items = {row[0]: row for row in conn.execute(_ALL_ITEMS, (workspace_id,))}
    item_by_code = {row[1].upper(): iid for iid, row in known_items.items()}
    item_ids: list[str] = []
    for item in items:
        if item.id is not None and item.id not in known_items:
            raise FieldError(f"{item.where}.id", "is not a checklist item of this workspace")
        iid = item.id or item_by_code.get(item.code.upper()) or str(uuid.uuid4())
        if iid in item_ids:
            raise FieldError(f"{item.where}.id", "names an item listed twice")
        item_ids.append(iid)
    for iid, item in zip(item_ids, items):
        # An item left out of the template keeps its code (retired), so no other item may take it.
        holder = item_by_code.get(item.code.upper())
        if holder is not None and holder != iid and holder not in item_ids:
            raise FieldError(f"{item.where}.code", "belongs to another item of this workspace; give that item's id")
    for iid in item_ids:  # codes may move between items: park them first, the unique index stays happy
        if iid in known_items:
            conn.execute(_PARK_CODE, (iid, workspace_id))
    for gid, group in zip(group_ids, groups):
        conn.execute(_UPSERT_GROUP, (gid, workspace_id, group.name, group.position, _json(group.conditions)))
    changed_checks: list[str] = []
    for iid, item in zip(item_ids, items):
        rules = _json(item.rules)
        before = known_items.get(iid)
        if before is not None and (before[2], before[3]) != (item.field_type, rules):
            changed_checks.append(iid)
        group_id = group_ids[item.group] if item.group is not None else None
        conn.execute(_UPSERT_ITEM, (iid, workspace_id, group_id, item.code, item.label, item.field_type,
                                    int(item.is_required), _json(item.conditions), rules, item.position))
    conn.execute(_RETIRE_GROUPS, (now, workspace_id, json.dumps(group_ids)))
    conn.execute(_RETIRE_ITEMS, (now, workspace_id, json.dumps(item_ids)))
    template = template_in(conn, workspace_id)
    for iid in changed_checks:
        item = next(i for i in template.items if i.id == iid)
        for value_id, raw, status in conn.execute(_VALUES_OF_ITEM, (workspace_id, iid)).fetchall():
            checked, reason = check_value(item, json.loads(raw))
            if checked != status:
                conn.execute(_RECHECK, (checked, reason, value_id))
    recompute_workspace(conn, workspace_id, template)
    return template


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- values ----------------------------------------------------------------------------------------


class StoredValue(NamedTuple):
    """A lead's value for one item as stored (a tuple: many are read at once)."""

    id: str
    item_id: str
    value: Any  # decoded JSON; None when there is none
    status: str
    source: str | None
    reason: str | None
    item_override: dict[str, Any] | None
    updated_at: int


_VALUE_COLUMNS = "id, checklist_item_id, value, status, source, reason, item_override, updated_at"
_LEAD_VALUES = f"SELECT {_VALUE_COLUMNS} FROM lead_checklist_items WHERE lead_id = ? AND workspace_id = ?"


def decode(raw: str | None) -> Any:
    """A stored value: JSON text. A string without escapes (most are) is sliced, not parsed."""
    if raw is None:
        return None
    if raw[0] == '"' and "\\" not in raw:
        return raw[1:-1]
    return json.loads(raw)


def stored_value(row: Sequence[Any]) -> StoredValue:
    vid, item_id, value, status, source, reason, override, updated_at = row
    return StoredValue(vid, item_id, decode(value), status, source, reason, json.loads(override) if override else None,
                       updated_at)


async def lead_values(db: D1Database, workspace_id: str, lead_id: int) -> dict[str, StoredValue]:
    rows = await db.prepare(_LEAD_VALUES).bind(lead_id, workspace_id).raw()
    return {row[1]: stored_value(row) for row in rows}


def lead_values_in(conn: sqlite3.Connection, workspace_id: str, lead_id: int) -> dict[str, StoredValue]:
    return {row[1]: stored_value(row) for row in conn.execute(_LEAD_VALUES, (lead_id, workspace_id))}


def _parse_date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def check_value(item: Item, value: Any) -> tuple[str, str | None]:
    """(COMPLETED, None) for a value the item accepts, else (INVALID, why); `value` is not None."""
    reason = _problem(item, value, item.validation_rules or {})
    return ("INVALID", reason) if reason else ("COMPLETED", None)


def _problem(item: Item, value: Any, rules: Mapping[str, Any]) -> str | None:
    kind = item.field_type
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else "expected true or false"
    if kind == "NUMBER":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number"
        if rules.get("integer") and not float(value).is_integer():
            return "expected a whole number"
        if "min" in rules and value < rules["min"]:
            return f"must be at least {rules['min']}"
        if "max" in rules and value > rules["max"]:
            return f"must be at most {rules['max']}"
        return None
    if not isinstance(value, str):
        return "expected a string"
    if not value.strip():
        return "is empty"
    if kind == "TEXT":
        if len(value) < rules.get("minLength", 0):
            return f"must be at least {rules['minLength']} characters"
        if len(value) > rules.get("maxLength", MAX_TEXT_VALUE):
            return f"must be at most {rules['maxLength']} characters"
        return None
    if kind == "DATE":
        day = _parse_date(value)
        if day is None:
            return "expected a date, YYYY-MM-DD"
        if "min" in rules and value < rules["min"]:
            return f"must be on or after {rules['min']}"
        if "max" in rules and value > rules["max"]:
            return f"must be on or before {rules['max']}"
        return None
    if kind == "EMAIL":
        return None if leads.normalise_email(value) else "expected an email address"
    if kind == "PHONE":
        return None if leads.normalise_phone(value) else "expected a phone number (7 to 15 digits)"
    if kind == "SELECT":
        return None if value in rules.get("options", ()) else "expected one of: " + ", ".join(rules.get("options", ()))
    # FILE
    return None if _DOCUMENT_URL.fullmatch(value) else "expected a document: upload one, or give its URL"


@dataclass(frozen=True)
class ValueChange:
    """What a write says about one item: a new value, a status, an override (MISSING: leave it)."""

    value: Any = MISSING
    status: Any = MISSING
    item_override: Any = MISSING
    written: str = ""  # the code as the caller wrote it, for messages


_CHANGE_KEYS = ("value", "status", "itemOverride")


def parse_changes(raw: Any, where: str = "checklist") -> dict[str, ValueChange]:
    """`{CODE: value}` or `{CODE: {"value": v, "status": s, "itemOverride": {...}}}` by code (any case)."""
    if raw is None:
        return {}
    entries = fields.obj(raw, where)
    if len(entries) > MAX_ITEMS:
        raise FieldError(where, f"must have at most {MAX_ITEMS} entries")
    changes: dict[str, ValueChange] = {}
    for code, entry in entries.items():
        at = f"{where}.{code}"
        if code.upper() in changes:
            raise FieldError(at, "repeats a code (codes ignore case)")
        if isinstance(entry, dict):
            fields.no_unknown(entry, _CHANGE_KEYS, at)
            if not entry:
                raise FieldError(at, "must give value, status or itemOverride")
            change = ValueChange(
                _value(entry["value"], f"{at}.value") if "value" in entry else MISSING,
                fields.choice(entry["status"], f"{at}.status", SETTABLE_STATUSES) if "status" in entry else MISSING,
                _override(entry["itemOverride"], f"{at}.itemOverride") if "itemOverride" in entry else MISSING,
                code)
        else:
            change = ValueChange(_value(entry, at), written=code)
        changes[code.upper()] = change
    return changes


def _value(value: Any, where: str) -> Any:
    if isinstance(value, list):
        raise FieldError(where, "must be a string, number, boolean or null")
    if isinstance(value, str) and "\x00" in value:
        raise FieldError(where, "must not contain a NUL character")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        raise FieldError(where, f"must be a number between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}")
    if isinstance(value, str) and len(value) > MAX_TEXT_VALUE:
        raise FieldError(where, f"must be at most {MAX_TEXT_VALUE} characters")
    return value


def _override(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    override = fields.obj(value, where)
    fields.no_unknown(override, _OVERRIDE_KEYS, where)
    if "isRequired" in override:
        fields.boolean(override["isRequired"], f"{where}.isRequired")
    if "label" in override:
        override = {**override, "label": fields.text(override["label"], f"{where}.label", 200)}
    return override or None


_UPSERT_VALUE = (
    "INSERT INTO lead_checklist_items (id, workspace_id, lead_id, checklist_item_id, value, status, source,"
    " item_override, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (lead_id, checklist_item_id) DO UPDATE SET value = excluded.value, status = excluded.status,"
    " source = excluded.source, item_override = excluded.item_override, reason = excluded.reason,"
    " updated_at = excluded.updated_at"
)


def apply_changes(conn: sqlite3.Connection, workspace_id: str, lead_id: int, template: Template,
                  changes: Mapping[str, ValueChange], source: str, now: int) -> list[str]:
    """Write a lead's values inside a write transaction; the codes that changed, in checklist order.

    Raises FieldError for an unknown code or a status the value cannot have; the caller's
    transaction then leaves no trace.
    """
    for code, change in changes.items():
        if code not in template.by_code:
            raise FieldError(f"checklist.{change.written or code}", "is not an item of this workspace's checklist")
    current = lead_values_in(conn, workspace_id, lead_id)
    changed: list[str] = []
    for item in template.items:
        change = changes.get(item.code.upper())
        if change is None:
            continue
        before = current.get(item.id)
        value = (before.value if before else None) if change.value is MISSING else change.value
        override = (before.item_override if before else None) if change.item_override is MISSING \
            else change.item_override
        status, reason = _resolve(item, value, change, before)
        if before is not None and (before.value, before.status, before.item_override, before.reason) == \
                (value, status, override, reason) and _same_types(before.value, value):
            continue
        conn.execute(_UPSERT_VALUE, (before.id if before else str(uuid.uuid4()), workspace_id, lead_id, item.id,
                                     _json(value), status, source, _json(override), reason, now))
        changed.append(item.code)
    return changed


def _same_types(a: Any, b: Any) -> bool:
    return type(a) is type(b)


def _resolve(item: Item, value: Any, change: ValueChange, before: StoredValue | None) -> tuple[str, str | None]:
    where = f"checklist.{item.code}"
    asked = None if change.status is MISSING else change.status
    if value is None:
        if asked == "COMPLETED":
            raise FieldError(f"{where}.status", "cannot be COMPLETED without a value")
        return asked or "TODO", None
    checked, reason = check_value(item, value)
    if checked == "INVALID":
        if asked == "COMPLETED" and change.value is MISSING:
            raise FieldError(f"{where}.status", f"cannot be COMPLETED: the value is invalid ({reason})")
        return "INVALID", reason
    if asked is not None:
        return asked, None
    if change.value is MISSING and before is not None and before.status != "INVALID":
        return before.status, None  # an override alone leaves the status as it was
    return "COMPLETED", None


# --- evaluation ------------------------------------------------------------------------------------


class BySource(TypedDict):
    agent: int
    imported: int
    manual: int
    portal: int


class Completion(TypedDict):
    totalRequired: int
    totalCompleted: int
    bySource: BySource


@dataclass(frozen=True)
class Evaluation:
    required: dict[str, bool]  # item id -> required and visible
    visible: dict[str, bool]
    completion: Completion
    needs_review: bool  # a visible item is NEEDS_REVIEW
    has_invalid: bool  # a visible item is INVALID


def evaluate(template: Template, values: Mapping[str, StoredValue]) -> Evaluation:
    """Visibility, requiredness and completion of one lead's checklist (see the rules above)."""
    known: dict[str, Any] = {}
    group_visible: dict[str, bool] = {}
    required: dict[str, bool] = {}
    visible: dict[str, bool] = {}
    by_source = {"agent": 0, "imported": 0, "manual": 0, "portal": 0}
    total_required = total_completed = 0
    needs_review = has_invalid = False
    # Read for every lead of a page or an export: the template's items as plain tuples.
    for item_id, group_id, key, conditions, is_required in template.plan:
        shown = True
        if group_id is not None:
            shown = group_visible.get(group_id)  # type: ignore[assignment]
            if shown is None:
                group_conditions = template.group_by_id[group_id].conditions
                shown = group_visible[group_id] = group_conditions is None or all(
                    c.holds(known) for c in group_conditions)
        if shown and conditions is not None:
            shown = all(c.holds(known) for c in conditions)
        visible[item_id] = shown
        stored = values.get(item_id)
        if stored is None:
            required[item_id] = shown and is_required
            total_required += shown and is_required
            continue
        status = stored.status
        if stored.item_override and "isRequired" in stored.item_override:
            is_required = bool(stored.item_override["isRequired"])
        required[item_id] = is_required = shown and is_required
        if shown:
            if stored.value is not None and status != "INVALID":
                known[key] = stored.value
            needs_review = needs_review or status == "NEEDS_REVIEW"
            has_invalid = has_invalid or status == "INVALID"
        if is_required:
            total_required += 1
            if status == "COMPLETED":
                total_completed += 1
                if stored.source in by_source:
                    by_source[stored.source] += 1
    completion: Completion = {"totalRequired": total_required, "totalCompleted": total_completed,
                              "bySource": by_source}  # type: ignore[typeddict-item]
    return Evaluation(required, visible, completion, needs_review, has_invalid)


def lead_status(evaluation: Evaluation, submitted_at: int | None, opted_out_at: int | None) -> str:
    """The computed status of a lead, one of LEAD_STATUSES (the rule is in this module's table)."""
    if opted_out_at is not None:
        return "OPTED_OUT"
    completion = evaluation.completion
    incomplete = completion["totalCompleted"] < completion["totalRequired"]
    if evaluation.needs_review or (submitted_at is not None and (incomplete or evaluation.has_invalid)):
        return "REVIEW"
    return "COMPLETED" if submitted_at is not None else "IN_PROGRESS"


class AnalyticsItem(TypedDict):
    code: str
    required: bool
    status: str
    value: Any
    updatedAt: str | None
    source: str | None


def analytics_items(template: Template, values: Mapping[str, StoredValue], evaluation: Evaluation
                    ) -> list[AnalyticsItem]:
    """A lead's checklist as per-lead analytics shows it, in checklist order: `GROUP_KEY.ITEM_CODE`
    codes, `required` meaning required and visible; `updatedAt` None for an untouched item (the
    reader shows the lead's createdAt)."""
    found: list[AnalyticsItem] = []
    for item in template.items:
        stored = values.get(item.id)
        found.append({"code": template.analytics_code(item), "required": evaluation.required[item.id],
                      "status": stored.status if stored else "TODO", "value": stored.value if stored else None,
                      "updatedAt": iso(stored.updated_at) if stored else None,
                      "source": stored.source if stored else None})
    return found


UNTOUCHED = "\x00"  # where csv_fragment leaves an untouched item's updatedAt (the lead's createdAt)


def csv_cell(value: Any) -> Any:
    """A JSON scalar as a CSV cell: empty for null, true/false for booleans, the rest as it is."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value  # csv writes None as an empty cell


def csv_fragment(items: Sequence[AnalyticsItem]) -> str:
    """The checklist cells of the CSV export (code, required, status, value, updatedAt, source per
    item), without a line end; untouched items' updatedAt is UNTOUCHED, for the reader to fill."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        cell for item in items for cell in (
            item["code"], csv_cell(item["required"]), item["status"], csv_cell(item["value"]),
            UNTOUCHED if item["updatedAt"] is None else item["updatedAt"], item["source"]))
    return out.getvalue()


# --- the completion rollup -----------------------------------------------------------------------

# An upsert, not INSERT OR REPLACE: the day rollup's triggers see the update as one (REPLACE's
# implicit delete fires no trigger).
_STORE_COMPLETION = (
    "INSERT INTO lead_completion VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lead_id) DO UPDATE SET"
    " total_required = excluded.total_required, total_completed = excluded.total_completed, agent = excluded.agent,"
    " imported = excluded.imported, manual = excluded.manual, portal = excluded.portal,"
    " checklist_items = excluded.checklist_items, checklist_csv = excluded.checklist_csv"
)
_FORGET_COMPLETION = ("DELETE FROM lead_completion WHERE lead_id IN"
                      " (SELECT lead_id FROM leads WHERE workspace_id = ?)")
_WORKSPACE_VALUES = (
    f"SELECT lci.lead_id, {', '.join('lci.' + c.strip() for c in _VALUE_COLUMNS.split(','))}"
    " FROM leads l CROSS JOIN lead_checklist_items lci ON lci.lead_id = l.lead_id"
    " WHERE l.workspace_id = ? ORDER BY lci.lead_id"
)


def _completion_row(lead_id: int, template: Template, values: Mapping[str, StoredValue]) -> tuple[Any, ...]:
    evaluation = evaluate(template, values)
    completion = evaluation.completion
    by_source = completion["bySource"]
    items = analytics_items(template, values, evaluation)
    return (lead_id, completion["totalRequired"], completion["totalCompleted"], by_source["agent"],
            by_source["imported"], by_source["manual"], by_source["portal"], orjson.dumps(items).decode(),
            csv_fragment(items))


def store_completion(conn: sqlite3.Connection, workspace_id: str, lead_id: int, template: Template) -> None:
    """Evaluate a lead's checklist and keep its completion row (inside the write that changed it)."""
    conn.execute(_STORE_COMPLETION, _completion_row(lead_id, template, lead_values_in(conn, workspace_id, lead_id)))


def _by_lead(rows: Iterator[Sequence[Any]]) -> Iterator[tuple[int, dict[str, StoredValue]]]:
    lead_id, values = None, {}
    for row in rows:
        if row[0] != lead_id:
            if lead_id is not None:
                yield lead_id, values
            lead_id, values = row[0], {}
        value = stored_value(row[1:])
        values[value.item_id] = value
    if lead_id is not None:
        yield lead_id, values


def recompute_workspace(conn: sqlite3.Connection, workspace_id: str, template: Template) -> int:
    """Every completion row of the workspace again, after its template changed; leads evaluated."""
    conn.execute(_FORGET_COMPLETION, (workspace_id,))
    count = 0
    batch: list[tuple[Any, ...]] = []
    for lead_id, values in _by_lead(conn.execute(_WORKSPACE_VALUES, (workspace_id,))):
        batch.append(_completion_row(lead_id, template, values))
        count += 1
        if len(batch) >= 1000:
            conn.executemany(_STORE_COMPLETION, batch)
            batch.clear()
    conn.executemany(_STORE_COMPLETION, batch)
    return count


# --- the template API ----------------------------------------------------------------------------


async def template_document(db: D1Database, workspace_id: str) -> TemplateJson:
    return template_json(await read_template(db, workspace_id))


async def put_template(db: D1Database, workspace_id: str, body: Mapping[str, Any], now: int) -> TemplateJson:
    """Replace the workspace's template (keeping every value leads gave it); the template as stored."""
    template = await db.transaction(lambda conn: replace_template(conn, workspace_id, body, now))
    return template_json(template)
