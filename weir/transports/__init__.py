"""Where events go, chosen by URL (setting ``event_transport``).

* ``kafka://host:port[,host:port]`` - :class:`~weir.transports.kafka.KafkaTransport`,
  Avro straight to Kafka (``kafka://`` alone: the configured Kafka)
* ``http://host:port`` / ``https://...`` - :class:`~weir.transports.http.HttpTransport`,
  JSON to Weir's gateway
* ``memory://`` - :class:`~weir.transports.memory.InMemoryTransport`, for tests

Every transport implements :class:`~weir.transports.base.Transport`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from weir.errors import ConfigError
from weir.events.catalog import SchemaCatalog
from weir.events.encoder import EventEncoder
from weir.settings import Settings
from weir.transports.base import Sendable, Transport


def transport_for(
    url: str,
    *,
    catalog: SchemaCatalog,
    settings: Settings,
    app_id: str,
    event_key: str | None = None,
    events_topic: str | None = None,
) -> Transport:
    """The transport ``url`` names (see the module docstring)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "kafka":
        from weir.transports.kafka import KafkaTransport

        bootstrap = url.split("://", 1)[1].strip("/") or settings.bootstrap_servers
        return KafkaTransport(
            bootstrap,
            EventEncoder(catalog),
            topic=events_topic or settings.events_topic,
            partitions=settings.events_partitions,
            timeout=settings.send_timeout,
            app_id=app_id,
        )
    if scheme in ("http", "https"):
        from weir.transports.http import HttpTransport

        return HttpTransport(
            url,
            event_key=event_key or settings.event_key or "dev",
            timeout=settings.send_timeout,
            catalog=catalog,
        )
    if scheme == "memory":
        from weir.transports.memory import InMemoryTransport

        return InMemoryTransport(EventEncoder(catalog))
    raise ConfigError(
        f"event_transport {url!r}: use kafka://host:port, http(s)://host:port or memory://",
        detail={"setting": "event_transport"},
    )


__all__ = ["Sendable", "Transport", "transport_for"]
