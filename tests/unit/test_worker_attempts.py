"""A task's attempts: when the worker retries, how long it waits, what it reports.

The app is played by httpx's in-memory transport and the waits are recorded
rather than slept, so the schedule is checked exactly (a seeded jitter).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx

from services.common.records import HistoryRecord, Task
from services.worker.attempts import RetryPolicy, TaskRunner
from services.worker.calls import AppCaller
from services.worker.url_policy import UrlPolicy
from weir.functions.protocol import CallRequest, CompleteResponse, FailedResponse, StepResponse
from weir.functions.retry import retry_delay

SEED = 7


class Recorder:
    def __init__(self) -> None:
        self.history: list[HistoryRecord] = []
        self.sleeps: list[float] = []

    def emit(self, record: HistoryRecord) -> None:
        self.history.append(record)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def kinds(self) -> list[str]:
        return [record.type for record in self.history]


def run(
    answers: list[dict[str, Any]],
    *,
    retries: int = 4,
    seq: int = 0,
    target_step: str | None = None,
    url: str = "http://app.test/api/weir",
    allow_private: bool = True,
    attempt: int = 0,
    hold: float = float("inf"),
) -> tuple[Any, Recorder, list[CallRequest]]:
    """Run one task against an app answering ``answers`` in turn (the last one repeats)."""
    recorder = Recorder()
    calls: list[CallRequest] = []

    async def app(request: httpx.Request) -> httpx.Response:
        calls.append(CallRequest.model_validate_json(request.content))
        answer = answers[min(len(calls), len(answers)) - 1]
        return httpx.Response(200, content=json.dumps(answer).encode())

    task = Task(
        run_id="run-1",
        seq=seq,
        app_id="shop",
        function_id="fn",
        url=url,
        retries=retries,
        target_step=target_step,
        event={"name": "a/b", "id": "ev-1", "data": {}},
        attempt=attempt,
    )

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(app)) as client:
            runner = TaskRunner(
                AppCaller(client, None, verify=False, timeout=5),
                UrlPolicy(allow_private=allow_private),
                recorder,
                RetryPolicy(base=10.0, cap=3600.0, rng=random.Random(SEED)),
                hold=hold,
                sleep=recorder.sleep,
            )
            return await runner.run(task)

    return asyncio.run(go()), recorder, calls


def failed(retryable: bool = True, retry_after: float | None = None) -> dict[str, Any]:
    error = {"name": "E", "message": "no", "retryable": retryable, "retry_after": retry_after}
    return {"outcome": "failed", "error": error}


def step(data: Any = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"outcome": "step", "step": {"id": "s", "name": "s", "data": data, "error": error}}


def test_a_retryable_failure_is_retried_on_the_jittered_schedule_then_reported() -> None:
    execution, recorder, calls = run([failed()], retries=4)
    outcome = execution.outcome
    assert outcome.attempts == 5
    assert isinstance(outcome.response, FailedResponse)
    assert [call.run.attempt for call in calls] == [0, 1, 2, 3, 4]
    rng = random.Random(SEED)
    expected = [retry_delay(n, rng=rng, base=10.0, cap=3600.0) for n in range(1, 5)]
    assert recorder.sleeps == expected
    for n, delay in enumerate(recorder.sleeps, start=1):
        assert 10 * 2 ** (n - 1) * 0.75 <= delay <= 10 * 2 ** (n - 1) * 1.25
    assert execution.waited_seconds == sum(expected)
    retrying = [r for r in recorder.history if r.type == "step.retrying"]
    assert [r.attempt for r in retrying] == [1, 2, 3, 4]
    assert [r.data for r in retrying] == [{"delay": round(d, 3)} for d in expected]


def test_retry_after_replaces_the_schedule_exactly() -> None:
    execution, recorder, _ = run([failed(retry_after=42.5), {"outcome": "complete"}])
    assert execution.outcome.attempts == 2
    assert isinstance(execution.outcome.response, CompleteResponse)
    assert recorder.sleeps == [42.5]


def test_a_delay_longer_than_the_hold_is_handed_to_the_router() -> None:
    before = int(time.time() * 1000)
    execution, recorder, calls = run([step(error={"name": "E", "message": "x"})], hold=5.0)
    outcome = execution.outcome
    assert len(calls) == 1
    assert recorder.sleeps == []
    assert outcome.retry is not None
    assert outcome.retry.attempt == 1
    delay = retry_delay(1, rng=random.Random(SEED), base=10.0, cap=3600.0)
    assert before + delay * 1000 - 5 <= outcome.retry.at <= time.time() * 1000 + delay * 1000 + 5
    assert outcome.attempts == 1
    assert isinstance(outcome.response, StepResponse)  # the error, for the record
    assert recorder.kinds() == ["run.started", "step.started", "step.retrying"]  # no step.failed


def test_a_delay_within_the_hold_is_waited_out_here() -> None:
    execution, recorder, _ = run([failed(retry_after=1.0), {"outcome": "complete"}], hold=2.0)
    assert execution.outcome.retry is None
    assert recorder.sleeps == [1.0]
    assert isinstance(execution.outcome.response, CompleteResponse)


def test_a_call_written_again_goes_on_counting_its_attempts() -> None:
    execution, recorder, calls = run([failed()], retries=4, attempt=3, seq=5)
    assert [call.run.attempt for call in calls] == [3, 4]
    assert execution.outcome.attempts == 5
    assert execution.outcome.retry is None
    assert isinstance(execution.outcome.response, FailedResponse)
    rng = random.Random(SEED)
    assert recorder.sleeps == [retry_delay(4, rng=rng, base=10.0, cap=3600.0)]


def test_a_non_retryable_failure_is_reported_after_one_call() -> None:
    execution, recorder, calls = run([failed(retryable=False)])
    assert (execution.outcome.attempts, len(calls), recorder.sleeps) == (1, 1, [])


def test_no_retries_means_one_attempt() -> None:
    execution, recorder, calls = run([failed()], retries=0)
    assert (execution.outcome.attempts, len(calls), recorder.sleeps) == (1, 1, [])


def test_a_retryable_step_error_repeats_the_same_call_until_the_step_succeeds() -> None:
    error = {"name": "E", "message": "flaky", "retryable": True}
    execution, recorder, calls = run([step(error=error), step(error=error), step(data=3)])
    response = execution.outcome.response
    assert isinstance(response, StepResponse)
    assert (response.step.data, execution.outcome.attempts) == (3, 3)
    assert len({(c.function_id, c.target_step, tuple(c.steps)) for c in calls}) == 1
    assert [r.step_id for r in recorder.history if r.type == "step.retrying"] == ["s", "s"]
    assert "step.failed" not in recorder.kinds()


def test_a_step_out_of_retries_is_reported_with_its_error_and_marked_failed() -> None:
    error = {"name": "E", "message": "flaky", "retryable": True}
    execution, recorder, _ = run([step(error=error)], retries=2)
    response = execution.outcome.response
    assert isinstance(response, StepResponse)
    assert response.step.error is not None
    assert execution.outcome.attempts == 3
    [failed_record] = [r for r in recorder.history if r.type == "step.failed"]
    assert (failed_record.step_id, failed_record.attempt) == ("s", 2)


def test_history_marks_the_runs_first_task_and_the_targeted_step() -> None:
    _, first, _ = run([step(data=1)], seq=0)
    assert first.kinds() == ["run.started", "step.started"]
    assert first.history[0].event_id == "ev-1"
    _, later, _ = run([step(data=1)], seq=3, target_step="s")
    assert later.kinds() == ["step.started"]
    assert later.history[0].step_id == "s"


def test_a_forbidden_url_is_refused_without_a_call_or_retry() -> None:
    execution, recorder, calls = run(
        [{"outcome": "complete"}], url="http://192.168.0.10/api/weir", allow_private=False
    )
    response = execution.outcome.response
    assert isinstance(response, FailedResponse)
    assert (response.error.code, response.error.retryable) == ("app_url_forbidden", False)
    assert (execution.outcome.attempts, calls, recorder.sleeps) == (1, [], [])


def test_steps_a_call_finished_are_kept_and_never_sent_to_run_again() -> None:
    error = {"name": "E", "message": "flaky", "retryable": True}
    done = [{"id": "a", "name": "a", "data": 1}, {"id": "b", "name": "b", "data": 2}]
    first = {**step(error=error), "done": done}  # a and b finished, then s failed
    execution, recorder, calls = run([failed(), first, step(data=3)])
    outcome = execution.outcome
    # The first call failed; the second finished a and b (its attempt 1), then s failed.
    assert [(d.step.id, d.attempts) for d in outcome.done] == [("a", 2), ("b", 1)]
    # Attempts count afresh for s: its retry is its attempt 1, and a, b are memoized.
    assert [c.run.attempt for c in calls] == [0, 1, 1]
    assert [[s.id for s in c.steps] for c in calls] == [[], [], ["a", "b"]]
    response = outcome.response
    assert isinstance(response, StepResponse)
    assert (response.step.data, response.done, outcome.attempts) == (3, [], 2)
    started = [r.step_id for r in recorder.history if r.type == "step.started"]
    assert started == ["s"]  # a and b are recorded at once: their started would say nothing
