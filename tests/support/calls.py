"""One call of a function as a worker makes it, without HTTP: build the request, execute."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from weir.functions.execute import AnyResponse, execute
from weir.functions.function import Function
from weir.functions.limits import Limits
from weir.functions.protocol import CallRequest, RunInfo, StepRecord


def call_once(
    function: Function,
    event: Mapping[str, Any],
    steps: Sequence[StepRecord] = (),
    *,
    target: str | None = None,
    attempt: int = 0,
    run_id: str = "run-1",
    limits: Limits | None = None,
) -> AnyResponse:
    """The answer of one call of ``function`` with these records (and target, attempt)."""
    request = CallRequest(
        function_id=function.id,
        target_step=target,
        event=dict(event),
        run=RunInfo(id=run_id, attempt=attempt),
        steps=list(steps),
    )
    return asyncio.run(execute(function, request, limits=limits or Limits()))
