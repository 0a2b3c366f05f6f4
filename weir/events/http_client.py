"""One ``httpx.AsyncClient`` per event loop.

An httpx async client's connections belong to the loop that opened them, and
Weir's clients are used from more than one loop (an app's own loop, and the
private loop behind ``send_sync``). :class:`LoopLocalClient` hands each loop
its own client and closes them all on :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import httpx


class LoopLocalClient:
    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()

    def get(self) -> httpx.AsyncClient:
        """The client of the running loop (made on first use)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            with self._lock:
                for old in [lp for lp in self._clients if lp.is_closed()]:
                    del self._clients[old]  # its loop is gone, and so are its connections
                client = self._clients[loop] = self._factory()
        return client

    async def aclose(self) -> None:
        """Close the running loop's client now, and forget those of other loops.

        Clients of other loops that still run are closed on their own loop.
        """
        current = asyncio.get_running_loop()
        with self._lock:
            clients, self._clients = self._clients, {}
        for loop, client in clients.items():
            if loop is current:
                await client.aclose()
            elif loop.is_running() and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop)
