"""The worker's HTTP client: one aiohttp session with a bounded keep-alive pool.

The worker's CPU per call is its throughput limit on a small machine, and
the HTTP client was most of it: httpx (with httpcore) spent about 1.2 ms of
CPU per call at a few hundred calls in flight, aiohttp about half of that
(measured with bench/durable_runs.py). The caller only needs the status,
the body and the headers of an answer (:class:`Reply`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

# An idle keep-alive connection is dropped a little before common servers drop
# theirs (uvicorn: 5 s), so a call rarely lands on a connection being closed.
KEEPALIVE_SECONDS = 4.0


@dataclass(frozen=True, slots=True)
class Reply:
    """An app's answer: what :class:`~services.worker.calls.AppCaller` reads of it."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]


class HttpPools:
    """``post`` for the worker, over one connection pool of ``concurrency`` connections."""

    def __init__(self, concurrency: int, *, timeout: float) -> None:
        self._concurrency = concurrency
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on the running loop, at the first call
            connector = aiohttp.TCPConnector(
                limit=self._concurrency,
                keepalive_timeout=KEEPALIVE_SECONDS,
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                # No cookies between runs, and the worker sets its own headers.
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> Reply:
        # Redirects are never followed: a redirect could lead past the URL policy.
        async with self._client().post(
            url, data=content, headers=dict(headers), allow_redirects=False
        ) as response:
            body = await response.read()
            return Reply(response.status, body, response.headers)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
