"""Which app URLs the worker calls: never private, loopback or link-local ones unless allowed.

Nothing here connects anywhere: the policy only parses and resolves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from services.worker.url_policy import UrlPolicy, is_forbidden_address
from weir.errors import AppUnreachableError, AppUrlForbiddenError
from weir.settings import Settings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata services
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.1.2.3",
        "::",
    ],
)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address))


def check(policy: UrlPolicy, url: str) -> None:
    asyncio.run(policy.check(url))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/api/weir",
        "http://10.1.2.3/api/weir",
        "http://[::1]:8000/api/weir",
        "https://169.254.169.254/latest",
        "http://localhost:8000/api/weir",  # resolved: loopback
    ],
)
def test_a_strict_policy_refuses_urls_on_non_public_hosts(url: str) -> None:
    with pytest.raises(AppUrlForbiddenError) as caught:
        check(UrlPolicy(allow_private=False), url)
    assert caught.value.code == "app_url_forbidden"
    assert not caught.value.retryable
    assert "WEIR_WORKER_ALLOW_PRIVATE_URLS" in caught.value.message


def test_a_public_literal_address_passes_without_resolving() -> None:
    check(UrlPolicy(allow_private=False), "https://93.184.216.34/api/weir")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost"])
def test_urls_that_are_not_http_with_a_host_are_refused_always(url: str) -> None:
    with pytest.raises(AppUrlForbiddenError):
        check(UrlPolicy(allow_private=True), url)


def test_a_host_that_does_not_resolve_is_unreachable_and_retryable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_answer(self: object, host: str, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    # No DNS query leaves the machine: the resolver itself is replaced.
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", no_answer)
    with pytest.raises(AppUnreachableError) as caught:
        check(UrlPolicy(allow_private=False), "http://no-such-host.invalid/api/weir")
    assert caught.value.retryable
    assert "does not resolve" in caught.value.message


def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    async def mixed(self: object, host: str, *args: object, **kwargs: object) -> object:
        family, kind = socket.AF_INET, socket.SOCK_STREAM
        return [
            (family, kind, 6, "", ("93.184.216.34", 0)),
            (family, kind, 6, "", ("10.0.0.9", 0)),
        ]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", mixed)
    with pytest.raises(AppUrlForbiddenError) as caught:
        check(UrlPolicy(allow_private=False), "https://app.example/api/weir")
    assert "resolves to 10.0.0.9" in caught.value.message


def test_an_allowing_policy_lets_private_urls_through() -> None:
    check(UrlPolicy(allow_private=True), "http://127.0.0.1:8000/api/weir")


@pytest.mark.parametrize(
    ("dev", "allow", "expected"),
    [(False, None, False), (True, None, True), (True, False, False), (False, True, True)],
)
def test_private_urls_follow_dev_mode_unless_set(
    dev: bool, allow: bool | None, expected: bool
) -> None:
    settings = Settings(dev=dev, worker_allow_private_urls=allow)
    assert UrlPolicy.from_settings(settings).allow_private is expected
