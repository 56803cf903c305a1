"""GET /api/v1/analysis/ as call-analyses-api.md documents it, over the seeded analyses
(tests/seed_calls.py: GOOD, PENDING, POOR, BROKEN in "default", newest first; OTHER in "ws-two"),
plus one analysis by id and the workspace's settings."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from domain import call_findings
from tests.seed import HOUR, Workspace
from tests.seed_calls import BROKEN, BROKEN_MESSAGE, GOOD, GOOD_CALL, OTHER, PENDING, POOR

URL = "/api/v1/analysis/"
KEY = {"X-API-Key": "test-analytics-key"}


async def listed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(URL, params=params, headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [analysis["id"] for analysis in body["data"]]


async def test_the_list_is_the_documents_analysis_list_newest_first(client: httpx.AsyncClient,
                                                                   workspace: Workspace) -> None:
    body = await listed(client)
    assert (body["object"], body["has_more"], body["total"]) == ("list", False, 4)
    assert ids(body) == [GOOD, PENDING, POOR, BROKEN]
    good, pending = body["data"][0], body["data"][1]
    url = good["audio"].pop("url")
    created = (workspace.today - 86_400_000 + 14 * HOUR) // 1000
    assert {key: value for key, value in good.items() if key not in ("transcript", "results")} == {
        "id": GOOD, "object": "analysis", "created": created, "status": "completed", "livemode": False,
        "call": {"agent_id": "agent_001", "contact_id": "customer_12345", "duration_ms": 125500,
                 "duration_seconds": 125.5},
        "audio": {"size_bytes": 1048576, "format": "wav", "duration_seconds": 125.5},
        "metadata": {"webhook_url": "https://your-app.com/webhooks/analysis",
                     "completed_at": _iso(created * 1000 + 45_230), "processing_time_ms": 45230,
                     "error_message": None},
    }
    # A presigned GET on the RECORDINGS bucket, good for an hour.
    parts = urlsplit(url)
    assert parts.path.endswith(f"/recordings/default/{_day(created)}/{GOOD}.wav")
    assert "X-Amz-Signature=" in parts.query and "X-Amz-Expires=3600" in parts.query
    assert good["transcript"]["language"] == "en"
    assert [s["text"] for s in good["transcript"]["segments"]] == [line["text"] for line in GOOD_CALL]
    results = good["results"]
    assert results["coaching"] == {"recommendations": [], "customer_effort_score": 1}
    assert results["quality"]["greeting"]["present"] is True
    assert {name: finding["flagged"] for name, finding in results["compliance"].items()} == {
        "identity_verification": False, "mandatory_disclosures": False, "purpose_declaration": False}
    pending["audio"].pop("url")
    assert pending == {
        "id": PENDING, "object": "analysis", "created": created - 3600, "status": "processing", "livemode": False,
        "call": {"agent_id": "agent_002", "contact_id": "customer_67890", "duration_ms": 98200,
                 "duration_seconds": 98.2},
        "audio": {"size_bytes": 823456, "format": "mp3", "duration_seconds": 98.2},
        "transcript": None, "results": None,
        "metadata": {"webhook_url": None, "completed_at": None, "processing_time_ms": None, "error_message": None},
    }


def _iso(ms: int) -> str:
    from domain.dates import iso

    return iso(ms) or ""


def _day(seconds: int) -> str:
    import time

    return time.strftime("%Y/%m/%d", time.gmtime(seconds))


FILTERS: list[tuple[dict[str, Any], list[str], int]] = [
    ({"status_filter": "completed"}, [GOOD, POOR], 2),
    ({"status_filter": "processing"}, [PENDING], 1),
    ({"status_filter": "failed"}, [BROKEN], 1),
    ({"agent_id": "agent_001"}, [GOOD, BROKEN], 2),
    ({"agent_id": "AGENT_001"}, [], 0),  # exact
    ({"contact_id": "customer_12345"}, [GOOD], 1),
    ({"search": "agent_001"}, [GOOD, BROKEN], 2),
    ({"search": "customer_123"}, [GOOD, BROKEN], 2),  # customer_12345 and customer_12399
    ({"search": "CUSTOMER"}, [GOOD, PENDING, BROKEN], 3),  # case-insensitive, in contact_id
    ({"search": "rahul@"}, [POOR], 1),
    ({"search": "t_00"}, [GOOD, PENDING, POOR, BROKEN], 4),  # "_" is literal ...
    ({"search": "agent%1"}, [], 0),  # ... and so is "%"
    ({"search": ""}, [GOOD, PENDING, POOR, BROKEN], 4),
    ({"agent_id": ""}, [], 0),  # an empty value is a value, as in FastAPI
    ({"status_filter": "completed", "agent_id": "agent_001", "limit": 50}, [GOOD], 1),
    ({"search": "agent-ws-two"}, [], 0),  # ws-two's analysis is never seen
]


async def test_filters(client: httpx.AsyncClient, workspace: Workspace) -> None:
    for params, expected, total in FILTERS:
        body = await listed(client, **params)
        assert (ids(body), body["total"], body["has_more"]) == (expected, total, False), params


PAGES: list[tuple[int, int, list[str], bool]] = [
    (1, 0, [GOOD], True),
    (2, 2, [POOR, BROKEN], False),
    (3, 1, [PENDING, POOR, BROKEN], False),
    (1, 3, [BROKEN], False),
    (100, 4, [], False),
    (1000, 10**20, [], False),
]


async def test_pagination(client: httpx.AsyncClient, workspace: Workspace) -> None:
    for limit, offset, expected, has_more in PAGES:
        body = await listed(client, limit=limit, offset=offset)
        assert (ids(body), body["has_more"], body["total"]) == (expected, has_more, 4), (limit, offset)


def loc(*where: str | int) -> list[str | int]:
    return ["query", *where]


INVALID: list[tuple[str, list[dict[str, Any]]]] = [
    ("limit=1001", [{"loc": loc("limit"), "msg": "ensure this value is less than or equal to 1000",
                     "type": "value_error.number.not_le"}]),
    ("limit=0", [{"loc": loc("limit"), "msg": "ensure this value is greater than or equal to 1",
                  "type": "value_error.number.not_ge"}]),
    ("limit=-5", [{"loc": loc("limit"), "msg": "ensure this value is greater than or equal to 1",
                   "type": "value_error.number.not_ge"}]),
    ("limit=ten", [{"loc": loc("limit"), "msg": "value is not a valid integer", "type": "type_error.integer"}]),
    ("limit=1.5", [{"loc": loc("limit"), "msg": "value is not a valid integer", "type": "type_error.integer"}]),
    ("limit=", [{"loc": loc("limit"), "msg": "value is not a valid integer", "type": "type_error.integer"}]),
    ("offset=-1", [{"loc": loc("offset"), "msg": "ensure this value is greater than or equal to 0",
                    "type": "value_error.number.not_ge"}]),
    ("offset=x", [{"loc": loc("offset"), "msg": "value is not a valid integer", "type": "type_error.integer"}]),
    ("status_filter=done", [{"loc": loc("status_filter"),
                             "msg": "value is not a valid enumeration member; permitted: 'processing', "
                                    "'completed', 'failed'", "type": "type_error.enum"}]),
    ("status_filter=Completed", [{"loc": loc("status_filter"),
                                  "msg": "value is not a valid enumeration member; permitted: 'processing', "
                                         "'completed', 'failed'", "type": "type_error.enum"}]),
    ("agent_id=" + "a" * 256, [{"loc": loc("agent_id"), "msg": "ensure this value has at most 255 characters",
                                "type": "value_error.any_str.max_length"}]),
    ("contact_id=" + "c" * 256, [{"loc": loc("contact_id"), "msg": "ensure this value has at most 255 characters",
                                  "type": "value_error.any_str.max_length"}]),
    ("search=" + "s" * 256, [{"loc": loc("search"), "msg": "ensure this value has at most 255 characters",
                              "type": "value_error.any_str.max_length"}]),
    # Every invalid parameter at once, in the order the document lists them.
    ("offset=-1&limit=5000&status_filter=x", [
        {"loc": loc("status_filter"), "msg": "value is not a valid enumeration member; permitted: 'processing', "
                                             "'completed', 'failed'", "type": "type_error.enum"},
        {"loc": loc("limit"), "msg": "ensure this value is less than or equal to 1000",
         "type": "value_error.number.not_le"},
        {"loc": loc("offset"), "msg": "ensure this value is greater than or equal to 0",
         "type": "value_error.number.not_ge"},
    ]),
]


async def test_every_invalid_parameter_is_a_422_in_fastapis_words(client: httpx.AsyncClient) -> None:
    for query, detail in INVALID:
        response = await client.get(f"{URL}?{query}", headers=KEY)
        assert (response.status_code, response.json()) == (422, {"detail": detail}), query


async def test_no_valid_key_is_401(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-API-Key": "sk_live_wrong"}, {"Authorization": "Bearer nope"},
                    {"Authorization": "Basic dGVzdA=="}):
        for path in (URL, "/api/v1/analysis", f"/api/v1/analysis/{GOOD}", "/api/v1/analysis/no/such/path"):
            response = await client.get(path, headers=headers)
            assert (response.status_code, response.json()) == (
                401, {"detail": "Invalid authentication credentials"}), (headers, path)


async def test_both_spellings_of_the_path_and_both_key_headers(client: httpx.AsyncClient,
                                                              workspace: Workspace) -> None:
    with_slash = await listed(client, limit=2)
    response = await client.get("/api/v1/analysis?limit=2",
                                headers={"Authorization": "Bearer test-analytics-key"})
    assert response.status_code == 200
    assert ids(response.json()) == ids(with_slash) == [GOOD, PENDING]


async def test_one_analysis_by_id(client: httpx.AsyncClient, workspace: Workspace) -> None:
    response = await client.get(f"/api/v1/analysis/{BROKEN}", headers=KEY)
    assert response.status_code == 200
    broken = response.json()
    assert (broken["status"], broken["transcript"], broken["results"], broken["metadata"]) == (
        "failed", None, None, {"webhook_url": None, "completed_at": None, "processing_time_ms": None,
                               "error_message": BROKEN_MESSAGE})
    upper = await client.get(f"/api/v1/analysis/{GOOD.upper()}", headers=KEY)
    assert upper.json()["id"] == GOOD


async def test_not_found_and_bad_ids(client: httpx.AsyncClient, workspace: Workspace) -> None:
    for analysis_id in (OTHER, "00000000-0000-4000-8000-000000000000"):  # ws-two's, and nobody's
        response = await client.get(f"/api/v1/analysis/{analysis_id}", headers=KEY)
        assert (response.status_code, response.json()) == (404, {"detail": "Analysis not found"})
    response = await client.get("/api/v1/analysis/not-a-uuid", headers=KEY)
    assert (response.status_code, response.json()) == (422, {"detail": [
        {"loc": ["path", "analysis_id"], "msg": "value is not a valid uuid", "type": "type_error.uuid"}]})
    response = await client.get("/api/v1/analysis/a/b", headers=KEY)
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    response = await client.delete(URL, headers=KEY)
    assert (response.status_code, response.json(), response.headers["allow"]) == (
        405, {"detail": "Method Not Allowed"}, "GET, POST")


async def test_settings_hold_the_mandatory_disclosures(client: httpx.AsyncClient, workspace: Workspace) -> None:
    settings = "/api/v1/analysis/settings"
    response = await client.get(settings, headers=KEY)
    assert response.json() == {"object": "analysis_settings",
                               "mandatory_disclosures": list(call_findings.DEFAULT_DISCLOSURES)}
    phrases = ["This call is recorded", "You may ask for a copy of this call"]
    response = await client.put(settings, json={"mandatory_disclosures": phrases}, headers=KEY)
    assert (response.status_code, response.json()) == (
        200, {"object": "analysis_settings", "mandatory_disclosures": phrases})
    other = await client.get(settings, headers={"X-API-Key": workspace.other_key})
    assert other.json()["mandatory_disclosures"] == list(call_findings.DEFAULT_DISCLOSURES)
    response = await client.put(settings, json={"mandatory_disclosures": []}, headers=KEY)
    assert response.json()["mandatory_disclosures"] == []


INVALID_SETTINGS: list[tuple[Any, list[dict[str, Any]]]] = [
    ({}, [{"loc": ["body", "mandatory_disclosures"], "msg": "field required", "type": "value_error.missing"}]),
    ({"mandatory_disclosures": "recorded"}, [{"loc": ["body", "mandatory_disclosures"],
                                              "msg": "value is not a valid list", "type": "type_error.list"}]),
    ({"mandatory_disclosures": ["ok", 5, "!!!", "x" * 301]}, [
        {"loc": ["body", "mandatory_disclosures", 1], "msg": "str type expected", "type": "type_error.str"},
        {"loc": ["body", "mandatory_disclosures", 2], "msg": "a phrase needs at least one word of letters a-z or "
                                                             "digits", "type": "value_error"},
        {"loc": ["body", "mandatory_disclosures", 3], "msg": "ensure this value has at most 300 characters",
         "type": "value_error.any_str.max_length"}]),
    ({"mandatory_disclosures": ["a"] * 21}, [{"loc": ["body", "mandatory_disclosures"],
                                              "msg": "ensure this value has at most 20 items",
                                              "type": "value_error.list.max_items"}]),
    ("[1, 2]", [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]),
    ("{nope", [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]),
]


async def test_invalid_settings_change_nothing(client: httpx.AsyncClient, workspace: Workspace) -> None:
    settings = "/api/v1/analysis/settings"
    for body, detail in INVALID_SETTINGS:
        content = body if isinstance(body, str) else None
        response = await client.put(settings, json=None if content else body, content=content, headers=KEY)
        assert (response.status_code, response.json()) == (422, {"detail": detail}), body
        after = await client.get(settings, headers=KEY)
        assert after.json()["mandatory_disclosures"] == list(call_findings.DEFAULT_DISCLOSURES)
