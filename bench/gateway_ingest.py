"""Gateway ingest benchmark: throughput of arrays, latency of single events, and where time goes.

Starts its own schema registry and gateway (``python -m services.gateway``) as
child processes against the local broker, on loopback, with a fresh events
topic it deletes afterwards. Every figure counts only requests answered 200,
i.e. events Kafka acknowledged (acks=all).

    .venv/bin/python bench/gateway_ingest.py [--seconds-arrays 10] [--seconds-steady 20]

(a) arrays of 100 events, several requests in flight: events/s
(b) one event per request at a steady 500 requests/s: p50/p99 latency
(c) the split of the gateway's time (its Server-Timing header), and the
    schema stage split into validate and encode, measured in-process
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.gateway.testing import GatewayProcess  # noqa: E402
from services.registry.testing import RegistryProcess  # noqa: E402
from tests.support.kafka import Topics, unique  # noqa: E402
from weir.settings import get_settings  # noqa: E402

KEY = "bench-key"
EVENT_NAME = "bench/order.placed"


def event(i: int) -> dict[str, Any]:
    return {
        "name": EVENT_NAME,
        "data": {
            "order_id": f"o-{i}",
            "customer": {"id": f"c-{i % 97}", "vip": i % 5 == 0},
            "amount": 12.5 + i % 10,
            "items": [
                {"sku": "sku-1", "qty": 1, "price": 9.5},
                {"sku": "sku-2", "qty": 2, "price": 1.5},
            ],
        },
        "user": {"id": f"u-{i % 13}"},
    }


def gateway_env(bootstrap: str, topic: str, registry_url: str) -> dict[str, str]:
    return {
        "WEIR_KAFKA_BOOTSTRAP": bootstrap,
        "WEIR_EVENTS_TOPIC": topic,
        "WEIR_REGISTRY_URL": registry_url,
        "WEIR_EVENT_KEYS": KEY,
        "WEIR_SCHEMA_POLICY": "infer",
        "WEIR_GATEWAY_INSTANCE": f"bench-{uuid.uuid4().hex[:8]}",
    }


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this benchmark.

    httpx costs about a millisecond of CPU per request here; at 500 requests/s on
    two cores shared with the gateway, the broker and the registry, that alone
    would skew the latencies being measured. This sends a prebuilt request and
    reads a Content-Length response, nothing more.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, payload

    def close(self) -> None:
        self.writer.close()


class Stages:
    """Sums of the gateway's Server-Timing stages over the answered requests."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.requests = 0

    def add(self, header: str | None) -> None:
        if not header:
            return
        self.requests += 1
        for part in header.split(","):
            stage, _, duration = part.strip().partition(";dur=")
            self.total[stage] += float(duration)

    def report(self, unit: str, per: float) -> str:
        if not self.requests:
            return "  (no timings)"
        whole = sum(self.total.values())
        lines = []
        for stage, ms in self.total.items():
            share = 100 * ms / whole if whole else 0.0
            lines.append(
                f"  {stage:<8} {ms / self.requests / per * 1000:8.1f} us/{unit}  {share:5.1f}%"
            )
        return "\n".join(lines)


async def arrays(
    url: str, seconds: float, size: int, in_flight: int
) -> tuple[float, int, int, Stages]:
    body = orjson.dumps([event(i) for i in range(size)])
    stages = Stages()
    done = failed = 0
    stop_at = time.monotonic() + seconds
    connections = [await Connection.open(url) for _ in range(in_flight)]

    async def worker(connection: Connection) -> None:
        nonlocal done, failed
        while time.monotonic() < stop_at:
            status, headers, _ = await connection.post(f"/e/{KEY}", body)
            if status == 200:
                done += 1
                stages.add(headers.get("server-timing"))
            else:
                failed += 1

    began = time.monotonic()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.monotonic() - began
    for connection in connections:
        connection.close()
    return done * size / elapsed, done, failed, stages


