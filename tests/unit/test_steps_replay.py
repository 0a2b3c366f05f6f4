"""Replay and memoization: one call at a time, as a worker drives them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from tests.support.calls import call_once
from weir.functions import Context, Step, SyncStep
from weir.functions.checkpoint import EVERY_STEP
from weir.functions.execute import AnyResponse
from weir.functions.function import Function, define_function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CompleteResponse,
    PlannedResponse,
    StepRecord,
    StepResponse,
)

EVENT = {"name": "test/replay", "data": {"n": 2}, "id": "e1", "ts": 1}


def make(handler: Any, retries: int = 4) -> Function:
    return define_function(
        id="replay-fn",
        name=None,
        trigger="test/replay",
        handler=handler,
        retries=retries,
        checkpoint=EVERY_STEP,  # one call's mechanics; checkpoints: test_steps_checkpoint.py
    )


def call(
    function: Function,
    steps: Sequence[StepRecord] = (),
    *,
    target: str | None = None,
    limits: Limits | None = None,
) -> AnyResponse:
    return call_once(function, EVENT, steps, target=target, limits=limits)


def ok(step_id: str, data: Any = None) -> StepRecord:
    return StepRecord(id=step_id, data=data)


class Quote(BaseModel):
    sku: str
    cents: int


def price(sku: str) -> Quote:
    return Quote(sku=sku, cents=250)


async def price_async(sku: str) -> Quote:
    return Quote(sku=sku, cents=300)


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def tracked(self, name: str, value: Any = None) -> Any:
        def fn() -> Any:
            self.calls.append(name)
            return value if value is not None else name

        return fn


def test_first_call_executes_the_first_step_only() -> None:
    seen = Counter()

    async def handler(ctx: Context[Any], step: Step) -> str:
        a = await step.run("a", seen.tracked("a"))
        b = await step.run("b", seen.tracked("b"))
        return f"{a}{b}"

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert answer.step.id == "a"
    assert answer.step.data == "a"
    assert seen.calls == ["a"]


def test_memoized_steps_return_their_record_and_never_run_again() -> None:
    seen = Counter()

    async def handler(ctx: Context[Any], step: Step) -> str:
        a = await step.run("a", seen.tracked("a"))
        b = await step.run("b", seen.tracked("b"))
        return f"{a}+{b}"

    fn = make(handler)
    second = call(fn, [ok("a", "recorded-a")])
    assert isinstance(second, StepResponse)
    assert (second.step.id, second.step.data) == ("b", "b")
    done = call(fn, [ok("a", "recorded-a"), ok("b", "recorded-b")])
    assert isinstance(done, CompleteResponse)
    assert done.output == "recorded-a+recorded-b"
    assert seen.calls == ["b"]


def test_repeated_ids_get_counters() -> None:
    async def handler(ctx: Context[Any], step: Step) -> list[int]:
        return [await step.run("fetch", lambda i=i: i) for i in range(3)]

    fn = make(handler)
    first = call(fn)
    assert isinstance(first, StepResponse)
    assert first.step.id == "fetch"
    assert first.step.name == "fetch"
    second = call(fn, [ok("fetch", 0)])
    assert isinstance(second, StepResponse)
    assert (second.step.id, second.step.name) == ("fetch:1", "fetch")
    third = call(fn, [ok("fetch", 0), ok("fetch:1", 1)])
    assert isinstance(third, StepResponse)
    assert third.step.id == "fetch:2"
    done = call(fn, [ok("fetch", 0), ok("fetch:1", 1), ok("fetch:2", 2)])
    assert isinstance(done, CompleteResponse)
    assert done.output == [0, 1, 2]


def test_pydantic_results_round_trip_through_the_return_annotation() -> None:
    got: list[Quote] = []

    async def handler(ctx: Context[Any], step: Step) -> int:
        quote = await step.run("price", price, "sku-1")
        other = await step.run("price-async", price_async, "sku-2")
        got.extend([quote, other])
        return quote.cents + other.cents

    fn = make(handler)
    first = call(fn)
    assert isinstance(first, StepResponse)
    assert first.step.data == {"sku": "sku-1", "cents": 250}
    done = call(fn, [ok("price", first.step.data), ok("price-async", {"sku": "x", "cents": 1})])
    assert isinstance(done, CompleteResponse)
    assert done.output == 251
    assert got == [Quote(sku="sku-1", cents=250), Quote(sku="x", cents=1)]
    assert all(isinstance(q, Quote) for q in got)


def test_unannotated_results_come_back_as_plain_json() -> None:
    got: list[Any] = []

    async def handler(ctx: Context[Any], step: Step) -> None:
        got.append(await step.run("untyped", lambda: Quote(sku="a", cents=1)))

    fn = make(handler)
    first = call(fn)
    assert isinstance(first, StepResponse)
    assert first.step.data == {"sku": "a", "cents": 1}
    call(fn, [ok("untyped", first.step.data)])
    assert got == [{"sku": "a", "cents": 1}]


def test_parallel_new_steps_are_planned_not_executed() -> None:
    seen = Counter()

    async def handler(ctx: Context[Any], step: Step) -> list[str]:
        first = await step.run("first", seen.tracked("first"))
        results = await asyncio.gather(
            step.run("x", seen.tracked("x")),
            step.run("y", seen.tracked("y")),
            step.run("z", seen.tracked("z")),
        )
        return [first, *results]

    fn = make(handler)
    planned = call(fn, [ok("first", "F")])
    assert isinstance(planned, PlannedResponse)
    assert [(op.id, op.op) for op in planned.steps] == [("x", "run"), ("y", "run"), ("z", "run")]
    assert seen.calls == []


def test_a_target_call_executes_only_its_step() -> None:
    seen = Counter()

    async def handler(ctx: Context[Any], step: Step) -> list[str]:
        return list(
            await asyncio.gather(step.run("x", seen.tracked("x")), step.run("y", seen.tracked("y")))
        )

    fn = make(handler)
    answer = call(fn, target="y")
    assert isinstance(answer, StepResponse)
    assert (answer.step.id, answer.step.data) == ("y", "y")
    assert seen.calls == ["y"]
    done = call(fn, [ok("y", "Y"), ok("x", "X")])
    assert isinstance(done, CompleteResponse)
    assert done.output == ["X", "Y"]
    assert done.warnings == []  # parallel steps may be recorded in any order


def test_nested_parallel_branches_with_chains_are_all_found() -> None:
    async def handler(ctx: Context[Any], step: Step) -> list[Any]:
        async def chain() -> str:
            a = await step.run("chain-a", lambda: "a")
            return str(await step.run("chain-b", lambda: a + "b"))

        async def inner() -> list[Any]:
            return list(await asyncio.gather(step.run("i1", lambda: 1), step.run("i2", lambda: 2)))

        return list(await asyncio.gather(chain(), inner(), step.run("solo", lambda: 0)))

    fn = make(handler)
    planned = call(fn)
    assert isinstance(planned, PlannedResponse)
    assert {op.id for op in planned.steps} == {"chain-a", "i1", "i2", "solo"}
    again = call(fn, [ok("chain-a", "a"), ok("solo", 0), ok("i2", 2), ok("i1", 1)])
    assert isinstance(again, StepResponse)
    assert again.step.id == "chain-b"
    done = call(
        fn, [ok("chain-a", "a"), ok("solo", 0), ok("i2", 2), ok("i1", 1), ok("chain-b", "ab")]
    )
    assert isinstance(done, CompleteResponse)
    assert done.output == ["ab", [1, 2], 0]


def test_platform_ops_are_planned_with_their_options() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        await step.sleep("nap", 90)
        return await step.wait_for_event(
            "wait", event="test/paid", timeout=3600, match="data.order_id"
        )

    fn = make(handler)
    nap = call(fn)
    assert isinstance(nap, PlannedResponse)
    assert [(op.id, op.op, op.opts) for op in nap.steps] == [("nap", "sleep", {"seconds": 90.0})]
    wait = call(fn, [ok("nap")])
    assert isinstance(wait, PlannedResponse)
    assert wait.steps[0].op == "wait_for_event"
    assert wait.steps[0].opts == {"event": "test/paid", "timeout": 3600.0, "match": "data.order_id"}
    paid = {"name": "test/paid", "data": {"order_id": "o1"}, "id": "p1", "ts": 5}
    done = call(fn, [ok("nap"), ok("wait", paid)])
    assert isinstance(done, CompleteResponse)
    assert done.output["data"] == {"order_id": "o1"}
    timed_out = call(fn, [ok("nap"), ok("wait", None)])
    assert isinstance(timed_out, CompleteResponse)
    assert timed_out.output is None


def test_send_event_ids_are_deterministic() -> None:
    async def handler(ctx: Context[Any], step: Step) -> list[str]:
        return await step.send_event(
            "notify",
            [{"name": "test/a", "data": {"i": 1}}, {"name": "test/b", "data": {}, "id": "mine"}],
        )

    fn = make(handler)
    one, two = call(fn), call(fn)
    assert isinstance(one, PlannedResponse)
    assert isinstance(two, PlannedResponse)
    events_one, events_two = one.steps[0].opts["events"], two.steps[0].opts["events"]
    assert isinstance(events_one, list)
    assert isinstance(events_two, list)
    ids = [e["id"] for e in events_one if isinstance(e, dict)]
    assert ids == [e["id"] for e in events_two if isinstance(e, dict)]
    assert ids[1] == "mine"
    done = call(fn, [ok("notify", {"ids": ids})])
    assert isinstance(done, CompleteResponse)
    assert done.output == ids


def test_changed_code_keeps_results_by_id_and_warns() -> None:
    async def new_code(ctx: Context[Any], step: Step) -> list[Any]:
        # The deploy inserted "validate" before "charge" and dropped "audit".
        v = await step.run("validate", lambda: "validated")
        c = await step.run("charge", lambda: "charged-again")
        return [v, c]

    fn = make(new_code)
    recorded = [ok("charge", "charged-once"), ok("audit", "audited")]
    answer = call(fn, recorded)
    assert isinstance(answer, StepResponse)
    assert answer.step.id == "validate"  # the new id executes
    assert {w.code for w in answer.warnings} == {"steps_not_reached"}
    done = call(fn, [*recorded, ok("validate", "validated")])
    assert isinstance(done, CompleteResponse)
    # "charge" kept its own recorded result; nothing was fed to another id.
    assert done.output == ["validated", "charged-once"]
    assert {w.code for w in done.warnings} == {"steps_reordered", "steps_not_reached"}


def test_reordered_sequential_steps_warn_but_keep_results() -> None:
    async def swapped(ctx: Context[Any], step: Step) -> list[Any]:
        b = await step.run("b", lambda: "new-b")
        a = await step.run("a", lambda: "new-a")
        return [a, b]

    done = call(make(swapped), [ok("a", "old-a"), ok("b", "old-b")])
    assert isinstance(done, CompleteResponse)
    assert done.output == ["old-a", "old-b"]
    assert [w.code for w in done.warnings] == ["steps_reordered"]


def test_a_target_the_code_no_longer_reaches_plans_without_executing() -> None:
    seen = Counter()

    async def handler(ctx: Context[Any], step: Step) -> Any:
        return await asyncio.gather(
            step.run("p", seen.tracked("p")), step.run("q", seen.tracked("q"))
        )

    answer = call(make(handler), target="gone")
    assert isinstance(answer, PlannedResponse)
    assert [op.id for op in answer.steps] == ["p", "q"]
    assert [w.code for w in answer.warnings] == ["target_not_found"]
    assert seen.calls == []


def test_sync_handlers_replay_the_same_way() -> None:
    seen = Counter()

    def handler(ctx: Context[Any], step: SyncStep) -> int:
        quote = step.run("price", price, "s")
        extra = step.run("async-price", price_async, "t")
        step.sleep("nap", 1)
        return quote.cents + extra.cents + int(step.run("n", seen.tracked("n", 5)))

    fn = make(handler)
    first = call(fn)
    assert isinstance(first, StepResponse)
    assert first.step.data == {"sku": "s", "cents": 250}
    second = call(fn, [ok("price", first.step.data)])
    assert isinstance(second, StepResponse)
    assert second.step.data == {"sku": "t", "cents": 300}
    nap = call(fn, [ok("price", first.step.data), ok("async-price", second.step.data)])
    assert isinstance(nap, PlannedResponse)
    done = call(
        fn,
        [ok("price", first.step.data), ok("async-price", second.step.data), ok("nap"), ok("n", 5)],
    )
    assert isinstance(done, CompleteResponse)
    assert done.output == 555
    assert seen.calls == []


def test_context_carries_typed_raw_event_and_run() -> None:
    seen: dict[str, Any] = {}

    async def handler(ctx: Context[Any], step: Step) -> None:
        seen.update(name=ctx.event.name, data=ctx.event.data, run=ctx.run_id, attempt=ctx.attempt)

    done = call(make(handler))
    assert isinstance(done, CompleteResponse)
    assert seen == {"name": "test/replay", "data": {"n": 2}, "run": "run-1", "attempt": 0}


def test_logger_is_quiet_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        ctx.logger.info("before a")
        await step.run("a", lambda: 1)
        ctx.logger.info("after a")
        await step.run("b", lambda: 2)

    fn = make(handler)
    with caplog.at_level("INFO", logger="weir.function"):
        call(fn, [ok("a", 1)])
    assert [r.getMessage() for r in caplog.records] == ["after a"]


def test_a_branch_busy_outside_steps_is_picked_up_by_a_later_call() -> None:
    from weir.functions.testing import run_function

    runs: list[str] = []

    async def handler(ctx: Context[Any], step: Step) -> list[str]:
        async def slow_branch() -> str:
            await asyncio.sleep(0.05)  # I/O outside any step
            return str(await step.run("x", lambda: runs.append("x") or "X"))

        return list(
            await asyncio.gather(slow_branch(), step.run("y", lambda: runs.append("y") or "Y"))
        )

    result = run_function(make(handler), EVENT)
    assert result.status == "completed"
    assert result.output == ["X", "Y"]
    assert sorted(runs) == ["x", "y"]
    assert result.executions == {"x": 1, "y": 1}


def test_return_annotations_are_resolved_per_function_shape() -> None:
    from weir.functions.serialization import return_annotation

    def make(kind: type) -> object:
        def produce():  # type: ignore[no-untyped-def]
            return kind()

        # What an annotation evaluated at definition time (no PEP 563) gives.
        produce.__annotations__["return"] = kind
        return produce

    assert return_annotation(make(int)) is int
    assert return_annotation(make(str)) is str, "same code, another return type"
