"""VPN suspicion of a session and the suspicion score (0-100) of a lead.

A session is **VPN-suspected** when either
- its IP belongs to a hosting, cloud or VPN network (the ASN name in the GeoIP data, or
  Cloudflare's `T1` country for Tor), or
- the browser's timezone cannot belong to the IP's country: the timezone is mapped to the
  countries that use it with the tz database's own tables (`zone1970.tab`, `zone.tab`
  and the link names in `tzdata.zi`, read from the system's zoneinfo directory or the
  `tzdata` package). A timezone the tables do not place (`UTC`, `Etc/GMT+3`) or an IP with
  no known country is never held against a session.

A lead's **suspicion score** adds the points of each signal seen on a submission and is
capped at 100; the lead keeps the highest score any of its submissions reached:

| signal | points |
| --- | --- |
| the submitting session is VPN-suspected | 25 |
| the form was filled in under 3 seconds (from the first keystroke to submit; 0 means no typing was seen) | 30 |
| the browser fingerprint submitted forms for 3 or more different leads in the last 24 hours | 25 |
| the email address is at a disposable-mail domain | 20 |
"""
from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

VPN_POINTS = 25
FAST_FILL_POINTS = 30
SHARED_FINGERPRINT_POINTS = 25
DISPOSABLE_EMAIL_POINTS = 20
FAST_FILL_MS = 3_000
SHARED_FINGERPRINT_LEADS = 3
SHARED_FINGERPRINT_WINDOW_MS = 24 * 3600 * 1000

# Names of networks that rent servers, not homes or phones. Matched as words in the ASN name.
_HOSTING = re.compile(
    r"\b(amazon|aws|google|microsoft|azure|digitalocean|digital ocean|linode|akamai|ovh|hetzner|contabo|"
    r"vultr|choopa|leaseweb|m247|datacamp|cdn77|scaleway|online s\.a\.s|oracle|alibaba|aliyun|tencent|"
    r"hostinger|ionos|hosting|host|datacenter|data center|data centre|vps|servers?|cloud|cloudflarenet|"
    r"fastly|zenlayer|colocrossing|quadranet|psychz|hostwinds|g-core|gcore|worldstream|frantech|"
    r"hivelocity|sharktech|datapacket|melbicom|clouvider|voxility|nforce|vpn|proxy|tor)\b",
    re.IGNORECASE,
)
# Consumer access networks whose names can contain a hosting word ("Google Fiber").
_ACCESS = re.compile(r"\b(fiber|fibre|broadband|mobile|wireless|cable|dsl)\b", re.IGNORECASE)

_DISPOSABLE_DOMAINS = frozenset({
    "10minutemail.com", "20minutemail.com", "anonbox.net", "burnermail.io", "discard.email",
    "dispostable.com", "emailondeck.com", "fakeinbox.com", "getairmail.com", "getnada.com",
    "guerrillamail.biz", "guerrillamail.com", "guerrillamail.de", "guerrillamail.info",
    "guerrillamail.net", "guerrillamail.org", "inboxkitten.com", "mailcatch.com", "maildrop.cc",
    "mailinator.com", "mailinator.net", "mailnesia.com", "mintemail.com", "moakt.com", "mohmal.com",
    "mytemp.email", "nada.email", "sharklasers.com", "spam4.me", "spamgourmet.com", "temp-mail.io",
    "temp-mail.org", "tempail.com", "tempmail.com", "tempmail.net", "tempmailo.com", "tempr.email",
    "throwawaymail.com", "tmail.ws", "tmpmail.net", "tmpmail.org", "trashmail.com", "trashmail.de",
    "trashmail.net", "yopmail.com", "yopmail.fr", "yopmail.net",
})


@dataclass(frozen=True)
class SuspicionSignals:
    vpn_suspected: bool
    fill_ms: int | None  # None: the snippet did not say
    fingerprint_leads: int  # different leads submitted from the same fingerprint in the window, this one included
    disposable_email: bool


def suspicion_score(signals: SuspicionSignals) -> int:
    points = 0
    if signals.vpn_suspected:
        points += VPN_POINTS
    if signals.fill_ms is not None and signals.fill_ms < FAST_FILL_MS:
        points += FAST_FILL_POINTS
    if signals.fingerprint_leads >= SHARED_FINGERPRINT_LEADS:
        points += SHARED_FINGERPRINT_POINTS
    if signals.disposable_email:
        points += DISPOSABLE_EMAIL_POINTS
    return min(points, 100)


@functools.lru_cache(maxsize=4096)
def is_hosting_network(asn_name: str) -> bool:
    return bool(asn_name) and _HOSTING.search(asn_name) is not None and _ACCESS.search(asn_name) is None


def is_disposable_email(email: str | None) -> bool:
    if not email or "@" not in email:
        return False
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    parts = domain.split(".")
    # A subdomain of a disposable domain is disposable too (x.mailinator.com).
    return any(".".join(parts[i:]) in _DISPOSABLE_DOMAINS for i in range(len(parts) - 1))


@functools.lru_cache(maxsize=1024)
def vpn_suspected(timezone: str | None, country: str | None, hosting: bool) -> bool:
    if hosting:
        return True
    if not timezone or not country:
        return False
    countries = timezone_countries(timezone)
    return countries is not None and country.upper() not in countries


def timezone_countries(timezone: str) -> frozenset[str] | None:
    """The ISO country codes that use this IANA timezone, or None when the tables cannot say."""
    return _timezone_table().get(timezone)


@functools.cache
def _timezone_table() -> dict[str, frozenset[str]]:
    directory = _zoneinfo_directory()
    if directory is None:
        return {}
    countries: dict[str, set[str]] = {}
    for name in ("zone1970.tab", "zone.tab"):
        path = directory / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) >= 3:
                countries.setdefault(columns[2], set()).update(columns[0].split(","))
    # Old names browsers still report (Chrome says Asia/Calcutta) are links to a zone.
    links = directory / "tzdata.zi"
    if links.is_file():
        for line in links.read_text(encoding="utf-8").splitlines():
            if line.startswith("L "):
                _, target, alias = line.split()
                if target in countries:
                    countries.setdefault(alias, set()).update(countries[target])
    return {zone: frozenset(codes) for zone, codes in countries.items()}


def _zoneinfo_directory() -> Path | None:
    for entry in zoneinfo.TZPATH:
        if (Path(entry) / "zone1970.tab").is_file() or (Path(entry) / "zone.tab").is_file():
            return Path(entry)
    try:
        bundled = Path(str(resources.files("tzdata").joinpath("zoneinfo")))
    except ModuleNotFoundError:
        return None
    return bundled if (bundled / "zone1970.tab").is_file() else None
