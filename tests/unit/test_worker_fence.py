"""The worker's fence: recorded tasks are never started again."""

from __future__ import annotations

from services.common.records import Task, TaskDone, dumps
from services.worker import fence as fence_module
from services.worker.consumer import Delivery
from services.worker.fence import Fence
from services.worker.stats import WorkerStats

TOPIC = "weir.fn.app.f"


def _task(run: str, seq: int, offset: int, partition: int = 0) -> Delivery:
    task = Task(
        run_id=run, seq=seq, app_id="app", function_id="f", url="http://a", retries=0, event={}
    )
    return Delivery(TOPIC, partition, offset, run.encode(), dumps(task))


def _done(run: str, seq: int, offset: int, partition: int = 0) -> Delivery:
    return Delivery(TOPIC, partition, offset, run.encode(), dumps(TaskDone(run_id=run, seq=seq)))


def _fence() -> tuple[Fence, list[Delivery], WorkerStats]:
    skipped: list[Delivery] = []
    stats = WorkerStats()
    return Fence(skipped.append, stats), skipped, stats


def _ids(admitted: list[tuple[Delivery, Task | None]]) -> list[tuple[str, int]]:
    return [(t.run_id, t.seq) for _, t in admitted if t is not None]


def test_markers_are_consumed_and_marked_tasks_skipped() -> None:
    fence, skipped, stats = _fence()
    admitted = fence.admit([_task("r", 0, 0), _done("r", 0, 1), _task("r", 0, 2), _task("r", 1, 3)])
    # A batch is sorted as a whole: the marker later in it fences both copies of r/0.
    assert _ids(admitted) == [("r", 1)]
    assert sorted(d.offset for d in skipped) == [0, 1, 2]
    assert stats.tasks_stale == 2


def test_a_backlog_is_held_until_read_to_its_end() -> None:
    fence, _, stats = _fence()
    fence.assigned({(TOPIC, 0): 4})  # offsets 0..3 are backlog
    assert fence.admit([_task("r", 0, 0), _task("s", 0, 1)]) == []
    admitted = fence.admit([_done("r", 0, 2), _task("r", 1, 3)])
    assert _ids(admitted) == [("s", 0), ("r", 1)], "r/0 was answered: only its successor runs"
    assert stats.tasks_stale == 1


def test_a_task_is_recorded_once_its_marker_is_read() -> None:
    fence, _, stats = _fence()
    [(_, task)] = fence.admit([_task("r", 0, 0)])
    assert task is not None
    assert fence.recorded(task) is False
    fence.admit([_done("r", 0, 1)])  # read while the task waited for a call slot
    assert fence.recorded(task) is True
    assert stats.tasks_stale == 1


def test_a_huge_backlog_is_not_held_for_ever() -> None:
    fence, _, _ = _fence()
    fence.assigned({(TOPIC, 0): 10_000})
    batch = [_task(f"r{i}", 0, i) for i in range(fence_module.HOLD_MAX)]
    assert len(fence.admit(batch)) == fence_module.HOLD_MAX


def test_a_stalled_backlog_is_released_when_due() -> None:
    fence, _, _ = _fence()
    fence.assigned({(TOPIC, 0): 100})
    assert fence.admit([_task("r", 0, 0)]) == []
    assert fence.due() == []
    assert fence.catching_up, "the worker looks again while a backlog is held"
    fence._catching_up[(TOPIC, 0)].since -= fence_module.HOLD_SECONDS
    assert _ids(fence.due()) == [("r", 0)]
    assert not fence.catching_up


def test_an_unreadable_record_is_passed_on_for_reporting() -> None:
    fence, _, _ = _fence()
    [(delivery, task)] = fence.admit([Delivery(TOPIC, 0, 0, b"k", b"not json")])
    assert task is None
    assert delivery.offset == 0
