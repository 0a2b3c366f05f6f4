"""Folding run history into the run API's JSON."""

from __future__ import annotations

from typing import Any

from services.common.records import HistoryRecord
from services.runs.store import RunView
from weir.functions.protocol import ErrorInfo


def _rec(kind: str, **fields: Any) -> HistoryRecord:
    base: dict[str, Any] = {"run_id": "r1", "app_id": "shop", "function_id": "f", "event_id": "e1"}
    return HistoryRecord.model_validate({"type": kind, **base, **fields})


def test_a_run_from_queued_to_completed() -> None:
    view = RunView()
    for record in [
        _rec("run.queued", ts=1),
        _rec("run.started", ts=2),
        _rec("step.retrying", step_id="a", attempt=1, error=ErrorInfo(name="E", message="x")),
        _rec("step.completed", step_id="a", attempt=2, data={"v": 1}),
        _rec("step.completed", step_id="b", data=None),
        _rec("run.completed", data={"ok": True}, ts=9),
    ]:
        view.add(record)
    run = view.run("r1")
    assert run is not None
    assert run["status"] == "completed"
    assert run["output"] == {"ok": True}
    assert run["event_id"] == "e1"
    assert run["ended_at"] == 9
    a, b = run["steps"]
    assert (a["id"], a["status"], a["attempts"], a["output"]) == ("a", "completed", 2, {"v": 1})
    assert (b["id"], b["status"], b["attempts"]) == ("b", "completed", 1)
    assert [r["id"] for r in view.runs_of_event("e1")] == ["r1"]


def test_status_never_moves_back() -> None:
    view = RunView()
    view.add(_rec("run.queued"))
    view.add(_rec("run.completed", data=1))
    view.add(_rec("run.started"))  # a worker's record overtaken by the router's
    run = view.run("r1")
    assert run is not None
    assert run["status"] == "completed"


def test_a_late_worker_record_does_not_wake_a_waiting_run() -> None:
    view = RunView()
    view.add(_rec("run.queued"))
    view.add(_rec("step.waiting", step_id="w", data={"event": "a/b"}))
    # The worker's records go through another producer and may land later.
    view.add(_rec("run.started"))
    view.add(_rec("step.started", step_id="w"))
    run = view.run("r1")
    assert run is not None
    assert run["status"] == "waiting"
    view.add(_rec("step.completed", step_id="w", data=None))  # the router resumed it
    assert view.run("r1")["status"] == "running"  # type: ignore[index]


def test_failed_step_and_run_keep_their_errors() -> None:
    view = RunView()
    error = ErrorInfo(name="ValueError", message="bad", retryable=False)
    view.add(_rec("step.failed", step_id="s", attempt=5, error=error))
    view.add(_rec("run.failed", error=error))
    run = view.run("r1")
    assert run is not None
    assert run["status"] == "failed"
    assert run["error"]["message"] == "bad"
    assert run["steps"][0]["status"] == "failed"
    assert run["steps"][0]["attempts"] == 5


def test_the_view_is_bounded_by_forgetting_finished_runs() -> None:
    view = RunView(max_runs=2)
    for i in range(3):
        view.add(HistoryRecord(type="run.completed", run_id=f"r{i}", app_id="a", function_id="f"))
    view.add(HistoryRecord(type="run.queued", run_id="live", app_id="a", function_id="f"))
    assert view.run("live") is not None
    assert sum(view.run(f"r{i}") is not None for i in range(3)) == 1


def test_unknown_run_is_none() -> None:
    assert RunView().run("nope") is None


def test_runs_still_going_are_kept_past_the_bound_and_finished_ones_go_first() -> None:
    view = RunView(max_runs=3)
    for i in range(5):
        view.add(HistoryRecord(type="run.queued", run_id=f"live{i}", app_id="a", function_id="f"))
    assert all(view.run(f"live{i}") is not None for i in range(5)), "never forget a live run"
    view.add(HistoryRecord(type="run.completed", run_id="live0", app_id="a", function_id="f"))
    view.add(HistoryRecord(type="run.queued", run_id="new", app_id="a", function_id="f"))
    assert view.run("live0") is None, "the finished run makes room"
    assert view.run("new") is not None
