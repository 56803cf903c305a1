"""Webhooks: which URLs are allowed, the retry schedule, the signature, one real delivery."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from domain import webhooks
from tests.receiver import Receiver


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/analysis", "http://93.184.216.34:8080/x", "https://[2001:4860:4860::8888]/",
    "https://8.8.8.8/hook",
])
def test_public_urls_are_allowed(url: str) -> None:
    assert webhooks.check_url(url, allow_private=False) is None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/", "http://api.localhost/", "http://10.0.0.5/",
    "http://172.16.3.4/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[fe80::1]/", "http://[fd00::1]/", "http://100.64.0.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/",
    "http://224.0.0.1/",
])
def test_private_addresses_are_refused_unless_allowed(url: str) -> None:
    assert webhooks.check_url(url, allow_private=False) == webhooks.PRIVATE_REFUSED
    assert webhooks.check_url(url, allow_private=True) is None


@pytest.mark.parametrize("url, problem", [
    ("ftp://example.com/x", "must be an http or https URL with a host"),
    ("https:///path", "must be an http or https URL with a host"),
    ("not a url", "must be an http or https URL with a host"),
    ("https://user:pass@example.com/", "must not contain a user name or password"),
    ("https://example.com:99999/", "is not a valid URL"),
    ("https://example.com/" + "a" * 2048, "must be at most 2048 characters"),
])
def test_malformed_urls_say_why(url: str, problem: str) -> None:
    assert webhooks.check_url(url, allow_private=True) == problem


def test_the_allow_switch_reads_toml_booleans_and_environment_strings() -> None:
    assert [webhooks.allows_private(v) for v in (True, "true", "1", "YES", False, "false", "0", None, "")] == [
        True, True, True, True, False, False, False, False, False]


def test_retries_follow_the_schedule_then_stop() -> None:
    now = 1_000_000
    assert [webhooks.next_attempt_at(n, now) for n in range(1, 7)] == [
        now + 30_000, now + 120_000, now + 600_000, now + 3_600_000, now + 21_600_000, None]


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"id":"x"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.signature("s3cret", 1_700_000_000, body) == f"t=1700000000,v1={expected}"


async def test_a_delivery_posts_json_and_any_2xx_counts(receiver: Receiver) -> None:
    receiver.statuses = [204, 500, 302]
    ok = await webhooks.deliver(receiver.url, b'{"a":1}', {"Leadlight-Event": "analysis.completed"},
                                allow_private=True)
    assert ok == webhooks.Delivery(True, 204, None)
    first = receiver.received[0]
    assert (first.path, first.body, first.headers["content-type"], first.headers["leadlight-event"],
            first.headers["user-agent"]) == ("/hooks/analysis", b'{"a":1}', "application/json",
                                             "analysis.completed", "leadlight-webhooks/1")
    failed = await webhooks.deliver(receiver.url, b"{}", {}, allow_private=True)
    assert failed == webhooks.Delivery(False, 500, "the receiver answered HTTP 500")
    redirected = await webhooks.deliver(receiver.url, b"{}", {}, allow_private=True)
    assert redirected == webhooks.Delivery(False, 302, "the receiver answered HTTP 302")


async def test_a_private_receiver_is_never_contacted_when_not_allowed(receiver: Receiver) -> None:
    refused = await webhooks.deliver(receiver.url, b"{}", {}, allow_private=False)
    assert refused == webhooks.Delivery(False, None, f"webhook_url {webhooks.PRIVATE_REFUSED}")
    assert receiver.received == []


async def test_names_that_resolve_to_private_addresses_are_not_connected() -> None:
    resolver = webhooks._PublicAddresses()
    try:
        with pytest.raises(OSError, match="localhost resolves only to private addresses"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


async def test_a_closed_port_is_a_failed_attempt() -> None:
    delivery = await webhooks.deliver("http://127.0.0.1:9/x", b"{}", {}, allow_private=True)
    assert (delivery.ok, delivery.status) == (False, None)
    assert delivery.error is not None and delivery.error.startswith("could not connect")
