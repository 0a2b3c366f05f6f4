"""Direct starts: a run's id lands in its event's partition, and the guard keeps two
agents off one run."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.common.partitions import partition_for
from services.router.machine import run_id_for
from services.router.run_guard import RunGuard


def test_partition_for_is_the_java_partitioner_that_faust_uses() -> None:
    java = DefaultPartitioner()
    for n in range(200):
        key = f"key-{n}".encode()
        assert partition_for(key, 6) == java(key, list(range(6)), list(range(6)))


@pytest.mark.parametrize("count", [1, 2, 6, 12])
def test_a_homed_run_id_lands_in_its_home_partition(count: int) -> None:
    for partition in range(count):
        for n in range(20):
            run_id = run_id_for(f"ev-{n}", "shop", "welcome", home=(partition, count))
            assert partition_for(run_id.encode(), count) == partition


def test_a_homed_run_id_is_stable_and_differs_per_function_and_event() -> None:
    home = (3, 6)
    first = run_id_for("ev-1", "shop", "welcome", home=home)
    assert first == run_id_for("ev-1", "shop", "welcome", home=home)
    assert first != run_id_for("ev-1", "shop", "other", home=home)
    assert first != run_id_for("ev-2", "shop", "welcome", home=home)
    # Without a home the id is the plain one; with a home it is a candidate of the series.
    plain = run_id_for("ev-1", "shop", "welcome")
    assert run_id_for("ev-1", "shop", "welcome", home=(partition_for(plain.encode(), 6), 6)) == (
        plain
    )


def test_a_home_outside_the_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="partition 6 is not one of 6"):
        run_id_for("ev-1", "shop", "welcome", home=(6, 6))


def test_the_guard_makes_a_second_holder_of_a_run_wait() -> None:
    asyncio.run(_second_holder_waits())


async def _second_holder_waits() -> None:
    guard = RunGuard()
    order: list[str] = []
    first_holds = asyncio.Event()
    let_go = asyncio.Event()

    async def first() -> None:
        async with guard.hold(["r1", "r2"]):
            first_holds.set()
            order.append("first in")
            await let_go.wait()
            order.append("first out")

    async def second() -> None:
        await first_holds.wait()
        async with guard.hold(["r2", "r3"]):
            order.append("second in")

    async def unrelated() -> None:
        await first_holds.wait()
        async with guard.hold(["r4"]):
            order.append("unrelated in")

    tasks = [asyncio.create_task(f()) for f in (first, second, unrelated)]
    await first_holds.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["first in", "unrelated in"]
    assert guard.held() == 2
    let_go.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "unrelated in", "first out", "second in"]
    assert guard.held() == 0


def test_the_guard_lets_go_when_its_holder_fails() -> None:
    asyncio.run(_lets_go_on_failure())


async def _lets_go_on_failure() -> None:
    guard = RunGuard()
    with pytest.raises(RuntimeError):
        async with guard.hold(["r1"]):
            raise RuntimeError("boom")
    async with guard.hold(["r1"]):
        assert guard.held() == 1
    assert guard.held() == 0
