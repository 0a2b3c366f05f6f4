"""The wait index row by row: opens, probes, the look-back, expressions, sweeps."""

from __future__ import annotations

from typing import Any

from services.common.records import Probe, Sweep, WaitClose, WaitOpen
from services.router import waits
from services.router.wait_keys import probe_keys, unindexed_key, wait_key

KEY = wait_key("shop/paid", "data.cart_id", "c1")
LOOKBACK = 300_000


def _open(run: str = "r1", since: int = 100, **extra: Any) -> WaitOpen:
    return WaitOpen(
        key=KEY,
        run_id=run,
        step_id="w",
        event_name="shop/paid",
        path="data.cart_id",
        since=since,
        expires=10_000,
        **extra,
    )


def _probe(ts: int, event_id: str = "e1", **data: Any) -> Probe:
    event = {"name": "shop/paid", "id": event_id, "ts": ts, "data": {"cart_id": "c1", **data}}
    return Probe(key=KEY, event=event, ts=ts)


def test_an_event_resumes_every_run_waiting_under_its_key() -> None:
    row, found = waits.apply(None, _open("r1"), now=150, lookback_ms=LOOKBACK)
    row, found = waits.apply(row, _open("r2"), now=150, lookback_ms=LOOKBACK)
    assert found == []
    row, found = waits.apply(row, _probe(200), now=200, lookback_ms=LOOKBACK)
    assert sorted(r.run_id for r in found) == ["r1", "r2"]
    assert row is not None
    assert row.waiters == []
    assert [r.event["id"] for r in row.recent] == ["e1"]


def test_an_event_accepted_before_the_wait_was_stored_still_resumes_it() -> None:
    row, found = waits.apply(None, _probe(120), now=120, lookback_ms=LOOKBACK)
    assert found == []
    row, found = waits.apply(row, _open(since=100), now=130, lookback_ms=LOOKBACK)
    assert [r.run_id for r in found] == ["r1"]
    assert found[0].event["id"] == "e1"
    assert row is not None
    assert row.waiters == []


def test_an_event_older_than_the_wait_does_not_resume_it() -> None:
    row, _ = waits.apply(None, _probe(90), now=120, lookback_ms=LOOKBACK)
    row, found = waits.apply(row, _open(since=100), now=130, lookback_ms=LOOKBACK)
    assert found == []
    assert row is not None
    assert [w.run_id for w in row.waiters] == ["r1"]


def test_an_expression_picks_among_events_of_the_key() -> None:
    trigger = {"name": "shop/cart.added", "data": {"min": 10}}
    opened = _open(expression="async.data.total >= event.data.min", trigger=trigger)
    row, _ = waits.apply(None, opened, now=100, lookback_ms=LOOKBACK)
    row, found = waits.apply(row, _probe(200, "small", total=5), now=200, lookback_ms=LOOKBACK)
    assert found == []
    row, found = waits.apply(row, _probe(300, "big", total=50), now=300, lookback_ms=LOOKBACK)
    assert [r.event["id"] for r in found] == ["big"]


def test_close_removes_the_waiter_and_an_empty_row_is_deleted() -> None:
    row, _ = waits.apply(None, _open(), now=100, lookback_ms=0)
    close = WaitClose(key=KEY, run_id="r1", step_id="w")
    row, found = waits.apply(row, close, now=100, lookback_ms=0)
    assert row is None
    assert found == []


def test_memories_last_the_lookback_then_a_sweep_drops_them() -> None:
    row, _ = waits.apply(None, _probe(1000), now=1000, lookback_ms=500)
    assert row is not None
    assert row.next_sweep(500) == 1500
    row, _ = waits.apply(row, Sweep(key=KEY), now=1400, lookback_ms=500)
    assert row is not None
    row, _ = waits.apply(row, Sweep(key=KEY), now=1501, lookback_ms=500)
    assert row is None


def test_the_same_open_or_probe_read_twice_counts_once() -> None:
    row, _ = waits.apply(None, _open(), now=100, lookback_ms=LOOKBACK)
    row, _ = waits.apply(row, _open(), now=100, lookback_ms=LOOKBACK)
    assert row is not None
    assert len(row.waiters) == 1
    row, _ = waits.apply(None, _probe(100), now=100, lookback_ms=LOOKBACK)
    row, _ = waits.apply(row, _probe(100), now=100, lookback_ms=LOOKBACK)
    assert row is not None
    assert len(row.recent) == 1


def test_probe_keys_follow_the_paths_in_use() -> None:
    event = {"name": "shop/paid", "data": {"cart_id": "c1", "nested": {"a": 1}}}
    keys = probe_keys(event, frozenset({"data.cart_id", "", "data.nested", "data.gone"}))
    assert sorted(keys) == sorted([KEY, unindexed_key("shop/paid")])