async def steady(url: str, seconds: float, rate: float) -> tuple[list[float], int, int, Stages]:
    """Open loop: request i is due at start + i / rate, whatever earlier ones do; its
    latency counts from when it was due, so a stalled gateway cannot hide queueing."""
    latencies: list[float] = []
    stages = Stages()
    failed = 0
    total = int(seconds * rate)
    bodies = [orjson.dumps(event(i)) for i in range(total)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(16):
        idle.put_nowait(await Connection.open(url))

    async def one(i: int, due: float) -> None:
        nonlocal failed
        connection = await idle.get()
        status, headers, payload = await connection.post(f"/e/{KEY}", bodies[i])
        idle.put_nowait(connection)
        if status == 200:
            latencies.append(time.perf_counter() - due)
            stages.add(headers.get("server-timing"))
        else:
            failed += 1
            if failed <= 3:
                print(f"    request {i} answered {status}: {payload[:300]!r}", file=sys.stderr)

    tasks = []
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return latencies, total, failed, stages


async def schema_split(registry_url: str, rounds: int) -> tuple[float, float]:
    """Microseconds per event to validate, and to encode, in-process.

    Validation is the catalog's check of the data against the cached schema;
    encoding is the rest of the SDK encoder's work (whole event, Avro, wire
    format), measured as the encoder's time minus the validation's.
    """
    from weir.events.catalog import SchemaCatalog
    from weir.events.encoder import EventEncoder
    from weir.events.raw import RawEvent
    from weir.events.registry import HttpSchemaRegistry

    registry = HttpSchemaRegistry(registry_url)
    catalog = SchemaCatalog(registry, policy="infer")
    encoder = EventEncoder(catalog)
    events = [RawEvent.from_json(event(i)) for i in range(rounds)]
    try:
        await encoder.encode(events[0])  # warm the cache
        began = time.perf_counter()
        for e in events:
            await catalog.for_data(e.name, e.data)
        validate = time.perf_counter() - began
        began = time.perf_counter()
        for e in events:
            await encoder.encode(e)
        both = time.perf_counter() - began
    finally:
        await registry.aclose()
    return validate / rounds * 1e6, max(0.0, both - validate) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-arrays", type=float, default=10.0)
    parser.add_argument("--seconds-steady", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--array-size", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    bootstrap = get_settings().bootstrap_servers
    topics = Topics(bootstrap)
    topic = topics.create("bench-events", partitions=3)
    registry_topic = unique("_schemas-bench")
    topics.created.append(registry_topic)
    try:
        with (
            RegistryProcess(bootstrap, registry_topic) as registry,
            GatewayProcess(gateway_env(bootstrap, topic, registry.url)) as gateway,
        ):
            url = gateway.url
            first = httpx.post(f"{url}/e/{KEY}", json=event(0), timeout=30)  # registers the schema
            first.raise_for_status()
            asyncio.run(arrays(url, 2.0, args.array_size, args.in_flight))  # warm-up
            rate, done, failed, array_stages = asyncio.run(
                arrays(url, args.seconds_arrays, args.array_size, args.in_flight)
            )
            shape = f"{args.array_size}, {args.in_flight} in flight, {args.seconds_arrays:.0f}s"
            print(f"(a) arrays of {shape}:")
            print(f"    {rate:,.0f} events/s acknowledged ({done} requests ok, {failed} failed)")
            print("    gateway time per event:")
            print(array_stages.report("event", args.array_size))

            latencies, sent, failed, single_stages = asyncio.run(
                steady(url, args.seconds_steady, args.rate)
            )
            latencies.sort()
            p50 = statistics.quantiles(latencies, n=100)[49] * 1000
            p99 = statistics.quantiles(latencies, n=100)[98] * 1000
            print(
                f"(b) single events at {args.rate:.0f} requests/s for {args.seconds_steady:.0f}s:"
            )
            print(
                f"    p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1] * 1000:.1f} ms "
                f"({len(latencies)} of {sent} acknowledged, {failed} failed)"
            )
            print("    gateway time per request:")
            print(single_stages.report("request", 1))
            validate, encode = asyncio.run(schema_split(registry.url, 5000))
            print("(c) the schema stage split, in-process, per event:")
            print(f"    validate (catalog lookup + data check) {validate:6.1f} us")
            print(f"    encode (Avro, Confluent wire format)   {encode:6.1f} us")
    finally:
        topics.delete_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
