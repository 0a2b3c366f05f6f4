"""One error taxonomy for the SDK, the services and the HTTP API.

Every error Weir raises on purpose is a :class:`WeirError` with a stable
``code`` (never reworded once shipped: users match on it), a ``retryable``
flag (may the same call succeed later, unchanged?) and the HTTP status the
gateway answers with. The HTTP form is RFC 9457 problem+json, built by
:meth:`WeirError.to_problem`, so a client sees the same code whichever part
of the platform failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    """The stable codes. Add new ones; never rename or reuse one."""

    INTERNAL = "internal"
    CONFIG_INVALID = "config_invalid"
    TOOL_MISSING = "tool_missing"
    BROKER_UNAVAILABLE = "broker_unavailable"
    BROKER_START_FAILED = "broker_start_failed"
    DEPENDENCY_FETCH_FAILED = "dependency_fetch_failed"
    REGISTRY_NOT_FOUND = "registry_not_found"
    REGISTRY_REQUEST_INVALID = "registry_request_invalid"
    REGISTRY_STORE_FAILED = "registry_store_failed"
    SCHEMA_INVALID = "schema_invalid"
    SCHEMA_INCOMPATIBLE = "schema_incompatible"
    REQUEST_MALFORMED = "request_malformed"
    EVENT_KEY_INVALID = "event_key_invalid"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    EVENT_INVALID = "event_invalid"
    WEBHOOK_SOURCE_UNKNOWN = "webhook_source_unknown"
    WEBHOOK_SIGNATURE_INVALID = "webhook_signature_invalid"
    WEBHOOK_UNMAPPABLE = "webhook_unmappable"
    ROUTE_NOT_FOUND = "route_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    EVENT_SCHEMA_UNKNOWN = "event_schema_unknown"
    EVENT_MODEL_INVALID = "event_model_invalid"
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    GATEWAY_UNAVAILABLE = "gateway_unavailable"
    SEND_FAILED = "send_failed"
    # durable functions: definition, steps, limits, the app endpoint (docs/protocol.md)
    FUNCTION_INVALID = "function_invalid"
    TRIGGER_INVALID = "trigger_invalid"
    FILTER_INVALID = "filter_invalid"
    STEP_ID_INVALID = "step_id_invalid"
    STEP_OPTIONS_INVALID = "step_options_invalid"
    STEP_FAILED = "step_failed"
    STEP_NESTED = "step_nested"
    STEP_OUTPUT_INVALID = "step_output_invalid"
    STEP_OUTPUT_TOO_LARGE = "step_output_too_large"
    RUN_STATE_TOO_LARGE = "run_state_too_large"
    RUN_TOO_MANY_STEPS = "run_too_many_steps"
    NON_RETRIABLE = "non_retriable"
    RETRY_AFTER = "retry_after"
    FUNCTION_NOT_FOUND = "function_not_found"
    RUN_NOT_FOUND = "run_not_found"
    RUN_ENDED = "run_ended"
    REGISTRATION_INVALID = "registration_invalid"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_EXPIRED = "signature_expired"
    REGISTRATION_FAILED = "registration_failed"
    # time and coordination: cancel_on, timeouts, step.invoke (docs/protocol.md)
    CANCEL_ON_INVALID = "cancel_on_invalid"
    TIMEOUTS_INVALID = "timeouts_invalid"
    CHECKPOINT_INVALID = "checkpoint_invalid"
    INVOKE_FAILED = "invoke_failed"
    INVOKE_TIMEOUT = "invoke_timeout"
    # why a run was cancelled (the run's error.code; docs/architecture.md)
    RUN_CANCELLED = "run_cancelled"
    CANCELLED_BY_EVENT = "cancelled_by_event"
    FUNCTION_TIMEOUT = "function_timeout"
    FUNCTION_START_TIMEOUT = "function_start_timeout"
    # the worker calling the app (services/worker, docs/worker.md)
    APP_UNREACHABLE = "app_unreachable"
    APP_TIMEOUT = "app_timeout"
    APP_BAD_RESPONSE = "app_bad_response"
    APP_SIGNATURE_INVALID = "app_signature_invalid"
    APP_URL_FORBIDDEN = "app_url_forbidden"
    TASK_INVALID = "task_invalid"


class WeirError(Exception):
    """Base of every deliberate Weir error."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, Any] = dict(detail or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_problem(self) -> dict[str, Any]:
        """The problem+json body the HTTP API returns for this error."""
        body: dict[str, Any] = {
            "type": f"https://weir.dev/errors/{self.code}",
            "title": self.code.replace("_", " "),
            "status": self.http_status,
            "detail": self.message,
            "code": str(self.code),
            "retryable": self.retryable,
        }
        body.update(self.detail)
        return body


