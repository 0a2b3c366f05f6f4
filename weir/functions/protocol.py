"""The wire protocol between Weir's workers and the app: every JSON shape, as models.

Workers build :class:`CallRequest` bodies and read :class:`CallResponse`
answers with these same models; the app side parses and produces them. The
prose specification (headers, status codes, signing, retry semantics) is
docs/protocol.md, which these models follow field for field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, model_validator

from weir.functions.config import FunctionConfig

PROTOCOL_VERSION = 1
SDK_NAME = "weir-python"

# Step operations a handler can reach. "run" executes app code; the others are
# carried out by the platform (sleep: a timer; wait_for_event: a wait in the
# router; send_event: the worker writes the events; invoke: the router runs
# another function) and recorded like a result.
StepOpName = Literal["run", "sleep", "wait_for_event", "send_event", "invoke"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorInfo(_Model):
    """An error as the app reports it, and as a failed step is recorded."""

    name: str = Field(description="Exception class name, e.g. 'ValueError'.")
    message: str
    stack: str | None = Field(default=None, description="Formatted traceback (capped).")
    code: str | None = Field(default=None, description="Stable Weir error code, when it has one.")
    retryable: bool = Field(default=True, description="May another attempt succeed?")
    retry_after: float | None = Field(
        default=None, ge=0, description="Seconds from the response to the requested next attempt."
    )


class StepRecord(_Model):
    """One memoized step: its result (``data``) or its final failure (``error``)."""

    id: str
    data: JsonValue = None
    error: ErrorInfo | None = None


class RunInfo(_Model):
    """The run a call belongs to."""

    id: str = Field(min_length=1, description="Run id, unique across the platform.")
    attempt: int = Field(
        default=0,
        ge=0,
        description="Zero-based attempt of the current unit of work (the step about to run, "
        "or the part after the last step); back to 0 once a step is recorded.",
    )


class CallRequest(_Model):
    """POST body: run this function's handler once against this memoized state."""

    version: int = PROTOCOL_VERSION
    function_id: str = Field(min_length=1)
    target_step: str | None = Field(
        default=None, description="Execute only this planned step (after an 'planned' answer)."
    )
    event: dict[str, Any] = Field(description="The triggering event, as JSON (its envelope).")
    run: RunInfo
    steps: list[StepRecord] = Field(
        default_factory=list, description="Every recorded step, in the order it was recorded."
    )

    @model_validator(mode="after")
    def _unique_step_ids(self) -> CallRequest:
        seen: set[str] = set()
        for record in self.steps:
            if record.id in seen:
                raise ValueError(f"step {record.id!r} is recorded twice")
            seen.add(record.id)
        return self


class StepOp(_Model):
    """A step the handler reached that has no record yet (an 'planned' answer lists them)."""

    id: str = Field(description="Step id with its repeat counter: 'fetch', 'fetch:1', ...")
    name: str = Field(description="The id as written in the code, without the counter.")
    op: StepOpName
    opts: dict[str, JsonValue] = Field(
        default_factory=dict, description="Per-op options; see docs/protocol.md."
    )


class InvokeOpts(_Model):
    """``opts`` of an ``invoke`` op: run this function with this data, record its output."""

    function: str = Field(
        min_length=1, description="'<function id>' (the same app) or '<app id>/<function id>'."
    )
    data: dict[str, JsonValue] = Field(description="`data` of the event the run starts with.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds before the invoking step fails with invoke_timeout; absent: none.",
    )

    def to_opts(self) -> dict[str, JsonValue]:
        """The op's ``opts`` (``timeout`` left out when there is none)."""
        return cast(dict[str, JsonValue], self.model_dump(mode="json", exclude_none=True))


class StepResult(_Model):
    """A step this call executed: its output, or the error of this attempt."""

    id: str
    name: str
    op: Literal["run"] = "run"
    data: JsonValue = None
    error: ErrorInfo | None = None


class RunWarning(_Model):
    """Something the run history should show, e.g. code that changed under a run."""

    code: Literal["steps_reordered", "steps_not_reached", "target_not_found"]
    message: str


class DoneStep(_Model):
    """A step a call executed and finished before going on to the next (its output)."""

    id: str
    name: str
    data: JsonValue = None


def _done_field() -> Any:
    return Field(
        default_factory=list,
        description="Steps this call executed and finished before the rest of this answer, "
        "in order (a checkpoint of several steps); each is recorded as it is.",
    )


class CompleteResponse(_Model):
    outcome: Literal["complete"] = "complete"
    output: JsonValue = None
    done: list[DoneStep] = _done_field()
    warnings: list[RunWarning] = Field(default_factory=list)


class StepResponse(_Model):
    outcome: Literal["step"] = "step"
    step: StepResult
    done: list[DoneStep] = _done_field()
    warnings: list[RunWarning] = Field(default_factory=list)


class PlannedResponse(_Model):
    outcome: Literal["planned"] = "planned"
    steps: list[StepOp] = Field(min_length=1)
    done: list[DoneStep] = _done_field()
    warnings: list[RunWarning] = Field(default_factory=list)


class FailedResponse(_Model):
    outcome: Literal["failed"] = "failed"
    error: ErrorInfo
    done: list[DoneStep] = _done_field()
    warnings: list[RunWarning] = Field(default_factory=list)


CallResponse = Annotated[
    CompleteResponse | StepResponse | PlannedResponse | FailedResponse,
    Field(discriminator="outcome"),
]
call_response_adapter: TypeAdapter[CallResponse] = TypeAdapter(CallResponse)

# HTTP status of each outcome (the body's "outcome" is what a worker reads).
OUTCOME_STATUS = {"complete": 200, "step": 206, "planned": 206, "failed": 500}


class SdkInfo(_Model):
    name: str = SDK_NAME
    version: str
    protocol: int = PROTOCOL_VERSION
    framework: str | None = None


class AppRegistration(_Model):
    """PUT {gateway_url}/v1/apps/{app_id}: the app's functions and where to call them."""

    app_id: str
    url: str = Field(description="Where workers POST calls for this app's functions.")
    functions: list[FunctionConfig]
    sdk: SdkInfo


class AppDescription(_Model):
    """GET on the endpoint: what this app serves (no secrets)."""

    app_id: str
    sdk: SdkInfo
    mode: Literal["dev", "signed"]
    signing_key: bool = Field(description="Whether a signing key is configured.")
    signing_key_fallback: bool
    functions: list[FunctionConfig]


def parse_call_response(
    body: bytes | str,
) -> CompleteResponse | StepResponse | PlannedResponse | FailedResponse:
    """A worker's helper: the typed answer in a response body (pydantic error if it is none)."""
    return call_response_adapter.validate_json(body)
