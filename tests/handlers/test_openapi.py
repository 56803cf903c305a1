"""GET /openapi.json: a valid OpenAPI 3.1 document of every operation, and real answers that match it.

Every operation of every surface is called as the seeded workspace's data allows (workspace
"ws-two"'s key and ids for path parameters, the operation's example body for writes), and its
answer, whatever the status, must match what the document declares for that status. The
schemas are checked strictly: an object may carry no field the document does not name.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Literal, NotRequired, TypedDict

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

import handlers
from handlers.json_schema import Components, from_example
from handlers.openapi import build
from tests.seed import Workspace

OPERATIONS = [(surface, path, method, op) for surface in handlers.SURFACES for path, method, op in surface.operations]
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build(handlers.SURFACES)


def strict(schema: Any) -> Any:
    """The schema with every object closed: properties the document does not name are errors."""
    if isinstance(schema, dict):
        closed = {key: strict(value) for key, value in schema.items()}
        if "properties" in closed and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def check(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response matches the document's answer for its status (or `default`)."""
    responses = document["paths"][_PARAM.sub(r"{\1}", path)][method.lower()]["responses"]
    declared = responses.get(str(response.status_code)) or responses.get("default")
    assert declared is not None, f"{method} {path}: status {response.status_code} is not documented"
    content = declared.get("content")
    if not content:
        return
    media, spec = next(iter(content.items()))
    assert response.headers["content-type"].split(";")[0] == media.split(";")[0], (method, path)
    if media != "application/json":
        return
    schema = {**strict(spec["schema"]), "components": strict(document["components"])}
    try:
        jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError as error:
        raise AssertionError(f"{method} {path} {response.status_code}: {error.message} at {list(error.absolute_path)}")


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


