"""The router as a Faust app: two agents and one RocksDB table.

    events topic ──> route_events ──StartRun──> results topic
    results topic ──> drive_runs (runs table) ──> task topics, runs topic, events topic

``route_events`` joins each event against the registrations and starts one
run per matching function. Its input is keyed by event id and its output by
run id, so the run table lives behind a repartition: every command about a
run goes through the results topic, keyed by run id, which is co-partitioned
with the ``runs`` table (same key, same partition count). Both agents run
with concurrency 1 per partition, as Faust's offset commits require.

The transitions themselves are pure functions in services/router/machine.py.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT

from services.common.acked import AckedProducer
from services.common.records import (
    StartRun,
    dumps,
    run_command_adapter,
)
from services.common.topics import Topics
from services.router.committed import read_committed_consumers
from services.router.decoding import EventDecoder
from services.router.machine import Effects, RunState, apply_outcome, run_id_for, start_run
from services.router.recovery import FlowStoppedTableManager
from services.router.registrations import RegistrationIndex
from weir.settings import Settings

log = logging.getLogger("weir.router")
MiB = 1024 * 1024
# A batch closes at this many commands or after this long without one more.
BATCH_MAX = 500
BATCH_WITHIN = 0.002


@contextmanager
def processing(event: EventT[bytes]) -> Iterator[None]:
    """Make ``event`` Faust's current event: a table reads and writes the partition of
    the current event, and a batch holds events of several partitions."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def rocksdb_options() -> dict[str, Any]:
    """Modest RocksDB settings (Faust's defaults assume a large machine): per partition DB."""
    return {
        "driver": "rocksdict",
        "write_buffer_size": 8 * MiB,
        "max_write_buffer_number": 2,
        "target_file_size_base": 16 * MiB,
        "block_cache_size": 32 * MiB,
        "block_cache_compressed_size": 1 * MiB,
        "max_open_files": 256,
    }


class Router:
    """Builds the Faust app and holds what its agents need."""

    def __init__(
        self,
        settings: Settings,
        index: RegistrationIndex,
        decoder: EventDecoder,
        emitter: Any,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings)
        self.index = index
        self.decoder = decoder
        self.emitter = emitter  # sends events (failure events, send_event steps)
        self.producer = AckedProducer(settings.bootstrap_servers)
        read_committed_consumers()  # aborted event lists must stay invisible
        datadir = Path(settings.router_datadir or (settings.home / "router")).resolve()
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.router_id,
            broker=f"kafka://{settings.bootstrap_servers}",
            store="rocksdb://",
            datadir=str(datadir),
            topic_partitions=self.topics.partitions,
            topic_replication_factor=1,
            processing_guarantee="at_least_once",
            producer_acks=-1,
            producer_linger=0.001,
            broker_commit_interval=0.5,
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            broker_rebalance_timeout=30.0,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            web_enabled=False,
            TableManager=FlowStoppedTableManager,
        )
        self._build()

    def _build(self) -> None:
        app, topics = self.app, self.topics
        events = app.topic(topics.events, key_serializer="raw", value_serializer="raw")
        self.results = app.topic(
            topics.results,
            key_serializer="raw",
            value_serializer="raw",
            partitions=topics.partitions,
        )
        # Values are the run state's JSON form (Faust's default json codec).
        self.runs = app.Table(
            "runs",
            key_type=str,
            partitions=topics.partitions,
            options=rocksdb_options(),
        )

        @app.agent(events, concurrency=1)
        async def route_events(stream: faust.StreamT[bytes]) -> None:
            # A batch's starts are acknowledged before its events are acked to Faust.
            async for values in stream.take(BATCH_MAX, within=BATCH_WITHIN):
                starts = [start for value in values for start in await self.route_event(value)]
                await self.producer.write(starts)

        @app.agent(self.results, concurrency=1)
        async def drive_runs(stream: faust.StreamT[bytes]) -> None:
            # Batches: the effects of a whole batch are awaited together
            # (one Kafka round trip), then the states are stored.
            async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):  # type: ignore[attr-defined]
                await self.drive_batch(batch)

    # -- the two agents' bodies --------------------------------------------------

    async def route_event(self, value: bytes | None) -> list[tuple[str, bytes, bytes]]:
        """The StartRun records one event makes: one per function it triggers."""
        if not value:
            return []
        try:
            event = await self.decoder.decode(value)
        except Exception as exc:  # a record nobody can read must not stop routing
            log.warning("skipping an undecodable event: %s", exc)
            return []
        event_id = event.get("id")
        if not isinstance(event_id, str):
            return []
        starts = []
        for sub in self.index.subscriptions_for(event):
            run_id = run_id_for(event_id, sub.app_id, sub.function.id)
            command = StartRun(
                run_id=run_id, app_id=sub.app_id, function_id=sub.function.id, event=event
            )
            starts.append((self.topics.results, run_id.encode(), dumps(command)))
        return starts

    async def drive_batch(self, batch: Sequence[EventT[bytes]]) -> None:
        """Apply a batch of commands: effects first, acknowledged, then the states.

        A state is stored only after Kafka acknowledged every task, history
        record and event its transition emitted. A crash in between replays
        the batch: a run whose state was not stored is transitioned again and
        emits the same effects again (tasks keep their seq, events their ids,
        so the repeats are ignored downstream); a run whose state was stored
        had its effects delivered already. The reverse order could store a
        state whose tasks were lost, leaving its run stuck for ever.
        """
        states: dict[str, tuple[EventT[bytes], RunState]] = {}
        effects: list[Effects] = []
        for event in batch:
            with processing(event):
                done = self.transition(event.value, states)
            if done is not None and done.changed and done.state is not None:
                states[done.state.run_id] = (event, done.state)
                effects.append(done)
        if not effects:
            return
        await self.emit(effects)
        for event, state in states.values():
            with processing(event):  # the table writes to the event's partition
                self.runs[state.run_id] = state.model_dump(mode="json")

    def transition(
        self, value: bytes | None, states: dict[str, tuple[EventT[bytes], RunState]]
    ) -> Effects | None:
        if not value:
            return None
        try:
            command = run_command_adapter.validate_json(value)
        except ValueError as exc:
            log.warning("skipping an unreadable run command: %s", exc)
            return None
        state = self._state(command.run_id, states)
        if isinstance(command, StartRun):
            sub = self.index.function(command.app_id, command.function_id)
            return start_run(
                command,
                state,
                url=sub.url if sub else None,
                retries=sub.function.retries if sub else 0,
            )
        if state is None:
            log.warning("outcome for unknown run %s", command.run_id)
            return None
        return apply_outcome(state, command)

    def _state(
        self, run_id: str, states: dict[str, tuple[EventT[bytes], RunState]]
    ) -> RunState | None:
        if run_id in states:  # changed earlier in this batch, not stored yet
            return states[run_id][1]
        stored = self.runs.get(run_id)
        return RunState.model_validate(stored) if stored else None

    async def emit(self, effects: list[Effects]) -> None:
        """Send every effect and wait until Kafka acknowledged all of them."""
        events = [event for done in effects for event in done.events]
        if events:
            await self.emitter.send(events)
        records: list[tuple[str, bytes, bytes]] = []
        history = self.topics.runs
        for done in effects:
            assert done.state is not None
            key = done.state.run_id.encode()
            if done.tasks or done.done:
                topic = self.topics.task(done.state.app_id, done.state.function_id)
                records += [(topic, key, dumps(fence)) for fence in done.done]
                records += [(topic, key, dumps(task)) for task in done.tasks]
            records += [(history, key, dumps(record)) for record in done.history]
        await self.producer.write(records)
