"""Webhooks: which URLs a finished analysis may be sent to, and one delivery attempt.

| rule | definition |
| --- | --- |
| url | `http` or `https`, a host, no user name or password, at most 2048 characters |
| private addresses | refused unless the `WEBHOOK_ALLOW_PRIVATE_NETWORKS` var is true: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, where cloud metadata lives, and fe80::/10), shared (100.64/10), multicast, reserved and unspecified addresses, and the names `localhost` and `*.localhost` |
| host names | checked at every delivery against every address they resolve to; the connection uses only the addresses that passed, so a DNS answer cannot change in between |
| delivery | a POST of the JSON body; any 2xx is delivered; a redirect, any other status, a timeout (`TIMEOUT_SECONDS`) or a connection error is a failed attempt |
| retries | `RETRY_DELAYS_MS` after each failed attempt: 30 s, 2 min, 10 min, 1 h and 6 h (six attempts over about 7 h 13 min), then given up |
| signature | when the `WEBHOOK_SIGNING_SECRET` secret is set: `Leadlight-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>` |
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

MAX_URL_LENGTH = 2048
TIMEOUT_SECONDS = 10
RETRY_DELAYS_MS = (30_000, 120_000, 600_000, 3_600_000, 21_600_000)
USER_AGENT = "leadlight-webhooks/1"
PRIVATE_REFUSED = "must not point to a private, loopback or link-local address"


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    error: str | None  # why an attempt failed, for the record


def allows_private(value: Any) -> bool:
    """The `WEBHOOK_ALLOW_PRIVATE_NETWORKS` var: a TOML boolean, or true/1/yes from the environment."""
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with a webhook URL, or None when it may be used."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an http or https URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return PRIVATE_REFUSED
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: its addresses are checked when it is resolved, at each delivery
    return None if _public(host) else PRIVATE_REFUSED


def next_attempt_at(attempts_made: int, now: int) -> int | None:
    """When to try again after `attempts_made` failed attempts; None once the schedule is spent."""
    if attempts_made < 1 or attempts_made > len(RETRY_DELAYS_MS):
        return None
    return now + RETRY_DELAYS_MS[attempts_made - 1]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _PublicAddresses(AbstractResolver):
    """The system resolver, keeping only public addresses: the connection can reach nothing else."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = [entry for entry in await self._inner.resolve(host, port, family) if _public(entry["host"])]
        if not found:
            raise OSError(f"{host} resolves only to private addresses")
        return found

    async def close(self) -> None:
        await self._inner.close()


async def deliver(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> Delivery:
    """One POST attempt; never raises for a failure of the receiver or the network."""
    problem = check_url(url, allow_private=allow_private)
    if problem is not None:
        return Delivery(False, None, f"webhook_url {problem}")
    connector = aiohttp.TCPConnector(resolver=None if allow_private else _PublicAddresses(), force_close=True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                                  headers={"User-Agent": USER_AGENT}) as session,
            session.post(url, data=body, headers={"Content-Type": "application/json", **headers},
                         allow_redirects=False) as response,
        ):
            ok = 200 <= response.status < 300
            return Delivery(ok, response.status, None if ok else f"the receiver answered HTTP {response.status}")
    except TimeoutError:
        return Delivery(False, None, f"no answer within {TIMEOUT_SECONDS} s")
    except (aiohttp.ClientError, OSError) as error:
        return Delivery(False, None, f"could not connect: {error}")
