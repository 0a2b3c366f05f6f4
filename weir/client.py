"""The SDK's entry point: ``weir = Weir(app_id="shop")``, then ``await weir.send(...)``.

::

    await weir.send(CartAdded(data={"cart_id": "c1", "user_id": "u1"}))   # typed
    await weir.send([ev1, ev2])                       # several, all or nothing
    await weir.send("app/user.created", data={"id": 123})                 # untyped
    weir.send_sync(...)                               # the same, from sync code

Every form checks the events before anything is written and returns their
ids. Where they go is the transport (``kafka://``, ``http(s)://`` or
``memory://``; setting ``event_transport``); which schema they are written
with is the catalog's business (:mod:`weir.events.catalog`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from weir.errors import ConfigError
from weir.events.catalog import SchemaCatalog
from weir.events.model import Event
from weir.events.raw import RawEvent
from weir.events.registry import HttpSchemaRegistry, SchemaRegistry
from weir.functions.mixin import FunctionsMixin
from weir.settings import Settings, get_settings
from weir.transports import Sendable, Transport, transport_for

T = TypeVar("T")
Sendables = Sendable | Mapping[str, Any] | Sequence[Sendable | Mapping[str, Any]]


class Weir(FunctionsMixin):
    def __init__(
        self,
        app_id: str,
        *,
        transport: str | Transport | None = None,
        registry: str | SchemaRegistry | None = None,
        schema_policy: str | None = None,
        events_topic: str | None = None,
        event_key: str | None = None,
        settings: Settings | None = None,
        dev: bool | None = None,
    ) -> None:
        """``transport``/``registry``: a URL or an object; defaults come from the settings
        (``event_transport``, ``registry_url``). A ``memory://`` transport without a
        registry gets an in-memory one, so tests need no server at all."""
        if not app_id or not isinstance(app_id, str):
            raise ConfigError("app_id is a non-empty string, e.g. Weir(app_id='shop')")
        self.app_id = app_id
        self.settings = settings or get_settings()
        # Dev mode skips signatures; only an explicit True (or WEIR_DEV) turns it on.
        self.dev = self.settings.dev if dev is None else dev
        url: str | None = None
        if transport is None or isinstance(transport, str):
            url = transport or self.settings.event_transport
            url = url or f"kafka://{self.settings.bootstrap_servers}"
        self.registry = self._registry(registry, url)
        self.catalog = SchemaCatalog(
            self.registry,
            policy=schema_policy or self.settings.schema_policy,
            subject_prefix=self.settings.schema_subject_prefix,
        )
        self.transport: Transport = (
            transport_for(
                url,
                catalog=self.catalog,
                settings=self.settings,
                app_id=app_id,
                event_key=event_key,
                events_topic=events_topic,
            )
            if url is not None
            else _given(transport)
        )
        self._portal: _Portal | None = None
        self._portal_lock = threading.Lock()

    def _registry(self, registry: str | SchemaRegistry | None, url: str | None) -> SchemaRegistry:
        if registry is not None and not isinstance(registry, str):
            return registry
        if registry is None and url is not None and urlsplit(url).scheme == "memory":
            from weir.events.memory_registry import InMemoryRegistry

            return InMemoryRegistry()
        return HttpSchemaRegistry(registry or self.settings.registry_url)

    # -- sending ---------------------------------------------------------------

    async def send(
        self,
        event: str | Sendables,
        /,
        data: Mapping[str, Any] | None = None,
        *,
        user: Mapping[str, Any] | None = None,
        id: str | None = None,
        ts: int | datetime | None = None,
        v: str | None = None,
        key: str | None = None,
    ) -> list[str]:
        """Send one event, or a list of them (all or nothing); their ids, in order.

        ``event`` is a typed :class:`Event`, a :class:`RawEvent`, a dict in the JSON
        form (``{"name", "data", ...}``), a list of those, or an event name, with
        ``data``/``user``/``id``/``ts``/``v`` beside it. ``key`` replaces the event id
        as the Kafka partition key of every event sent by this call.
        """
        events = _events(event, data, user=user, id=id, ts=ts, v=v)
        if not events:
            return []
        return await self.transport.send(events, key=key)

    def send_sync(
        self,
        event: str | Sendables,
        /,
        data: Mapping[str, Any] | None = None,
        *,
        user: Mapping[str, Any] | None = None,
        id: str | None = None,
        ts: int | datetime | None = None,
        v: str | None = None,
        key: str | None = None,
    ) -> list[str]:
        """:meth:`send` for code without an event loop (it runs on a private one)."""
        coroutine = self.send(event, data, user=user, id=id, ts=ts, v=v, key=key)
        return self._sync(coroutine)

    async def register(self, *classes: type[Event]) -> list[int]:
        """Register the schemas of typed event classes now (else: on their first send)."""
        return [(await self.catalog.for_model(cls)).schema_id for cls in classes]

    # -- lifecycle ---------------------------------------------------------------

    async def aclose(self) -> None:
        portal, self._portal = self._portal, None
        if portal is not None:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(self._close_resources(), portal.loop)
            )
            portal.close()
        await self._close_resources()

    def close(self) -> None:
        """Close from sync code (use ``await weir.aclose()`` inside an event loop)."""
        portal, self._portal = self._portal, None
        if portal is None:
            portal = _Portal()
        try:
            portal.run(self._close_resources())
        finally:
            portal.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Weir(app_id={self.app_id!r}, transport={type(self.transport).__name__})"

    async def _close_resources(self) -> None:
        await self.transport.aclose()
        await self.registry.aclose()

    def _sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._portal is None:
            with self._portal_lock:
                if self._portal is None:
                    self._portal = _Portal()
        return self._portal.run(coroutine)


def _given(transport: str | Transport | None) -> Transport:
    if transport is None or isinstance(transport, str):
        raise ConfigError("no transport")
    return transport


class _Portal:
    """A private event loop on its own thread, for the sync API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="weir-sync", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _events(
    event: str | Sendables,
    data: Mapping[str, Any] | None,
    *,
    user: Mapping[str, Any] | None,
    id: str | None,
    ts: int | datetime | None,
    v: str | None,
) -> list[Sendable]:
    if isinstance(event, str):
        return [RawEvent.create(event, data, user=user, id=id, ts=ts, v=v)]
    if data is not None or user is not None or id is not None or ts is not None or v is not None:
        raise TypeError("data, user, id, ts and v go with an event name; pass events as they are")
    if isinstance(event, Event | RawEvent):
        return [event]
    if isinstance(event, Mapping):
        return [RawEvent.from_json(event)]
    if isinstance(event, Sequence):
        out: list[Sendable] = []
        for i, item in enumerate(event):
            if isinstance(item, Event | RawEvent):
                out.append(item)
            elif isinstance(item, Mapping):
                out.append(RawEvent.from_json(item, path=f"[{i}]."))
            else:
                raise TypeError(f"[{i}]: {type(item).__name__} is not an event")
        return out
    raise TypeError(f"{type(event).__name__} is not an event")
