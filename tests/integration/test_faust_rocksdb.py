"""Prove the router's stack on the real broker: Faust workers, a RocksDB table, kill -9.

Each test runs tests/support/faust_app.py as real worker processes against its
own topics and consumer group. The app folds ``(key, seq)`` records into a
RocksDB-backed table (per key: the sorted set of seqs seen) and emits the row
after every update, tagged with the worker's name. Because the row is a set,
at-least-once redelivery rewrites it unchanged, so the tests can demand that
every acknowledged seq is in the table, none is missing and none is invented.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic
from rocksdict import AccessType, Options, Rdict

from tests.support.faust_worker import TABLE_NAME, FaustAppSpec, WorkerPool
from tests.support.kafka import Topics, unique
from tests.support.seq_stream import (
    BackgroundSender,
    Record,
    SeqProducer,
    TopicLog,
    committed_offsets,
    end_offsets,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

PARTITIONS = 4
KEYS = 12  # three keys per partition

Rows = dict[str, set[int]]


def _create_named(topics: Topics, name: str, partitions: int, **config: str) -> None:
    """Create a topic whose name Faust derives itself, and delete it with the test's."""
    futures = topics.admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)]
    )
    for future in futures.values():
        future.result(timeout=30)
    topics.created.append(name)


@pytest.fixture
def spec(topics: Topics, kafka_bootstrap: str) -> FaustAppSpec:
    # Every topic exists before a worker starts: Faust subscribes to its source
    # topics at start and does not pick up one created later.
    made = FaustAppSpec(
        app_id=unique("weir-faust"),
        bootstrap=kafka_bootstrap,
        input_topic=topics.create("faust-in", partitions=PARTITIONS),
        output_topic=topics.create("faust-out", partitions=PARTITIONS),
        partitions=PARTITIONS,
    )
    # Same shape Faust would declare: compacted, co-partitioned with the input.
    _create_named(topics, made.changelog_topic, PARTITIONS, **{"cleanup.policy": "compact"})
    _create_named(topics, made.leader_topic, 1)
    return made


# -- reading what the workers did ----------------------------------------------


@dataclass(frozen=True)
class Output:
    """One row the agent emitted: the state of ``key`` right after folding ``seq``."""

    key: str
    seq: int
    seqs: frozenset[int]
    worker: str
    partition: int  # input partition the record was read from
    offset: int  # its offset there


def _outputs(log: TopicLog, worker: str | None = None) -> list[Output]:
    made = (
        Output(
            key=str(v["key"]),
            seq=int(v["seq"]),
            seqs=frozenset(v["seqs"]),
            worker=str(v["worker"]),
            partition=int(v["partition"]),
            offset=int(v["offset"]),
        )
        for v in (r.value for r in log.records)
    )
    return [o for o in made if worker is None or o.worker == worker]


def _processed(log: TopicLog, worker: str | None = None) -> set[int]:
    return {o.seq for o in _outputs(log, worker)}


def _last_rows(records: Iterable[Record]) -> Rows:
    """The last row per key in topic order (a key always lands in one partition).

    Reads both the output topic (``{"seqs": [...]}``) and the changelog (``[...]``).
    """
    rows: Rows = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        value = record.value
        rows[record.key.decode()] = set(value["seqs"] if isinstance(value, dict) else value)
    return rows


def _missing(rows: Rows, expected: Rows) -> dict[str, list[int]]:
    gaps = {key: sorted(seqs - rows.get(key, set())) for key, seqs in expected.items()}
    return {key: gap for key, gap in gaps.items() if gap}


def _explain_missing(outputs: TopicLog, expected: Rows) -> str:
    missing = _missing(_last_rows(outputs.records), expected)
    lost = {seq for gap in missing.values() for seq in gap}
    seen = sorted((o.seq, o.worker, o.partition, o.offset) for o in _outputs(outputs))
    return f"missing {missing}; processed (seq, worker, partition, offset): " + str(
        [s for s in seen if s[0] in lost]
    )


def _rocksdb_rows(datadir: Path) -> Rows:
    """Read the table straight from the worker's RocksDB files (worker stopped)."""
    rows: Rows = {}
    for path in sorted(datadir.glob(f"**/tables/{TABLE_NAME}-*.db")):
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                assert isinstance(key, bytes), key  # raw mode: bytes in, bytes out
                assert isinstance(value, bytes), value
                if not key.startswith(b"__faust"):  # Faust's own offset bookkeeping
                    rows[key.decode()] = set(json.loads(value))
        finally:
            db.close()
    return rows


def _assert_rocksdb_tuned(datadir: Path) -> None:
    """The modest options reached RocksDB itself, through the rocksdict driver."""
    dbs = sorted(datadir.glob(f"**/tables/{TABLE_NAME}-*.db"))
    assert dbs, f"no RocksDB partition store under {datadir}"
    for db in dbs:
        assert (db / "rocksdict-config.json").exists(), f"{db} was not opened by rocksdict"
        options = "\n".join(p.read_text() for p in db.glob("OPTIONS-*"))
        for line in (
            "write_buffer_size=4194304",
            "max_write_buffer_number=2",
            "max_open_files=128",
        ):
            assert f"  {line}\n" in options, f"{db}: RocksDB runs without {line}"
        assert "capacity : 16777216" in (db / "LOG").read_text(), f"{db}: block cache not 16 MiB"


