"""VPN suspicion of sessions and the suspicion score of leads."""
import json

import httpx
import pytest
from starlette.applications import Starlette

from domain.enrich import geo_for
from domain.suspicion import (
    SuspicionSignals,
    _timezone_table,
    is_disposable_email,
    is_hosting_network,
    suspicion_score,
    timezone_countries,
    vpn_suspected,
)
from tests.tracking import batch, event, form, headers, site  # noqa: F401  (fixture)

needs_tz_tables = pytest.mark.skipif(not _timezone_table(), reason="no zone1970.tab / zone.tab on this system")


@needs_tz_tables
@pytest.mark.parametrize(("zone", "country"), [
    ("Asia/Kolkata", "IN"),
    ("Asia/Calcutta", "IN"),  # the old name Chrome still reports
    ("Europe/Berlin", "DE"),
    ("Europe/Berlin", "NO"),  # zone1970.tab: one zone for several countries
    ("America/New_York", "US"),
    ("Europe/Kiev", "UA"),
])
def test_timezones_belong_to_their_countries(zone: str, country: str) -> None:
    assert country in timezone_countries(zone)
    assert not vpn_suspected(zone, country, False)


@needs_tz_tables
@pytest.mark.parametrize(("zone", "country"), [
    ("Asia/Kolkata", "US"),
    ("America/Chicago", "IN"),
    ("Europe/Berlin", "FR"),
])
def test_a_timezone_from_another_country_is_suspected(zone: str, country: str) -> None:
    assert vpn_suspected(zone, country, False)


@pytest.mark.parametrize(("zone", "country"), [
    ("UTC", "US"), ("Etc/GMT+3", "BR"), (None, "IN"), ("Asia/Kolkata", None), ("Not/AZone", "IN"),
])
def test_what_the_tables_cannot_place_is_never_held_against_a_session(zone, country) -> None:
    assert not vpn_suspected(zone, country, False)


def test_a_hosting_network_is_suspected_whatever_the_timezone() -> None:
    assert vpn_suspected("Asia/Kolkata", "IN", True)
    assert vpn_suspected(None, None, True)


@pytest.mark.parametrize(("asn", "hosting"), [
    ("DIGITALOCEAN-ASN", True), ("AMAZON-02", True), ("Hetzner Online GmbH", True), ("OVH SAS", True),
    ("M247 Europe SRL", True), ("Datacamp Limited", True), ("GOOGLE", True), ("CLOUDFLARENET", True),
    ("Reliance Jio Infocomm Limited", False), ("Comcast Cable Communications, LLC", False),
    ("GOOGLE-FIBER", False), ("Deutsche Telekom AG", False), ("Victor Telecom", False), ("", False),
])
def test_hosting_networks_by_asn_name(asn: str, hosting: bool) -> None:
    assert is_hosting_network(asn) is hosting


def test_the_bundled_geoip_data_tells_hosting_networks() -> None:
    assert geo_for("167.99.1.1", {}, False).hosting  # DigitalOcean
    home = geo_for("49.36.1.1", {}, False)  # Reliance Jio
    assert home.country == "IN" and not home.hosting
    assert not geo_for("127.0.0.1", {}, False).hosting


@pytest.mark.parametrize(("email", "disposable"), [
    ("someone@mailinator.com", True), ("x@SUB.Mailinator.com", True), ("a@yopmail.fr", True),
    ("rahul@example.com", False), ("a@gmail.com", False), ("not-an-email", False), (None, False),
])
def test_disposable_email_domains(email, disposable: bool) -> None:
    assert is_disposable_email(email) is disposable


def signals(vpn: bool = False, fill_ms: int | None = 8000, leads: int = 1, disposable: bool = False) -> SuspicionSignals:
    return SuspicionSignals(vpn_suspected=vpn, fill_ms=fill_ms, fingerprint_leads=leads, disposable_email=disposable)


@pytest.mark.parametrize(("given", "points"), [
    (signals(), 0),
    (signals(vpn=True), 25),
    (signals(fill_ms=2999), 30),
    (signals(fill_ms=0), 30),
    (signals(fill_ms=3000), 0),
    (signals(fill_ms=None), 0),
    (signals(leads=2), 0),
    (signals(leads=3), 25),
    (signals(disposable=True), 20),
    (signals(vpn=True, fill_ms=100, leads=9, disposable=True), 100),
])
def test_suspicion_score(given: SuspicionSignals, points: int) -> None:
    assert suspicion_score(given) == points


# --- through POST /track ---------------------------------------------------------------------


async def lead_suspicion(app: Starlette, email: str) -> int:
    return await app.state.env.DB.prepare("SELECT suspicion_score AS s FROM leads WHERE email_norm = ?") \
        .bind(email).first("s")


async def test_a_form_filled_too_fast_from_a_disposable_address(client, app, site) -> None:
    body = batch(site["site_key"], [form({"email": "x@mailinator.com"}, fill_ms=900)])
    await client.post("/track", content=json.dumps(body), headers=headers())
    assert await lead_suspicion(app, "x@mailinator.com") == 50


async def test_one_fingerprint_submitting_for_many_leads(client, app, site) -> None:
    for n in range(4):
        body = batch(site["site_key"], [form({"email": f"person{n}@example.com"})], session=f"s_{n}", visitor=f"v_{n}")
        await client.post("/track", content=json.dumps(body), headers=headers())
    scores = [await lead_suspicion(app, f"person{n}@example.com") for n in range(4)]
    assert scores == [0, 0, 25, 25]


async def test_a_vpn_session_makes_its_lead_suspicious(app, site) -> None:
    transport = httpx.ASGITransport(app=app, client=("167.99.1.1", 50000))  # a DigitalOcean address
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        body = batch(site["site_key"], [event(), form({"email": "vpn@example.com"})])
        await http.post("/track", content=json.dumps(body), headers=headers())
    assert await lead_suspicion(app, "vpn@example.com") == 25
    assert await app.state.env.DB.prepare("SELECT vpn_suspected AS v FROM sessions").first("v") == 1


async def test_a_lead_keeps_its_highest_suspicion(client, app, site) -> None:
    for fill_ms in (500, 9000):
        body = batch(site["site_key"], [form({"email": "same@example.com"}, fill_ms=fill_ms)])
        await client.post("/track", content=json.dumps(body), headers=headers())
    assert await lead_suspicion(app, "same@example.com") == 30
