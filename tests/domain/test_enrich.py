"""What a request says about a visit: IP, country, device, referrer, bots; the proxy headers when trusted."""
import json
import time
from pathlib import Path

import pytest

from domain.enrich import MAX_AGENT_CHARS, agent_for, client_ip, geo_for, is_bot, referrer_domain
from storage.config import Config, load_config
from tests.conftest import write_config
from tests.tracking import batch, event, form, headers, site  # noqa: F401  (fixture)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """This module's app trusts its proxy, as a deployment behind Cloudflare does."""
    return load_config(write_config(tmp_path, "[leadlight]\ntrust_proxy = true\n"), local=True, environ={})


def test_the_peer_is_the_client_unless_the_proxy_is_trusted() -> None:
    sent = {"cf-connecting-ip": "198.51.100.20", "x-forwarded-for": "192.0.2.1, 10.0.0.1"}
    assert client_ip(sent, "10.0.0.1", False) == "10.0.0.1"
    assert client_ip(sent, "10.0.0.1", True) == "198.51.100.20"
    assert client_ip({"x-forwarded-for": "192.0.2.1, 10.0.0.1"}, "10.0.0.1", True) == "192.0.2.1"
    assert client_ip({}, "10.0.0.1", True) == "10.0.0.1"


def test_cf_ipcountry_counts_only_when_trusted() -> None:
    sent = {"cf-ipcountry": "FR", "cf-ipcity": "Lyon"}
    trusted = geo_for("49.36.1.1", sent, True)
    assert (trusted.country, trusted.city) == ("FR", "Lyon")
    assert geo_for("49.36.1.1", sent, False).country == "IN"
    assert geo_for("49.36.1.1", {"cf-ipcountry": "XX"}, True).country is None
    tor = geo_for("49.36.1.1", {"cf-ipcountry": "T1"}, True)
    assert tor.country is None and tor.hosting


@pytest.mark.parametrize(("agent", "device", "browser", "os"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
     "desktop", "Chrome", "Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
     "Mobile/15E148 Safari/604.1", "mobile", "Mobile Safari", "iOS"),
    ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
     "Mobile/15E148 Safari/604.1", "tablet", "Mobile Safari", "iOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile "
     "Safari/537.36", "mobile", "Chrome Mobile", "Android"),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
     "tablet", "Chrome", "Android"),
])
def test_device_browser_and_os(agent: str, device: str, browser: str, os: str) -> None:
    parsed = agent_for(agent)
    assert parsed.device == device and parsed.os == os
    assert parsed.browser is not None and parsed.browser.startswith(browser.split()[0])


def test_bots() -> None:
    assert is_bot("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", False)
    assert is_bot("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1)", False)
    assert is_bot("Wget/1.21", False)
    assert is_bot("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36", True)  # navigator.webdriver
    assert not is_bot("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
                      "Safari/537.36", False)


def test_only_the_start_of_a_user_agent_is_read_and_in_bounded_time() -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    for n in range(3):  # unique each time: no cache can answer
        padded = f"{agent} {n} " + "".join(f"x{k:07d}" for k in range(131_072))  # one megabyte
        started = time.perf_counter()
        parsed, bot = agent_for(padded), is_bot(padded, False)
        assert time.perf_counter() - started < 0.02
        assert (parsed.device, parsed.browser, parsed.os, bot) == ("desktop", "Chrome", "Linux", False)
    # What lies past the first MAX_AGENT_CHARS characters is never read: not even a crawler's name.
    assert not is_bot(agent + " " * MAX_AGENT_CHARS + "Googlebot/2.1", False)
    assert is_bot(agent + " Googlebot/2.1", False)


@pytest.mark.parametrize(("referrer", "page", "domain"), [
    (None, "https://example.com/", "(direct)"),
    ("", "https://example.com/", "(direct)"),
    ("https://www.google.com/", "https://example.com/", "google.com"),
    ("https://example.com/a", "https://www.example.com/b", "(direct)"),
    ("https://blog.example.com/a", "https://example.com/b", "blog.example.com"),
    ("not a url", "https://example.com/", "(direct)"),
])
def test_referrer_domains(referrer, page, domain) -> None:
    assert referrer_domain(referrer, page) == domain


async def test_a_trusted_proxy_supplies_country_and_client_ip(client, app, site) -> None:
    body = batch(site["site_key"], [event(), form({"email": "rahul@example.com"})], timezone="Asia/Kolkata")
    proxied = headers(**{"CF-IPCountry": "US", "CF-Connecting-IP": "198.51.100.20", "CF-IPCity": "Austin"})
    assert (await client.post("/track", content=json.dumps(body), headers=proxied)).status_code == 202
    db = app.state.env.DB
    session = await db.prepare("SELECT country, city, vpn_suspected FROM sessions").first()
    assert session == {"country": "US", "city": "Austin", "vpn_suspected": 1}  # an Indian timezone from a US address
    assert await db.prepare("SELECT contact_ip FROM submissions").first("contact_ip") == "198.51.100.20"
    lead = await db.prepare("SELECT country, city FROM leads").first()
    assert lead == {"country": "US", "city": "Austin"}
