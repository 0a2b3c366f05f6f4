"""The ``weir/function.failed`` event: what an ``on_failure`` handler receives.

When a run fails for good (its error was not retryable, or it ran out of
attempts) the router emits this event; the function's on_failure handler is
registered as a companion function triggered by it and filtered to that
function's id. Its shape is part of docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from weir.functions.config import FAILURE_HANDLER_SUFFIX, FUNCTION_FAILED_EVENT
from weir.functions.protocol import ErrorInfo


class FunctionFailedData(BaseModel):
    """``data`` of a weir/function.failed event."""

    model_config = ConfigDict(frozen=True, extra="allow")

    function_id: str = Field(description="Id of the function whose run failed.")
    run_id: str
    error: ErrorInfo = Field(description="The error that ended the run.")
    event: dict[str, Any] = Field(description="The event that triggered the failed run.")


class FunctionFailed(BaseModel):
    """A weir/function.failed event, as ``ctx.event`` of an on_failure handler."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = FUNCTION_FAILED_EVENT
    id: str = ""
    ts: int = 0
    data: FunctionFailedData
    user: dict[str, Any] | None = None
    v: str | None = None


def failure_function_id(function_id: str) -> str:
    return f"{function_id}{FAILURE_HANDLER_SUFFIX}"


def failure_filter(function_id: str) -> str:
    """The CEL filter that keeps a failure handler to its own function's failures."""
    return f'event.data.function_id == "{function_id}"'
