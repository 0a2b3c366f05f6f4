"""What a function declares, as the JSON the platform registers.

:class:`FunctionConfig` is the whole of a function as far as the router and
the worker are concerned: its id, its triggers (each an event name or pattern
with an optional CEL filter, or a cron schedule), its retries, the id of its
failure handler, the events that cancel its runs and its time limits. It is
sent to the gateway at registration (docs/protocol.md) and carries no code.

The models check themselves (a registration read back by the router is held
to the same rules as one made by the SDK); the SDK checks the same things
earlier, at definition time, with the error codes of weir/errors.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from weir.errors import FunctionDefinitionError, WeirError
from weir.functions.cron import CronSchedule
from weir.functions.filters import EventFilter

FUNCTION_ID_MAX = 128
FUNCTION_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]*")
DEFAULT_RETRIES = 4
MAX_RETRIES = 100

# The event the router emits when a run fails for good; on_failure handlers
# are functions triggered by it (its data shape is in docs/protocol.md).
FUNCTION_FAILED_EVENT = "weir/function.failed"
FAILURE_HANDLER_SUFFIX = "-failure"
# The events the router starts runs with directly (docs/protocol.md): a tick
# of a cron trigger, and a run of a function that has no plain event name to
# be invoked with.
CRON_EVENT = "weir/cron"
INVOKED_EVENT = "weir/function.invoked"
# The variables of a cancel_on `if` expression (and of a wait's): the run's
# trigger event and the incoming event.
MATCH_VARIABLES = ("event", "async")


def _checked(check: Callable[[str], object], value: str) -> None:
    """Run a definition-time check inside a validator: its message becomes a ValueError."""
    try:
        check(value)
    except WeirError as exc:
        raise ValueError(exc.message) from None


class TriggerConfig(BaseModel):
    """One trigger: an event name or pattern with an optional CEL filter, or a cron schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str | None = Field(
        default=None, description="Event name, or a pattern such as 'app/user.*'."
    )
    filter: str | None = Field(
        default=None, description="CEL expression over `event`; the run starts only when true."
    )
    cron: str | None = Field(
        default=None,
        description="Cron schedule, e.g. 'TZ=Europe/Paris 0 9 * * 1' (zone optional, UTC).",
    )

    @model_validator(mode="after")
    def _event_or_cron(self) -> TriggerConfig:
        if (self.event is None) == (self.cron is None):
            raise ValueError("a trigger has exactly one of event and cron")
        if self.cron is not None:
            if self.filter is not None:
                raise ValueError("a cron trigger has no filter")
            _checked(CronSchedule.parse, self.cron)
        return self


class CancelConfig(BaseModel):
    """An event that cancels a run between steps (``cancel_on``)."""

    # `if` is a Python keyword: the field is if_, its JSON name "if"; both are accepted.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=True,
    )

    event: str = Field(min_length=1, description="Event name (no wildcard).")
    match: str | None = Field(
        default=None,
        description="Dotted path, e.g. 'data.cart_id': equal in the trigger and the event.",
    )
    if_: str | None = Field(
        default=None, alias="if", description="CEL over `event` (trigger) and `async` (incoming)."
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds after the run starts; None: the run's lifetime.",
    )

    @model_validator(mode="after")
    def _usable(self) -> CancelConfig:
        if "*" in self.event:
            raise ValueError(f"cancel_on event {self.event!r} is a pattern; name one event")
        if self.match is None and self.if_ is None:
            raise ValueError(f"cancel_on {self.event!r} needs match or if")
        if self.if_ is not None:
            _checked(compile_match_expression, self.if_)
        return self


class TimeoutsConfig(BaseModel):
    """Limits on a run's time, each counted from when its event was queued for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds until the first call starts, else cancelled.",
    )
    finish: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds until the run ends, else cancelled.",
    )


class FunctionConfig(BaseModel):
    """A function as registered with the platform: serializable, no code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Stable id, unique within the app; names the function's topic.")
    name: str = Field(description="Human name shown in the run history.")
    triggers: list[TriggerConfig] = Field(min_length=1)
    retries: int = Field(
        default=DEFAULT_RETRIES,
        ge=0,
        le=MAX_RETRIES,
        description="Retries per step (and per final part) after the first attempt.",
    )
    on_failure: str | None = Field(
        default=None, description="Id of the function run with weir/function.failed."
    )
    failure_handler_for: str | None = Field(
        default=None, description="Set on an on_failure function: the id it handles."
    )
    cancel_on: list[CancelConfig] = Field(
        default_factory=list, description="Events that cancel a run of this function."
    )
    timeouts: TimeoutsConfig | None = Field(
        default=None, description="Limits on the time to start and to finish a run."
    )

    def invoked_event_name(self) -> str:
        """The event name a run started by ``step.invoke`` carries (docs/protocol.md)."""
        for trigger in self.triggers:
            if trigger.event is not None and "*" not in trigger.event:
                return trigger.event
        return INVOKED_EVENT


def compile_match_expression(expression: str) -> EventFilter:
    """A cancel_on or wait ``if`` expression, compiled (FilterInvalidError if it is not CEL)."""
    return EventFilter(expression, variables=MATCH_VARIABLES)


def slugify(name: str) -> str:
    """A function id from a human name: ``"Send welcome email"`` -> ``"send-welcome-email"``."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if not slug:
        raise FunctionDefinitionError(
            f"cannot derive a function id from the name {name!r}: give one with id=..."
        )
    return slug[:FUNCTION_ID_MAX].rstrip("-")


def check_function_id(function_id: object) -> str:
    """``function_id`` if valid, else :class:`FunctionDefinitionError`."""
    if (
        not isinstance(function_id, str)
        or len(function_id) > FUNCTION_ID_MAX
        or FUNCTION_ID_PATTERN.fullmatch(function_id) is None
    ):
        raise FunctionDefinitionError(
            f"invalid function id {function_id!r}: 1-{FUNCTION_ID_MAX} characters, lower-case "
            "letters, digits and _ . -, starting with a letter or digit (e.g. 'abandoned-cart')",
            detail={"function_id": str(function_id)},
        )
    return function_id


def check_retries(retries: object) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise FunctionDefinitionError(
            f"retries must be an integer from 0 to {MAX_RETRIES}, not {retries!r}"
        )
    return retries
