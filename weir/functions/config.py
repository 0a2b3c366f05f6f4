"""What a function declares, as the JSON the platform registers.

:class:`FunctionConfig` is the whole of a function as far as the router and
the worker are concerned: its id, its triggers (each an event name or pattern
with an optional CEL filter), its retries and the id of its failure handler.
It is sent to the gateway at registration (docs/protocol.md) and carries no
code.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field

from weir.errors import FunctionDefinitionError

FUNCTION_ID_MAX = 128
FUNCTION_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]*")
DEFAULT_RETRIES = 4
MAX_RETRIES = 100

# The event the router emits when a run fails for good; on_failure handlers
# are functions triggered by it (its data shape is in docs/protocol.md).
FUNCTION_FAILED_EVENT = "weir/function.failed"
FAILURE_HANDLER_SUFFIX = "-failure"


class TriggerConfig(BaseModel):
    """One trigger: an event name (``*`` matches within a segment) and an optional CEL filter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str = Field(description="Event name, or a pattern such as 'app/user.*'.")
    filter: str | None = Field(
        default=None, description="CEL expression over `event`; the run starts only when true."
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
