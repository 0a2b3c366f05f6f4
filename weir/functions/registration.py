"""Registration: the app tells the gateway which functions it serves, and where.

On start-up (and on a signed PUT to the endpoint) the app sends
``PUT {gateway_url}/v1/apps/{app_id}`` with an :class:`AppRegistration` body,
signed like every other call. The platform may not be up yet when the app
starts, so start-up registration runs in the background and retries with a
growing delay until it succeeds; the app serves calls meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import quote

import httpx

from weir.errors import RegistrationError
from weir.functions.protocol import AppRegistration
from weir.signing import SIGNATURE_HEADER, Signer

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


class Registrar:
    """Sends registrations to one gateway; ``transport`` lets tests route requests."""

    def __init__(
        self,
        *,
        gateway_url: str,
        app_id: str,
        signer: Signer | None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = f"{gateway_url.rstrip('/')}/v1/apps/{quote(app_id, safe='')}"
        self._signer = signer
        self._timeout = timeout
        self._transport = transport

    async def register(self, registration: AppRegistration) -> None:
        """Send it once; :class:`RegistrationError` if the gateway did not take it."""
        body = registration.model_dump_json().encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._signer is not None:
            headers[SIGNATURE_HEADER] = self._signer.sign(body)
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport
            ) as client:
                response = await client.put(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistrationError(
                f"the gateway at {self.url} did not answer: {type(exc).__name__}: {exc}",
                detail={"url": self.url},
            ) from None
        if response.status_code >= 300:
            raise RegistrationError(
                f"the gateway at {self.url} refused the registration: HTTP "
                f"{response.status_code} {response.text[:200]}",
                detail={"url": self.url, "status": response.status_code},
            )
        log.info("registered %d function(s) at %s", len(registration.functions), self.url)

    async def keep_registering(
        self,
        registration: Callable[[], AppRegistration],
        *,
        stop: asyncio.Event,
        first_retry: float = FIRST_RETRY_SECONDS,
        max_retry: float = MAX_RETRY_SECONDS,
    ) -> bool:
        """Register, retrying with a doubling delay until it works (True) or ``stop`` is set."""
        delay = first_retry
        while not stop.is_set():
            try:
                await self.register(registration())
            except RegistrationError as exc:
                log.warning("%s; retrying in %.0fs", exc.message, delay)
            else:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, max_retry)
        return False
