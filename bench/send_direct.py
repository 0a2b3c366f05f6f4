"""Typed events straight to Kafka: events/s, and where each event's microseconds go.

    .venv/bin/python bench/send_direct.py [--events 200000] [--batch 1000]
        [--registry http://127.0.0.1:8081]

Needs the local broker (``weir kafka start``). Without ``--registry`` the
schema lives in an in-memory registry: it is asked once per event class, so
it is not on the measured path either way. Prints:

* the per-event cost of each encoding step, measured alone (model build and
  validation, model -> dict, Avro encode, the whole encode incl. the catalog)
* events/s for lists of ``--batch`` events (one Kafka transaction per call,
  calls group-committed) and for single events with many sends in flight
  (idempotent producer), each returning only after Kafka acknowledged
* produce+ack per event: wall time per event minus the encoding cost
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import AdminClient

from weir import Event, Weir
from weir.events import codec
from weir.settings import get_settings
from weir.testing import InMemoryRegistry


class CartAdded(Event, name="bench/cart.added"):
    cart_id: str
    user_id: str
    sku: str
    qty: int
    price: float


def payload(i: int) -> dict[str, Any]:
    return {"cart_id": f"c{i}", "user_id": f"u{i % 1000}", "sku": "sku-42", "qty": 2, "price": 9.5}


def per_event_us(count: int, step: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        step(i)
    return (time.perf_counter() - start) / count * 1e6


async def breakdown(weir: Weir, count: int) -> dict[str, float]:
    entry = await weir.catalog.for_model(CartAdded)
    events = [CartAdded(data=payload(i)) for i in range(count)]
    to_datum = CartAdded.avro().to_datum
    datums = [to_datum(e.data) for e in events]
    encoder = weir.transport.encoder  # type: ignore[attr-defined]
    loop_start = time.perf_counter()
    for e in events:
        await encoder.encode(e)
    whole = (time.perf_counter() - loop_start) / count * 1e6

    def avro(i: int) -> bytes:
        e = events[i]
        return codec.encode_event(
            entry.prefix, entry.data_parsed, e.id, e.ts, e.user, e.v, datums[i]
        )

    return {
        "model build + validation": per_event_us(count, lambda i: CartAdded(data=payload(i))),
        "  of which the payload dict": per_event_us(count, payload),
        "model -> dict (generated converter)": per_event_us(
            count, lambda i: to_datum(events[i].data)
        ),
        "Avro encode (wire format, whole event)": per_event_us(count, avro),
        "whole encode (catalog + dict + Avro)": whole,
    }


async def throughput_batches(weir: Weir, total: int, batch: int, concurrency: int) -> float:
    async def one(n: int) -> None:
        await weir.send([CartAdded(data=payload(i)) for i in range(n)])

    await one(batch)  # warm-up: producer, transactions, topic
    start = time.perf_counter()
    sent = 0
    while sent < total:
        calls = [one(batch) for _ in range(concurrency)]
        await asyncio.gather(*calls)
        sent += batch * concurrency
    return sent / (time.perf_counter() - start)


async def throughput_singles(weir: Weir, total: int, in_flight: int) -> float:
    """``in_flight`` senders (think: request handlers), each sending one event at a time."""
    await weir.send(CartAdded(data=payload(0)))  # warm-up
    numbers = iter(range(total))

    async def sender() -> None:
        for i in numbers:
            await weir.send(CartAdded(data=payload(i)))

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(in_flight)))
    return total / (time.perf_counter() - start)


async def main(args: argparse.Namespace) -> None:
    settings = get_settings()
    bootstrap = settings.bootstrap_servers
    topic = f"bench-events-{uuid.uuid4().hex[:8]}"
    registry: Any = args.registry or InMemoryRegistry()
    weir = Weir("bench", transport=f"kafka://{bootstrap}", registry=registry, events_topic=topic)
    try:
        costs = await breakdown(weir, min(args.events, 50_000))
        encode = costs["whole encode (catalog + dict + Avro)"]
        print(f"typed event: {len(CartAdded.data_model.model_fields)} fields; topic {topic}")
        print("\nper-event cost (us), each step measured alone:")
        for step, us in costs.items():
            print(f"  {step:40s} {us:7.2f}")
        build = costs["model build + validation"]
        print(f"  {'= build + encode':40s} {build + encode:7.2f}")

        batched = await throughput_batches(weir, args.events, args.batch, args.concurrency)
        print(
            f"\nlists of {args.batch} (transactions, {args.concurrency} calls at a time): "
            f"{batched:,.0f} events/s, acked"
        )
        per_event = 1e6 / batched
        print(
            f"  {per_event:.2f} us/event = build+encode {build + encode:.2f} + "
            f"produce+ack {per_event - build - encode:.2f}"
        )
        singles = await throughput_singles(weir, args.singles, args.in_flight)
        print(
            f"single events ({args.in_flight} sends in flight, idempotent producer): "
            f"{singles:,.0f} events/s, each acked"
        )
        per_event = 1e6 / singles
        print(
            f"  {per_event:.2f} us/event = build+encode {build + encode:.2f} + "
            f"produce+ack {per_event - build - encode:.2f}"
        )
    finally:
        await weir.aclose()
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.delete_topics([topic]).values():
            with contextlib.suppress(Exception):  # not created if the run failed early
                future.result(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events sent in lists")
    parser.add_argument("--batch", type=int, default=1000, help="events per send() call")
    parser.add_argument("--concurrency", type=int, default=4, help="list sends at a time")
    parser.add_argument("--singles", type=int, default=50_000, help="events sent one by one")
    parser.add_argument("--in-flight", type=int, default=1000, help="single sends at a time")
    parser.add_argument("--registry", default=None, help="registry URL (default: in memory)")
    asyncio.run(main(parser.parse_args()))
