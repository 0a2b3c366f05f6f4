"""Which app URLs a worker may call.

A task's URL comes from an app's registration, so whoever can register an
app could otherwise point the workers at the platform's own network (the
broker, a metadata service, an admin port). Outside development the worker
therefore refuses URLs whose host is, or resolves to, a private, loopback,
link-local or otherwise non-global address. Every address the host resolves
to is checked: a public name with one internal address among its answers is
refused too.

The check resolves the name, then httpx resolves it again to connect, so a
DNS answer that changes in between (rebinding) is not caught; an operator who
needs that guarantee puts an egress proxy or firewall in front of the workers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit

from weir.errors import AppUnreachableError, AppUrlForbiddenError
from weir.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Verdicts on a host name are kept briefly: resolving on every call of a busy
# app would add a DNS round trip per call, and names rarely move.
CACHE_SECONDS = 10.0


def is_forbidden_address(address: IPAddress) -> bool:
    """True for any address that is not a plain public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 reaches 10.0.0.1
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


class UrlPolicy:
    """Refuses app URLs on non-public addresses unless private URLs are allowed."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._verdicts: dict[str, tuple[float, str | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        allowed = settings.worker_allow_private_urls
        return cls(allow_private=settings.dev if allowed is None else allowed)

    async def check(self, url: str) -> None:
        """Return if ``url`` may be called.

        Raises :class:`AppUrlForbiddenError` (final) for a refused or malformed
        URL, :class:`AppUnreachableError` (retryable) when its host does not
        resolve now.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AppUrlForbiddenError(f"app URL {url!r} is not an http(s) URL with a host")
        if self.allow_private:
            return
        host = parts.hostname
        cached = self._verdicts.get(host)
        if cached is not None and cached[0] > time.monotonic():
            refusal = cached[1]
        else:
            refusal = await self._judge(host)
            self._verdicts[host] = (time.monotonic() + CACHE_SECONDS, refusal)
        if refusal is not None:
            raise AppUrlForbiddenError(
                f"app URL {url!r} {refusal}; private, loopback and link-local addresses are "
                "refused (set WEIR_WORKER_ALLOW_PRIVATE_URLS=1 to allow them)",
                detail={"url": url},
            )

    async def _judge(self, host: str) -> str | None:
        """Why ``host`` is refused, or None when every address it has is public."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            return f"is on address {literal}" if is_forbidden_address(literal) else None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise AppUnreachableError(f"app host {host!r} does not resolve: {exc}") from None
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if is_forbidden_address(address):
                return f"resolves to {address}"
        return None