async def test_it_is_served_with_an_etag(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200 and response.json() == document
    again = await client.get("/openapi.json", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_every_operation_of_every_surface_is_described(document: dict[str, Any]) -> None:
    for surface, path, method, op in OPERATIONS:
        described = document["paths"][_PARAM.sub(r"{\1}", path)][method.lower()]
        assert described["tags"] == [surface.dialect.name]
        assert [p["name"] for p in described.get("parameters", [])] == [p.name for p in op.params]
        assert {"401", "500", "default"} <= set(described["responses"]), (method, path)
        assert str(op.status) in described["responses"]
        if op.body is not None:
            assert described["requestBody"]["content"][op.body_type]["example"] == op.example
    for public in ("/track", "/t.js", "/healthz", "/openapi.json"):
        assert public in document["paths"]


def test_parameters_carry_their_limits(document: dict[str, Any]) -> None:
    daily = document["paths"]["/analytics/sessions/daily"]["get"]["parameters"]
    assert daily == [{"name": "days", "in": "query", "required": False, "description": "Number of days to look back",
                      "schema": {"type": "integer", "minimum": 0, "maximum": 90, "default": 30,
                                 "description": "values above 90 are treated as 90"}}]
    sort = next(p for p in document["paths"]["/analytics/leads"]["get"]["parameters"] if p["name"] == "sort")
    assert sort["schema"]["enum"] == ["newest", "oldest", "last_follow_up", "score_desc", "score_asc", "risk_desc",
                                      "risk_asc", "name_asc"]
    lead = document["paths"]["/analytics/leads/{lead_id}"]["get"]["parameters"]
    assert lead[0]["in"] == "path" and lead[0]["required"] is True


def test_the_breakdowns_are_marked_as_extensions(document: dict[str, Any]) -> None:
    extensions = sorted(path for path, item in document["paths"].items()
                        for op in item.values() if op.get("x-extension"))
    assert {"/analytics/devices", "/analytics/campaigns/utm", "/analytics/bots", "/analytics/sites"} <= set(extensions)
    assert "x-extension" not in document["paths"]["/analytics/overview"]["get"]
    devices = document["components"]["schemas"]["Devices"]
    assert devices["required"] == ["devices", "browsers", "os"]
    assert document["components"]["schemas"]["DeviceSessions"]["properties"]["device"] == {"type": ["string", "null"]}


def test_error_bodies_are_the_dialects_own(document: dict[str, Any]) -> None:
    overview = document["paths"]["/analytics/overview"]["get"]["responses"]
    assert overview["401"]["content"]["application/json"]["example"] == {
        "error": "API key required. Use Authorization: Bearer <key> or X-API-Key header."}
    assert overview["500"]["content"]["application/json"]["example"] == {"error": "Analytics query failed"}
    assert overview["401"]["content"]["application/json"]["schema"] == {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


async def test_real_answers_match_the_document(client: httpx.AsyncClient, workspace: Workspace,
                                               document: dict[str, Any]) -> None:
    answered: dict[str, int] = {}
    for _, path, method, op in OPERATIONS:
        names = _PARAM.findall(path)
        url = _PARAM.sub(lambda m: workspace.other_ids[m.group(1)], path)
        content = json.dumps(op.example) if op.example is not None else None
        # The seeded default workspace where no id is needed (it has the most data), ws-two's otherwise.
        key = workspace.other_key if names or op.example is not None else "test-analytics-key"
        response = await client.request(method, url, content=content,
                                        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        assert response.status_code < 500, f"{method} {url}: {response.text[:300]}"
        check(document, path, method, response)
        answered[f"{method} {path}"] = response.status_code
        # Without a key: the 401 as documented.
        unauthorized = await client.request(method, url, content=content)
        assert unauthorized.status_code == 401
        check(document, path, method, unauthorized)
    failed_reads = {name: status for name, status in answered.items() if name.startswith("GET") and status >= 300}
    assert not failed_reads, f"GET operations the seeded workspace could not answer: {failed_reads}"


async def test_invalid_parameters_match_the_documented_error(client: httpx.AsyncClient, workspace: Workspace,
                                                             document: dict[str, Any]) -> None:
    from handlers.params import Integer

    for surface, path, method, op in OPERATIONS:
        number = next((p for p in op.params if isinstance(p, Integer) and p.location == "query"), None)
        if number is None or method != "GET":
            continue
        url = _PARAM.sub(lambda m: workspace.other_ids[m.group(1)], path)
        response = await client.get(url, params={number.name: "not-a-number"},
                                    headers={"Authorization": f"Bearer {workspace.other_key}"})
        assert response.status_code == surface.dialect.invalid_status, (path, response.text)
        check(document, path, method, response)


async def test_public_routes_match_the_document(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    health = await client.get("/healthz")
    check(document, "/healthz", "GET", health)
    unknown = await client.post("/track", content=json.dumps({"site": "nope", "visitor_id": "v", "session_id": "s",
                                                              "events": [{"id": "evt_00000001", "type": "page_view",
                                                                          "ts": 1_800_000_000_000, "url": "/"}]}))
    assert unknown.status_code == 404
    check(document, "/track", "POST", unknown)


# --- the type conversion ----------------------------------------------------------------------------


class Inner(TypedDict):
    when: str | None
    kind: Literal["a", "b"]


class Outer(TypedDict):
    inners: list[Inner]
    by_name: dict[str, int]
    maybe: NotRequired[Inner | None]
    score: float


def test_typeddicts_become_named_schemas() -> None:
    components = Components()
    assert components.schema_of(list[Outer]) == {"type": "array", "items": {"$ref": "#/components/schemas/Outer"}}
    assert components.schemas == {
        "Outer": {"type": "object", "required": ["inners", "by_name", "score"], "properties": {
            "inners": {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}},
            "by_name": {"type": "object", "additionalProperties": {"type": "integer"}},
            "maybe": {"anyOf": [{"$ref": "#/components/schemas/Inner"}, {"type": "null"}]},
            "score": {"type": "number"}}},
        "Inner": {"type": "object", "required": ["when", "kind"], "properties": {
            "when": {"type": ["string", "null"]}, "kind": {"type": "string", "enum": ["a", "b"]}}},
    }


def test_an_error_body_schema_is_read_off_the_body() -> None:
    assert from_example({"success": False, "error": {"code": "X", "message": "m"}, "hint": None}) == {
        "type": "object", "required": ["success", "error", "hint"], "properties": {
            "success": {"type": "boolean"}, "hint": {},
            "error": {"type": "object", "required": ["code", "message"],
                      "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
    assert from_example({"detail": [{"loc": ["query", "limit"], "msg": "m"}]})["properties"]["detail"] == {
        "type": "array", "items": {"type": "object", "required": ["loc", "msg"], "properties": {
            "loc": {"type": "array", "items": {"type": "string"}}, "msg": {"type": "string"}}}}
    assert copy.deepcopy(strict({"properties": {}})) == {"properties": {}, "additionalProperties": False}


def test_file_uploads_are_described_as_multipart_forms(document: dict[str, Any]) -> None:
    upload = document["paths"]["/api/v1/analysis/"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
    assert upload["multipart/form-data"]["schema"]["properties"]["audio"] == {
        "type": "string", "format": "binary", "description": "WAV or MP3, at most 26214400 bytes"}
    document_upload = document["paths"]["/api/v1/leads/{leadId}/documents"]["post"]
    assert list(document_upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert list(document_upload["responses"]["201"]["content"]) == ["application/json"]
