"""A minimal Faust app the integration tests run as a real worker subprocess.

It proves the router's stack (faust-streaming, aiokafka, RocksDB via rocksdict)
against the real broker: an agent reads ``(key, seq)`` records from a
multi-partition input topic, folds every seq into a RocksDB-backed table and
emits the table's state for that key after each update.

The update is idempotent on purpose: the row for a key is the sorted set of
seqs seen, so a record redelivered after a crash (at-least-once) rewrites the
same row instead of corrupting it, and the test can demand that no seq is ever
missing.

Everything that differs between runs comes from the environment, because the
Faust CLI imports this module by name in a fresh process::

    python -m tests.support.faust_app worker --without-web -l info

Input records: key = the row key (utf-8), value = JSON ``{"seq": <int>}``.
Output records: key = the row key, value = JSON
``{"key", "seq", "seqs", "worker", "partition", "offset"}`` (where it was read).
"""

from __future__ import annotations

import os
from typing import Any

import faust
from faust.tables import TableManager

from services.router.recovery import FlowStoppedTableManager
from tests.support.faust_worker import (
    ENV_APP_ID,
    ENV_BOOTSTRAP,
    ENV_DATADIR,
    ENV_INPUT,
    ENV_OUTPUT,
    ENV_PARTITIONS,
    ENV_STOCK_RECOVERY,
    ENV_WORKER,
    TABLE_NAME,
)

MiB = 1024 * 1024


def rocksdb_options() -> dict[str, Any]:
    """Modest RocksDB settings: Faust's defaults assume a large machine.

    Faust defaults to a 2 GiB block cache, 64 MiB write buffers (x3) and 90% of
    the process's file-descriptor limit, per partition database. A fresh dict
    every call, because the store pops ``driver`` out of the mapping it is given.
    """
    return {
        "driver": "rocksdict",
        "write_buffer_size": 4 * MiB,
        "max_write_buffer_number": 2,
        "target_file_size_base": 8 * MiB,
        "block_cache_size": 16 * MiB,
        # Only read by the python-rocksdb driver; kept small should it be chosen.
        "block_cache_compressed_size": 1 * MiB,
        "max_open_files": 128,
    }


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} must be set to run the Faust test worker")
    return value


def build_app() -> faust.App:
    app_id = _env(ENV_APP_ID)
    partitions = int(_env(ENV_PARTITIONS))
    worker = _env(ENV_WORKER)
    # Faust's own recovery can drop records on restart (see services/router/recovery.py);
    # the stock one stays selectable to reproduce that.
    table_manager = TableManager if os.environ.get(ENV_STOCK_RECOVERY) else FlowStoppedTableManager
    app = faust.App(
        app_id,
        broker=f"kafka://{_env(ENV_BOOTSTRAP)}",
        store="rocksdb://",
        datadir=_env(ENV_DATADIR),
        topic_partitions=partitions,
        topic_replication_factor=1,
        # At-least-once (the default, stated so the test does not depend on it):
        # before an offset is committed Faust flushes its producer, so the
        # changelog rows and outputs of every committed record are in Kafka;
        # anything not committed is redelivered, which the idempotent row
        # absorbs. Exactly-once would add transactions the check does not need.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # On a rebalance the revoking worker finishes its in-flight events and
        # flushes its producer before giving a partition up, so the new owner's
        # changelog recovery sees every row written for it (the default, stated).
        stream_wait_empty=True,
        # Commit often so a kill -9 redelivers little and the test stays fast.
        broker_commit_interval=0.5,
        # Expel a killed member quickly (the broker's minimum session is 6 s).
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_request_timeout=30.0,
        consumer_auto_offset_reset="earliest",
        # Ignored by `faust worker` (its --with-web flag wins): the harness
        # also passes --without-web.
        web_enabled=False,
        TableManager=table_manager,
    )
    source = app.topic(
        _env(ENV_INPUT), key_serializer="raw", value_serializer="json", partitions=partitions
    )
    sink = app.topic(
        _env(ENV_OUTPUT), key_serializer="raw", value_serializer="json", partitions=partitions
    )
    table = app.Table(
        TABLE_NAME,
        default=list,
        # Keys stay bytes end to end. Without key_type the table's changelog
        # decodes keys as JSON, while a bytes key is written through unchanged:
        # recovery then fails on every row (only a warning) and never ends.
        key_type=bytes,
        partitions=partitions,
        options=rocksdb_options(),
    )

    @app.agent(source)
    async def record_seqs(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            key = bytes(event.key)
            seq = int(event.value["seq"])
            seqs = sorted({*table[key], seq})
            table[key] = seqs
            await sink.send(
                key=key,
                value={
                    "key": key.decode(),
                    "seq": seq,
                    "seqs": seqs,
                    "worker": worker,
                    "partition": event.message.partition,
                    "offset": event.message.offset,
                },
            )

    return app


app = build_app()


if __name__ == "__main__":
    app.main()