class ConfigError(WeirError):
    """A setting has a value Weir cannot use."""

    code = ErrorCode.CONFIG_INVALID


class ToolMissingError(WeirError):
    """A program Weir needs on this machine (java, mvn) is not installed."""

    code = ErrorCode.TOOL_MISSING


class BrokerUnavailableError(WeirError):
    """Kafka did not answer in time; the same call may succeed later."""

    code = ErrorCode.BROKER_UNAVAILABLE
    retryable = True
    http_status = 503


class BrokerStartError(WeirError):
    """The local development broker could not be started."""

    code = ErrorCode.BROKER_START_FAILED


class DependencyFetchError(WeirError):
    """Maven could not fetch the broker's jars."""

    code = ErrorCode.DEPENDENCY_FETCH_FAILED
    retryable = True


class RegistryError(WeirError):
    """The schema registry refused a request.

    ``error_code`` is the Confluent Schema Registry number (40401, 42201, ...)
    that Confluent-compatible clients match on; its first three digits are the
    HTTP status (409 stands alone), which :attr:`status` gives.
    """

    code = ErrorCode.REGISTRY_REQUEST_INVALID
    http_status = 422

    def __init__(
        self, message: str, *, error_code: int, detail: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.error_code = error_code

    @property
    def status(self) -> int:
        """The HTTP status of this error: 40401 -> 404, 409 -> 409, 50001 -> 500."""
        return self.error_code // 100 if self.error_code >= 10000 else self.error_code

    def to_confluent(self) -> dict[str, Any]:
        """The body Confluent's registry answers with: ``{"error_code", "message"}``."""
        return {"error_code": self.error_code, "message": self.message}


class RegistryNotFoundError(RegistryError):
    """No such subject, version or schema id (or it was soft-deleted)."""

    code = ErrorCode.REGISTRY_NOT_FOUND
    http_status = 404


class SchemaInvalidError(RegistryError):
    """The schema does not parse, has a bad default, or has an unsupported type."""

    code = ErrorCode.SCHEMA_INVALID


class SchemaIncompatibleError(RegistryError):
    """The schema breaks the subject's compatibility level."""

    code = ErrorCode.SCHEMA_INCOMPATIBLE
    http_status = 409


class RegistryStoreError(RegistryError):
    """The registry's Kafka log did not take or replay a write in time."""

    code = ErrorCode.REGISTRY_STORE_FAILED
    retryable = True
    http_status = 500


class RequestMalformedError(WeirError):
    """The HTTP request body is not JSON, or not the shape the endpoint takes."""

    code = ErrorCode.REQUEST_MALFORMED
    http_status = 400


class EventKeyInvalidError(WeirError):
    """The event key in the URL is not one of the configured keys."""

    code = ErrorCode.EVENT_KEY_INVALID
    http_status = 401


class PayloadTooLargeError(WeirError):
    """The request body or its number of events is over the configured limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE
    http_status = 413


class EventInvalidError(WeirError):
    """An event does not match its envelope or its registered schema.

    ``path`` names the offending field from the request body's root, e.g.
    ``[3].data.items[0].price`` for the fourth event of an array.
    """

    code = ErrorCode.EVENT_INVALID
    http_status = 422

    def __init__(self, message: str, *, path: str, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, detail={"path": path, **(detail or {})})
        self.path = path


class WebhookSourceUnknownError(WeirError):
    """No webhook source of that name is configured."""

    code = ErrorCode.WEBHOOK_SOURCE_UNKNOWN
    http_status = 404


class WebhookSignatureInvalidError(WeirError):
    """A webhook's signature header is missing, malformed, stale or does not match."""

    code = ErrorCode.WEBHOOK_SIGNATURE_INVALID
    http_status = 401


class EventSchemaUnknownError(WeirError):
    """No schema is registered for the event's name and the schema policy is ``strict``."""

    code = ErrorCode.EVENT_SCHEMA_UNKNOWN
    http_status = 422


class EventModelError(WeirError):
    """An Event class declares something that has no Avro form (raised when the class is made)."""

    code = ErrorCode.EVENT_MODEL_INVALID


class RegistryUnavailableError(WeirError):
    """The schema registry did not answer (or answered 5xx); the same call may succeed later."""

    code = ErrorCode.REGISTRY_UNAVAILABLE
    retryable = True
    http_status = 503


class GatewayUnavailableError(WeirError):
    """The HTTP gateway did not answer (or answered 5xx without a problem body)."""

    code = ErrorCode.GATEWAY_UNAVAILABLE
    retryable = True
    http_status = 503


class SendFailedError(WeirError):
    """Kafka refused the events for a reason that retrying will not fix (e.g. authorization)."""

    code = ErrorCode.SEND_FAILED
    http_status = 502


class WebhookUnmappableError(WeirError):
    """A webhook request lacks a header or body field its source's event name needs."""

    code = ErrorCode.WEBHOOK_UNMAPPABLE
    http_status = 422


class RouteNotFoundError(WeirError):
    """No HTTP endpoint at that path."""

    code = ErrorCode.ROUTE_NOT_FOUND
    http_status = 404


class MethodNotAllowedError(WeirError):
    """The HTTP endpoint exists but does not take that method."""

    code = ErrorCode.METHOD_NOT_ALLOWED
    http_status = 405


# -- Durable functions (weir/functions, docs/protocol.md) ------------------------


class FunctionDefinitionError(WeirError):
    """A function is declared wrongly (bad id, retries, handler or on_failure); raised at import."""

    code = ErrorCode.FUNCTION_INVALID


class TriggerInvalidError(FunctionDefinitionError):
    """A trigger is not an event name, a wildcard pattern or an Event class."""

    code = ErrorCode.TRIGGER_INVALID


class FilterInvalidError(FunctionDefinitionError):
    """A trigger's filter is not a valid CEL expression over ``event``."""

    code = ErrorCode.FILTER_INVALID


class CancelOnInvalidError(FunctionDefinitionError):
    """A ``cancel_on`` entry is unusable: no event name, neither match nor if_, a bad timeout."""

    code = ErrorCode.CANCEL_ON_INVALID


class TimeoutsInvalidError(FunctionDefinitionError):
    """A function's ``timeouts`` are not positive durations."""

    code = ErrorCode.TIMEOUTS_INVALID


class CheckpointInvalidError(FunctionDefinitionError):
    """A function's ``checkpoint`` is not a usable Checkpoint."""

    code = ErrorCode.CHECKPOINT_INVALID


class InvokeFailedError(WeirError):
    """A function run by ``step.invoke`` failed; the invoking step records this error."""

    code = ErrorCode.INVOKE_FAILED


class InvokeTimeoutError(WeirError):
    """A function run by ``step.invoke`` did not finish within the step's timeout."""

    code = ErrorCode.INVOKE_TIMEOUT


class StepIdInvalidError(WeirError):
    """A step id is empty, too long, or ends like a repeat counter (``:<digits>``)."""

    code = ErrorCode.STEP_ID_INVALID


class StepOptionsInvalidError(WeirError):
    """A step was given options it cannot use (a negative sleep, a naive datetime, ...)."""

    code = ErrorCode.STEP_OPTIONS_INVALID


class NonRetriableError(WeirError):
    """Raise it to fail the current step (or run) at once, without further attempts."""

    code = ErrorCode.NON_RETRIABLE


class RetryAfterError(WeirError):
    """Raise it to have the current step (or run) tried again at a given time.

    ``delay`` is seconds, a timedelta, or an aware datetime (the time itself).
    """

    code = ErrorCode.RETRY_AFTER
    retryable = True

    def __init__(
        self,
        delay: float | timedelta | datetime,
        message: str | None = None,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(delay, datetime):
            if delay.tzinfo is None:
                raise ValueError("RetryAfterError needs an aware datetime (with a tzinfo)")
            self.retry_at = delay
        else:
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            self.retry_at = datetime.now(UTC) + timedelta(seconds=max(0.0, seconds))
        text = message or f"retry requested at {self.retry_at.isoformat()}"
        super().__init__(text, detail=detail)

    def seconds_from(self, now: datetime) -> float:
        """Seconds from ``now`` until the requested retry (never negative)."""
        return max(0.0, (self.retry_at - now).total_seconds())


class StepError(WeirError):
    """A step failed for good (non-retriable, or out of attempts); raised where it is awaited.

    ``error_name``, ``message`` and ``stack`` are those of the step's last failure.
    """

    code = ErrorCode.STEP_FAILED

    def __init__(
        self,
        message: str,
        *,
        step_id: str,
        error_name: str = "Error",
        stack: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(
            message, detail={"step_id": step_id, "error_name": error_name, "error_code": error_code}
        )
        self.step_id = step_id
        self.error_name = error_name
        self.stack = stack
        self.error_code = error_code


class StepNestingError(WeirError):
    """A step's function called the step API itself; steps cannot nest."""

    code = ErrorCode.STEP_NESTED


class StepOutputInvalidError(WeirError):
    """A step returned a value that has no JSON form."""

    code = ErrorCode.STEP_OUTPUT_INVALID


class StepOutputTooLargeError(WeirError):
    """A step's JSON output is larger than the step output limit."""

    code = ErrorCode.STEP_OUTPUT_TOO_LARGE


class RunStateTooLargeError(WeirError):
    """Recording a step would grow the run's memoized state past the run state limit."""

    code = ErrorCode.RUN_STATE_TOO_LARGE


class TooManyStepsError(WeirError):
    """A run reached more distinct steps than the steps-per-run limit."""

    code = ErrorCode.RUN_TOO_MANY_STEPS


class FunctionNotFoundError(WeirError):
    """The app serves no function with the id a call names."""

    code = ErrorCode.FUNCTION_NOT_FOUND
    http_status = 404


class SignatureError(WeirError):
    """A signed request or response does not verify against any configured signing key."""

    code = ErrorCode.SIGNATURE_INVALID
    http_status = 401


class SignatureMissingError(SignatureError):
    """The signature header is absent (and dev mode is off)."""

    code = ErrorCode.SIGNATURE_MISSING


class SignatureExpiredError(SignatureError):
    """The signature's timestamp is outside the accepted window (stale or in the future)."""

    code = ErrorCode.SIGNATURE_EXPIRED


class RegistrationError(WeirError):
    """The gateway did not take the app's function registrations."""

    code = ErrorCode.REGISTRATION_FAILED
    retryable = True
    http_status = 502


# -- The worker calling the app (services/worker, docs/worker.md) -----------------
# Transport failures: a call that produced no verified answer. Each is retried
# like a retryable app error; once the task's retries are spent the run fails
# with the last one as its error.


class AppUnreachableError(WeirError):
    """The app's endpoint could not be reached: refused, reset, or its host does not resolve."""

    code = ErrorCode.APP_UNREACHABLE
    retryable = True
    http_status = 502


class AppTimeoutError(WeirError):
    """The app did not answer a call within the worker's call timeout."""

    code = ErrorCode.APP_TIMEOUT
    retryable = True
    http_status = 504


class AppBadResponseError(WeirError):
    """The app answered something that is not a call answer (e.g. a proxy's 502 page, a 429)."""

    code = ErrorCode.APP_BAD_RESPONSE
    retryable = True
    http_status = 502


class AppSignatureInvalidError(WeirError):
    """The app's answer is unsigned or its signature does not verify (keys differ, tampering)."""

    code = ErrorCode.APP_SIGNATURE_INVALID
    retryable = True
    http_status = 502


class AppUrlForbiddenError(WeirError):
    """The app's URL resolves to a private, loopback or link-local address, which is refused."""

    code = ErrorCode.APP_URL_FORBIDDEN
    http_status = 403


class TaskInvalidError(WeirError):
    """A record on a task topic is not a task this worker can read (skipped, never retried)."""

    code = ErrorCode.TASK_INVALID
    http_status = 422


class RunNotFoundError(WeirError):
    """No run with this id is known to the run API."""

    code = ErrorCode.RUN_NOT_FOUND
    http_status = 404


class RunEndedError(WeirError):
    """The run has ended already: there is nothing left to cancel."""

    code = ErrorCode.RUN_ENDED
    http_status = 409


class RegistrationInvalidError(WeirError):
    """An app registration sent to the gateway is not a valid registration."""

    code = ErrorCode.REGISTRATION_INVALID
    http_status = 422
