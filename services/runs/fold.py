"""Folds a run's history records into the run JSON of the API (`GET /v1/runs/{id}`).

Pure and order-tolerant: history arrives from the router and the workers
through one partition per run, but a worker's record can overtake the
router's, so the status only moves forward (queued < running < final).
"""

from __future__ import annotations

from typing import Any

from services.common.records import HistoryRecord

_RANK = {
    "queued": 0,
    "running": 1,
    "sleeping": 1,
    "waiting": 1,
    "completed": 2,
    "failed": 2,
    "cancelled": 2,
}
# A step the platform carries out: the run's status while it is pending, the step's own.
_SUSPENDED = {
    "step.sleeping": ("sleeping", "sleeping"),
    "step.waiting": ("waiting", "waiting"),
    "step.invoking": ("waiting", "invoking"),
}


def new_run(record: HistoryRecord) -> dict[str, Any]:
    return {
        "id": record.run_id,
        "app_id": record.app_id,
        "function_id": record.function_id,
        "event_id": record.event_id,
        "status": "queued",
        "steps": [],
        "output": None,
        "error": None,
        "warnings": [],
        "queued_at": record.ts,
        "ended_at": None,
    }


def _advance(run: dict[str, Any], status: str) -> None:
    if _RANK[status] >= _RANK[run["status"]] and _RANK[run["status"]] < 2:
        run["status"] = status


# Written by the worker, through another producer than the router's records: one
# may land after the router already had the run sleep or wait, so these only
# take a run out of "queued" and never overrule the router's suspension.
_WORKER_KINDS = frozenset({"step.started", "step.retrying"})


def _start(run: dict[str, Any]) -> None:
    if run["status"] == "queued":
        run["status"] = "running"


def _step(run: dict[str, Any], step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = run["steps"]
    for step in steps:
        if step["id"] == step_id:
            return step
    step = {
        "id": step_id,
        "status": "planned",
        "attempts": 0,
        "output": None,
        "error": None,
        "recorded_at": None,
    }
    steps.append(step)
    return step


def apply(run: dict[str, Any] | None, record: HistoryRecord) -> dict[str, Any]:
    """The run after one more history record."""
    run = run if run is not None else new_run(record)
    if run["event_id"] is None and record.event_id:
        run["event_id"] = record.event_id
    kind = record.type
    if kind == "run.queued":
        run["queued_at"] = min(run["queued_at"], record.ts)
    elif kind == "run.started":
        _start(run)
    elif kind == "run.completed":
        _advance(run, "completed")
        run["output"] = record.data
        run["ended_at"] = record.ts
    elif kind in ("run.failed", "run.cancelled"):
        _advance(run, "failed" if kind == "run.failed" else "cancelled")
        run["error"] = record.error.model_dump(mode="json") if record.error else None
        run["ended_at"] = record.ts
    elif kind == "run.warning":
        run["warnings"].extend(w.model_dump(mode="json") for w in record.warnings)
    elif kind in _SUSPENDED and record.step_id is not None:
        run_status, step_status = _SUSPENDED[kind]
        _advance(run, run_status)
        step = _step(run, record.step_id)
        step["status"] = step_status
        step["detail"] = record.data
    elif record.step_id is not None:
        if kind in _WORKER_KINDS:
            _start(run)
        else:
            _advance(run, "running")
        step = _step(run, record.step_id)
        if record.attempt is not None:
            step["attempts"] = max(step["attempts"], record.attempt)
        if kind == "step.completed":
            step["status"] = "completed"
            step["output"] = record.data
            step["recorded_at"] = record.ts
            step["attempts"] = max(step["attempts"], 1)
        elif kind == "step.failed":
            step["status"] = "failed"
            step["recorded_at"] = record.ts
            step["error"] = record.error.model_dump(mode="json") if record.error else None
        elif kind == "step.retrying" and step["status"] not in ("completed", "failed"):
            step["status"] = "retrying"
            step["error"] = record.error.model_dump(mode="json") if record.error else None
        elif kind == "step.started" and step["status"] == "planned":
            step["status"] = "running"
    return run
