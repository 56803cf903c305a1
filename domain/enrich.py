"""What the request itself says about a visit: client IP, country, network, device, referrer, bots.

Country: Cloudflare's `CF-IPCountry` header when the deployment trusts its proxy
(`[leadlight] trust_proxy`), else geoip2fast's bundled database (country and ASN, IPv4 and
IPv6; it has no cities, so `city` stays empty unless a proxy supplies `CF-IPCity`).

User agents: only the first `MAX_AGENT_CHARS` characters are read (real ones are shorter), so
parsing costs a bounded time whatever a client sends: ua-parser with its native resolver
(ua-parser-rs) takes well under a millisecond on 512 characters, where its pure-Python one
takes about 4 ms and a megabyte took seconds.
"""
from __future__ import annotations

import functools
import gc
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ua_parser import parse as parse_user_agent

from domain.suspicion import is_hosting_network

# Crawlers, monitors, headless browsers and HTTP libraries: never a person at a keyboard.
# (?<!cu): CUBOT is a phone maker.
_BOT = re.compile(
    r"(?<!cu)bot\b|crawl|spider|slurp|headless|lighthouse|pagespeed|phantomjs|puppeteer|playwright|selenium|"
    r"webdriver|prerender|preview|facebookexternalhit|embedly|monitor|uptime|pingdom|statuscake|"
    r"^curl/|^wget/|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|okhttp|java/|"
    r"libwww-perl|httpclient|scrapy|axios/|node-fetch|undici|^$",
    re.IGNORECASE,
)
_NO_COUNTRY = frozenset({"", "XX", "--"})
MAX_AGENT_CHARS = 512
_TOR = "T1"


@dataclass(frozen=True)
class Geo:
    country: str | None
    city: str | None
    hosting: bool  # a hosting, cloud, VPN or Tor network


@dataclass(frozen=True)
class Agent:
    device: str  # desktop, mobile, tablet or bot
    browser: str | None
    os: str | None


def client_ip(headers: Mapping[str, str], peer: str | None, trust_proxy: bool) -> str | None:
    if trust_proxy:
        connecting = headers.get("cf-connecting-ip", "").strip()
        if connecting:
            return connecting
        forwarded = headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return peer


def geo_for(ip: str | None, headers: Mapping[str, str], trust_proxy: bool) -> Geo:
    looked_up = _lookup(ip) if ip else Geo(None, None, False)
    if not trust_proxy:
        return looked_up
    header = headers.get("cf-ipcountry", "").strip().upper()
    if not header:
        return looked_up
    if header == _TOR:
        return Geo(None, None, True)
    city = headers.get("cf-ipcity", "").strip() or None
    country = None if header in _NO_COUNTRY else header
    return Geo(country, city, looked_up.hosting)


def is_bot(user_agent: str, webdriver: bool) -> bool:
    return webdriver or _is_bot_agent(user_agent[:MAX_AGENT_CHARS])


@functools.lru_cache(maxsize=4096)
def _is_bot_agent(user_agent: str) -> bool:
    return _BOT.search(user_agent) is not None or _agent_for(user_agent).device == "bot"


def agent_for(user_agent: str) -> Agent:
    return _agent_for(user_agent[:MAX_AGENT_CHARS])


@functools.lru_cache(maxsize=4096)
def _agent_for(user_agent: str) -> Agent:
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    os_name = parsed.os.family if parsed.os else None
    family = parsed.device.family if parsed.device else ""
    brand = (parsed.device.brand or "") if parsed.device else ""
    if family == "Spider":
        device = "bot"
    elif family == "iPad" or "Tablet" in brand or (os_name == "Android" and "Mobile" not in user_agent):
        device = "tablet"
    elif "Mobi" in user_agent or family == "iPhone" or os_name in ("iOS", "Android"):
        device = "mobile"
    else:
        device = "desktop"
    return Agent(device=device, browser=browser, os=os_name)


def referrer_domain(referrer: str | None, page_url: str | None) -> str:
    """The referring site without `www.`; `(direct)` for none or the page's own host."""
    host = _host(referrer)
    if not host or host == _host(page_url):
        return "(direct)"
    return host


@functools.lru_cache(maxsize=4096)
def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def warm() -> None:
    """Load the GeoIP data and the user-agent rules (about 0.4 s a process) at start-up,
    not while the first requests wait."""
    _database()
    parse_user_agent("Mozilla/5.0")


_geoip: Any = None
_geoip_lock = threading.Lock()


def _database() -> Any:
    global _geoip
    if _geoip is None:
        with _geoip_lock:
            if _geoip is None:
                from geoip2fast import GeoIP2Fast

                # The ASN file holds the countries too; loading it costs ~0.2 s once per process.
                _geoip = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
                # Its tables are lists of millions of entries that live as long as the process;
                # left to the collector, every full collection walks them (a 40-90 ms pause, the
                # ingestion p99). Frozen, the collector skips everything allocated so far.
                gc.freeze()
    return _geoip


@functools.lru_cache(maxsize=16384)
def _lookup(ip: str) -> Geo:
    result = _database().lookup(ip)
    country = (result.country_code or "").upper()
    return Geo(
        country=None if country in _NO_COUNTRY else country,
        city=getattr(result.city, "name", None) or None,  # a CityDetail; empty in the bundled databases
        hosting=not result.is_private and is_hosting_network(result.asn_name or ""),
    )