def _wait_committed(spec: FaustAppSpec, timeout: float) -> None:
    """Wait until the group committed everything in the input topic."""
    ends = end_offsets(spec.bootstrap, spec.input_topic, range(spec.partitions))
    deadline = time.monotonic() + timeout
    while True:
        committed = committed_offsets(spec.bootstrap, spec.app_id, spec.input_topic)
        if committed == ends:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"committed {committed}, expected {ends}")
        time.sleep(0.2)


# -- the tests -----------------------------------------------------------------


def test_table_is_rebuilt_from_changelog_after_kill_9(spec: FaustAppSpec, tmp_path: Path) -> None:
    datadir = tmp_path / "w1-data"
    producer = SeqProducer(spec.bootstrap, spec.input_topic, keys=KEYS, partitions=PARTITIONS)
    with (
        WorkerPool(spec, tmp_path) as pool,
        TopicLog(spec.bootstrap, spec.output_topic, PARTITIONS) as outputs,
        TopicLog(spec.bootstrap, spec.changelog_topic, PARTITIONS) as changelog,
    ):
        first = pool.start("w1", datadir)

        # 1. The worker consumes every partition into the RocksDB table.
        batch_1 = set(producer.send(240))
        outputs.wait_until(
            lambda: batch_1 <= _processed(outputs), timeout=40, what="w1 to process batch 1"
        )
        assert {o.partition for o in _outputs(outputs)} == set(range(PARTITIONS))
        _assert_rocksdb_tuned(datadir)
        # Once batch 1 is committed it is never redelivered: after the restart
        # its seqs can only come back through the changelog.
        _wait_committed(spec, timeout=15)
        rows_of_batch_1 = producer.acked()

        # 2. kill -9 while records keep arriving, then lose the local state.
        with BackgroundSender(producer, batch=10, pause=0.02):
            outputs.wait_until(
                lambda: len(_processed(outputs, "w1")) >= len(batch_1) + 100,
                timeout=30,
                what="w1 to be mid-stream",
            )
            first.kill()
            time.sleep(0.5)  # records keep coming while the worker is dead
        shutil.rmtree(datadir)

        restarted = pool.start("w1-restarted", datadir)
        producer.send(100)
        acked = producer.acked()
        outputs.wait_until(
            lambda: not _missing(_last_rows(outputs.records), acked),
            timeout=60,
            what="the restarted worker to hold every acknowledged seq",
            explain=lambda: _explain_missing(outputs, acked),
        )

        after_restart = _outputs(outputs, "w1-restarted")
        # The restarted worker never saw batch 1 again ...
        assert not batch_1 & {o.seq for o in after_restart}
        # ... yet its very first row for each key already holds all of it.
        first_rows: dict[str, frozenset[int]] = {}
        for output in after_restart:
            first_rows.setdefault(output.key, output.seqs)
        for key, seqs in rows_of_batch_1.items():
            assert seqs <= first_rows[key], f"{key}: lost {sorted(seqs - first_rows[key])}"

        # Nothing lost, nothing invented: the outputs, the changelog and the
        # RocksDB files end with exactly the acknowledged seqs.
        assert _processed(outputs) == set().union(*acked.values())
        assert _last_rows(outputs.records) == acked
        changelog.wait_until(
            lambda: _last_rows(changelog.records) == acked, timeout=15, what="changelog rows"
        )
        restarted.kill()
        assert _rocksdb_rows(datadir) == acked
        _assert_rocksdb_tuned(datadir)


def test_second_worker_shares_partitions_without_loss(spec: FaustAppSpec, tmp_path: Path) -> None:
    producer = SeqProducer(spec.bootstrap, spec.input_topic, keys=KEYS, partitions=PARTITIONS)
    with (
        WorkerPool(spec, tmp_path) as pool,
        TopicLog(spec.bootstrap, spec.output_topic, PARTITIONS) as outputs,
        TopicLog(spec.bootstrap, spec.changelog_topic, PARTITIONS) as changelog,
    ):
        pool.start("w1", tmp_path / "w1-data")
        with BackgroundSender(producer, batch=8, pause=0.05):
            outputs.wait_until(
                lambda: len(_processed(outputs, "w1")) >= 100, timeout=40, what="w1 to run"
            )
            pool.start("w2", tmp_path / "w2-data")
            outputs.wait_until(
                lambda: len(_processed(outputs, "w2")) >= 50, timeout=40, what="w2 to take work"
            )
            # Keep producing well after the rebalance.
            settled = producer.next_seq
            outputs.wait_until(
                lambda: max(_processed(outputs)) >= settled + 200,
                timeout=30,
                what="records after the rebalance",
            )
        acked = producer.acked()
        outputs.wait_until(
            lambda: not _missing(_last_rows(outputs.records), acked),
            timeout=40,
            what="every acknowledged seq in the final rows",
            explain=lambda: _explain_missing(outputs, acked),
        )

        # Both workers own partitions once the group settled.
        owners: dict[int, set[str]] = {}
        for output in _outputs(outputs):
            if output.seq >= settled:
                owners.setdefault(output.partition, set()).add(output.worker)
        assert set(owners) == set(range(PARTITIONS))
        assert set().union(*owners.values()) == {"w1", "w2"}, owners

        assert _processed(outputs) == set().union(*acked.values())
        assert _last_rows(outputs.records) == acked
        changelog.wait_until(
            lambda: _last_rows(changelog.records) == acked, timeout=15, what="changelog rows"
        )
