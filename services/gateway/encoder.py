"""The gateway's side of the SDK's event encoder: validation, inference, Avro, registry.

Everything about schemas is :mod:`weir.events`' job: the
:class:`~weir.events.catalog.SchemaCatalog` looks up (and under the ``infer``
policy registers or evolves) each event's schema, checks the data against it
with errors naming the field, and :class:`~weir.events.encoder.EventEncoder`
turns the events into Confluent wire-format records keyed by event id. This
adapter only feeds it the parsed events and hands the records to the writer.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.gateway.producer import KafkaRecord
from services.gateway.timing import Stopwatch
from weir.errors import WeirError
from weir.events.catalog import SchemaCatalog
from weir.events.encoder import EventEncoder
from weir.events.raw import RawEvent
from weir.events.registry import HttpSchemaRegistry, SchemaRegistry
from weir.settings import Settings


class RegistryEventEncoder:
    def __init__(self, registry: SchemaRegistry, catalog: SchemaCatalog) -> None:
        self.registry = registry
        self.encoder = EventEncoder(catalog)

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryEventEncoder:
        registry = HttpSchemaRegistry(settings.registry_url, timeout=settings.registry_timeout)
        catalog = SchemaCatalog(
            registry,
            policy=settings.schema_policy,
            subject_prefix=settings.schema_subject_prefix,
        )
        return cls(registry, catalog)

    async def encode(
        self, events: Sequence[RawEvent], watch: Stopwatch, *, is_array: bool
    ) -> list[KafkaRecord]:
        try:
            encoded = await self.encoder.encode_all(events)
        except WeirError as exc:
            if is_array and len(events) == 1:
                _prefix_first(exc)
            raise
        watch.lap("schema")  # validate + infer + Avro encode, in the SDK's one pass
        return [KafkaRecord(value=e.value, key=e.key) for e in encoded]

    async def close(self) -> None:
        await self.registry.aclose()


def _prefix_first(exc: WeirError) -> None:
    """The encoder names a lone event's fields from its root (``data.x``); inside an
    array the path must start at the array (``[0].data.x``)."""
    prefix = "[0]."
    for item in exc.detail.get("errors", []):
        if isinstance(item, dict) and "path" in item:
            item["path"] = prefix + str(item["path"])
    if "path" in exc.detail:
        exc.detail["path"] = prefix + str(exc.detail["path"])
        if hasattr(exc, "path"):
            exc.path = exc.detail["path"]
