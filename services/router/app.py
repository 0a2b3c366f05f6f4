"""The router as a Faust app: three agents, three RocksDB tables and a timer loop.

    events  ──> route_events ──> starts runs in the event's partition (as drive_runs
                                 does), or StartRun──> results; ──Probe──> waits
    results ──> drive_runs (runs, timers tables) ──> task topics, runs, events,
                                                     waits (open/close), results (children)
    waits   ──> match_waits (waits table) ──WaitResolved──> results
    timer loop (reads timers, waits tables) ──Wake──> results; ──Sweep──> waits;
                                            ──StartRun (cron ticks)──> results

``route_events`` joins each event against the registrations and starts one
run per matching function, and probes the wait index with it. Every command
about a run goes through the results topic, keyed by run id, co-partitioned
with the ``runs`` and ``timers`` tables; every command about a wait key goes
through the waits topic, co-partitioned with the ``waits`` table. A start
needs no such trip when the events topic has as many partitions as the
results topic: Faust then assigns partition p of both to the same router,
and the run's id is chosen so that its key lands in p, the partition the
event was read from. Agents run with concurrency 1 per partition, as Faust's
offset commits require, and a RunGuard keeps the two agents that change
runs off the same run. Faust timers may read tables but not write them, so
the timer loop only writes commands to topics.

The transitions themselves are pure functions in services/router/machine.py
(runs) and services/router/waits.py (the wait index).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import faust
from faust.streams import _current_event
from faust.types import EventT
from pydantic import TypeAdapter

from services.common.acked import AckedProducer
from services.common.records import (
    Command,
    Probe,
    StartRun,
    WaitOpen,
    dumps,
    now_ms,
    run_command_adapter,
    wait_command_adapter,
)
from services.common.topics import Topics
from services.router import waits
from services.router.batches import batches
from services.router.committed import configure_consumers
from services.router.decoding import EventDecoder
from services.router.machine import (
    Effects,
    Env,
    RunState,
    Target,
    apply_command,
    run_id_for,
    start_run,
)
from services.router.recovery import FlowStoppedTableManager
from services.router.registrations import RegistrationIndex
from services.router.run_guard import RunGuard
from services.router.timers import TimerLoop
from services.router.wait_keys import probe_keys
from services.router.wait_paths import WaitPaths, pair_key
from weir.settings import Settings

log = logging.getLogger("weir.router")
T = TypeVar("T")
MiB = 1024 * 1024
# A batch closes at this many commands, or this long after its first one.
BATCH_MAX = 500
BATCH_WITHIN = 0.001


@contextmanager
def processing(event: EventT[bytes]) -> Iterator[None]:
    """Make ``event`` Faust's current event: a table reads and writes the partition of
    the current event, and a batch holds events of several partitions."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def readable(
    batch: Sequence[EventT[bytes]], adapter: TypeAdapter[T], what: str
) -> list[tuple[EventT[bytes], T]]:
    """The batch's records that parse, each with its event. One nobody can read is
    logged and skipped: it must not stop the agent (it is acked with the batch)."""
    found = []
    for event in batch:
        if not event.value:
            continue
        try:
            found.append((event, adapter.validate_json(event.value)))
        except ValueError as exc:
            log.warning("skipping an unreadable %s: %s", what, exc)
    return found


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
        wait_paths: WaitPaths | None = None,
        *,
        direct_starts: bool = False,
    ) -> None:
        self.settings = settings
        # Runs start in route_events, in their event's partition: only when the
        # events topic is co-partitioned with the results topic and the tables.
        self.direct_starts = direct_starts
        self.guard = RunGuard()
        self.topics = Topics(settings)
        self.index = index
        self.decoder = decoder
        self.emitter = emitter  # sends events (failure events, send_event steps)
        self.wait_paths = wait_paths or WaitPaths(index)
        self.lookback_ms = int(settings.wait_lookback * 1000)
        self.producer = AckedProducer(settings.bootstrap_servers)
        configure_consumers()  # aborted event lists stay invisible; fetches gather records
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
            producer_linger=0.005,  # only table changelogs go this way: batch them
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
        self.waits_topic = app.topic(
            topics.waits,
            key_serializer="raw",
            value_serializer="raw",
            partitions=topics.partitions,
        )
        # Values are JSON forms (Faust's default json codec): the run state, the
        # run's next due timer (ms; only runs that have one), a wait key's row.
        self.runs = app.Table(
            "runs", key_type=str, partitions=topics.partitions, options=rocksdb_options()
        )
        self.timers = app.Table(
            "timers", key_type=str, partitions=topics.partitions, options=rocksdb_options()
        )
        self.waits = app.Table(
            "waits", key_type=str, partitions=topics.partitions, options=rocksdb_options()
        )
        self.timer_loop = TimerLoop(self)

        @app.agent(events, concurrency=1)
        async def route_events(stream: faust.StreamT[bytes]) -> None:
            # A batch's starts are acknowledged (and stored) before its events
            # are acked to Faust.
            async for batch in batches(stream, max_batch=BATCH_MAX, gather=BATCH_WITHIN):
                await self.route_batch(batch)

        @app.agent(self.results, concurrency=1)
        async def drive_runs(stream: faust.StreamT[bytes]) -> None:
            # Batches: the effects of a whole batch are awaited together
            # (one Kafka round trip), then the states are stored.
            async for batch in batches(stream, max_batch=BATCH_MAX, gather=BATCH_WITHIN):
                await self.drive_batch(batch)

        @app.agent(self.waits_topic, concurrency=1)
        async def match_waits(stream: faust.StreamT[bytes]) -> None:
            async for batch in batches(stream, max_batch=BATCH_MAX, gather=BATCH_WITHIN):
                await self.match_batch(batch)

        app.task(self.timer_loop.run)

        async def on_rebalance_complete(
            sender: Any, /, *args: Any, signal: Any, **kwargs: Any
        ) -> None:
            self.timer_loop.reassigned()

        app.on_rebalance_complete.connect(on_rebalance_complete)

    # -- the two agents' bodies --------------------------------------------------

    async def route_batch(self, batch: Sequence[EventT[bytes]]) -> None:
        """Start the runs a batch of events triggers; probe the wait index with them.

        With direct starts each run's id is chosen to live in the partition its
        event was read from (see ``run_id_for``): the run is started here, like
        a StartRun in ``drive_runs``, one Kafka hop sooner. Otherwise the
        StartRun goes through the results topic to the run's partition.
        """
        starts: list[tuple[EventT[bytes], Command]] = []
        records: list[tuple[str, bytes, bytes]] = []
        for event in batch:
            accepted = int(event.message.timestamp * 1000)
            partition, count = event.message.partition, self.topics.partitions
            # (A partition beyond the count: the events topic grew while running.)
            direct = self.direct_starts and partition < count
            home = (partition, count) if direct else None
            commands, probes = await self.route_event(event.value, accepted, home)
            records += probes
            if direct:
                starts += [(event, command) for command in commands]
            else:
                records += [(self.topics.results, c.run_id.encode(), dumps(c)) for c in commands]
        await self.apply_commands(starts, records)

    async def route_event(
        self, value: bytes | None, accepted: int, home: tuple[int, int] | None
    ) -> tuple[list[StartRun], list[tuple[str, bytes, bytes]]]:
        """What one event makes: a StartRun per function it triggers, a Probe per wait key.

        ``accepted`` is the event's Kafka timestamp (ms): when it was written,
        which the sender cannot set, unlike the envelope's ``ts``.
        """
        if not value:
            return [], []
        try:
            event = await self.decoder.decode(value)
        except Exception as exc:  # a record nobody can read must not stop routing
            log.warning("skipping an undecodable event: %s", exc)
            return [], []
        event_id = event.get("id")
        if not isinstance(event_id, str):
            return [], []
        starts = [
            StartRun(
                run_id=run_id_for(event_id, sub.app_id, sub.function.id, home=home),
                app_id=sub.app_id,
                function_id=sub.function.id,
                event=event,
                accepted_at=accepted,
            )
            for sub in self.index.subscriptions_for(event)
        ]
        probes = []
        paths = self.wait_paths.paths_for(str(event.get("name")))
        if paths:
            for key in probe_keys(event, paths):
                probe = Probe(key=key, event=event, ts=accepted)
                probes.append((self.topics.waits, key.encode(), dumps(probe)))
        return starts, probes

    async def drive_batch(self, batch: Sequence[EventT[bytes]]) -> None:
        """Apply a batch of run commands from the results topic."""
        await self.apply_commands(readable(batch, run_command_adapter, "run command"))

    async def apply_commands(
        self,
        commands: Sequence[tuple[EventT[bytes], Command]],
        records: Sequence[tuple[str, bytes, bytes]] = (),
    ) -> None:
        """Apply commands to their runs: effects first, acknowledged, then the states.

        Each command comes with the Kafka record it was read from, whose
        partition is its run's. ``records`` are written with the effects.

        A state is stored only after Kafka acknowledged every task, history
        record, event, wait and command its transition emitted. A crash in
        between replays the batch: a run whose state was not stored is
        transitioned again and emits the same effects again (tasks keep their
        seq, events and child runs their ids, so the repeats are ignored
        downstream); a run whose state was stored had its effects delivered
        already. The reverse order could store a state whose tasks were lost,
        leaving its run stuck for ever.
        """
        if not commands:
            await self.producer.write(records)
            return
        async with self.guard.hold(command.run_id for _, command in commands):
            now = now_ms()
            env = Env(now=now, resolve=self.resolve)
            states: dict[str, tuple[EventT[bytes], RunState]] = {}
            touched: dict[str, tuple[EventT[bytes], RunState]] = {}
            effects: list[Effects] = []
            for event, command in commands:
                with processing(event):
                    done = self.transition(command, states, env)
                if done is None or done.state is None:
                    continue
                touched[done.state.run_id] = (event, done.state)
                if done.changed:
                    states[done.state.run_id] = (event, done.state)
                    effects.append(done)
            await self.emit(effects, records)
            for event, state in touched.values():
                with processing(event):  # the tables write to the event's partition
                    if state.run_id in states:
                        self.runs[state.run_id] = state.model_dump(mode="json")
                    self._store_due(state)

    def _store_due(self, state: RunState) -> None:
        """Keep the timers table equal to the run's next due timer.

        Checked for every run a command touched, changed or not: if a crash
        stored the run's state but not its timer row (two changelogs), the
        replayed command finds the state unchanged and mends the row here.
        """
        if not state.timed:
            return
        due = state.next_due()
        stored = self.timers.get(state.run_id)
        if due == stored:
            return
        if due is None:
            del self.timers[state.run_id]
        else:
            self.timers[state.run_id] = due
            self.timer_loop.schedule_run(state.run_id, due)

    def transition(
        self,
        command: Command,
        states: dict[str, tuple[EventT[bytes], RunState]],
        env: Env,
    ) -> Effects | None:
        state = self._state(command.run_id, states)
        if isinstance(command, StartRun):
            sub = self.index.function(command.app_id, command.function_id)
            return start_run(
                command,
                state,
                url=sub.url if sub else None,
                retries=sub.function.retries if sub else 0,
                config=sub.function if sub else None,
                now=env.now,
            )
        if state is None:
            # Expected for a few runs after a router crash: a start replayed from the
            # events topic may come after its first task's outcome (the worker then
            # answers the replayed task again; docs/architecture.md, decision 27).
            log.warning("%s for unknown run %s: dropped", command.kind, command.run_id)
            return None
        return apply_command(state, command, env)

    def resolve(self, app_id: str, function_id: str) -> Target | None:
        sub = self.index.function(app_id, function_id)
        return Target(sub.url, sub.function.retries, sub.function) if sub else None

    def _state(
        self, run_id: str, states: dict[str, tuple[EventT[bytes], RunState]]
    ) -> RunState | None:
        if run_id in states:  # changed earlier in this batch, not stored yet
            return states[run_id][1]
        stored = self.runs.get(run_id)
        return RunState.model_validate(stored) if stored else None

    async def emit(
        self, effects: list[Effects], extra: Sequence[tuple[str, bytes, bytes]] = ()
    ) -> None:
        """Send every effect, and ``extra``; wait until Kafka acknowledged all of them."""
        events = [event for done in effects for event in done.events]
        if events:
            await self.emitter.send(events)
        records = list(extra)
        history = self.topics.runs
        for done in effects:
            assert done.state is not None
            key = done.state.run_id.encode()
            if done.tasks or done.done:
                topic = self.topics.task(done.state.app_id, done.state.function_id)
                records += [(topic, key, dumps(fence)) for fence in done.done]
                records += [(topic, key, dumps(task)) for task in done.tasks]
            records += [(history, key, dumps(record)) for record in done.history]
            records += [(self.topics.results, c.run_id.encode(), dumps(c)) for c in done.commands]
        opens = [w for done in effects for w in done.waits if isinstance(w, WaitOpen)]
        # A new (event name, path) pair is known to every router before its
        # first wait is in the index: from then on its events are probed.
        new_pairs = self._new_pairs(opens)
        await self.producer.write(
            [(self.topics.wait_paths, pair_key(name, path), b"1") for name, path in new_pairs]
        )
        for name, path in new_pairs:
            self.wait_paths.add(name, path)
        for done in effects:
            records += [(self.topics.waits, w.key.encode(), dumps(w)) for w in done.waits]
        await self.producer.write(records)

    def _new_pairs(self, opens: list[WaitOpen]) -> list[tuple[str, str]]:
        pairs = {(w.event_name, w.path) for w in opens}
        return sorted((name, path) for name, path in pairs if not self.wait_paths.known(name, path))

    # -- the wait index ------------------------------------------------------------

    async def match_batch(self, batch: Sequence[EventT[bytes]]) -> None:
        """Apply wait commands to their keys' rows; resolutions are acknowledged first."""
        now = now_ms()
        rows: dict[str, tuple[EventT[bytes], waits.WaitRow | None]] = {}
        resolved = []
        for event, command in readable(batch, wait_command_adapter, "wait command"):
            with processing(event):
                row = rows[command.key][1] if command.key in rows else self._row(command.key)
            row, found = waits.apply(row, command, now=now, lookback_ms=self.lookback_ms)
            rows[command.key] = (event, row)
            resolved += found
        await self.producer.write(
            [(self.topics.results, r.run_id.encode(), dumps(r)) for r in resolved]
        )
        for key, (event, row) in rows.items():
            with processing(event):
                if row is None:
                    if self.waits.get(key) is not None:
                        del self.waits[key]
                    continue
                self.waits[key] = row.model_dump(mode="json")
                due = row.next_sweep(self.lookback_ms)
                if due is not None:
                    self.timer_loop.schedule_sweep(key, due)

    def _row(self, key: str) -> waits.WaitRow | None:
        stored = self.waits.get(key)
        return waits.WaitRow.model_validate(stored) if stored else None
