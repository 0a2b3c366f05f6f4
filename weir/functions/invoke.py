"""``step.invoke``: what the op reports and how its recorded result comes back.

``await step.invoke("score", function=score_lead, data={"lead_id": "l1"})``
asks the router to run another function with an event carrying ``data``,
and records the invoking step with that run's output (or an error coded
``invoke_failed``, ``invoke_timeout`` or ``function_not_found``, which the
step raises as :class:`~weir.errors.StepError`). Everything the SDK can
check is checked here, when the handler reaches the step: the function
reference, the data's JSON form and, when a Function object is given and
its trigger is an Event class, the data against that class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, JsonValue

from weir.errors import EventInvalidError, StepOptionsInvalidError, WeirError
from weir.events.model import Event
from weir.functions.config import FUNCTION_ID_MAX, FUNCTION_ID_PATTERN
from weir.functions.durations import positive_seconds
from weir.functions.events import encode_event
from weir.functions.protocol import InvokeOpts, StepOp
from weir.functions.serialization import NO_ANNOTATION, to_json_value

if TYPE_CHECKING:
    from weir.functions.function import Function

# An app id as it appears in "<app id>/<function id>": it names Kafka topics.
_APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def invoke_op(
    step_id: str,
    name: str,
    function: Function | str,
    data: object,
    timeout: timedelta | float | None,
) -> StepOp:
    """The ``invoke`` op for this call of ``step.invoke`` (StepOptionsInvalidError if unusable)."""
    reference = _reference(function)
    payload = _payload(data, reference)
    if not isinstance(function, str):
        _check_against_trigger(function, payload)
    opts = InvokeOpts(
        function=reference,
        data=payload,
        timeout=positive_seconds(
            timeout, f"invoke {reference!r}: timeout", StepOptionsInvalidError
        ),
    )
    return StepOp(id=step_id, name=name, op="invoke", opts=opts.to_opts())


def invoke_annotation(function: Function | str) -> Any:
    """The type the recorded output comes back as: the target's declared return type, if known.

    Checks the reference too, so a bad one fails on replay as well as on the first call.
    """
    _reference(function)
    return NO_ANNOTATION if isinstance(function, str) else function.output_annotation


def _reference(function: object) -> str:
    from weir.functions.function import Function  # here: function.py imports the step API

    if isinstance(function, Function):
        return function.id
    if not isinstance(function, str):
        raise StepOptionsInvalidError(
            f"invoke takes a Function or a function id ('fn-id' or 'app/fn-id'), not {function!r}"
        )
    app_id, slash, function_id = function.rpartition("/")
    if (
        len(function_id) > FUNCTION_ID_MAX
        or FUNCTION_ID_PATTERN.fullmatch(function_id) is None
        or (slash and _APP_ID.fullmatch(app_id) is None)
    ):
        raise StepOptionsInvalidError(
            f"invoke: {function[:160]!r} is not a function id ('score-lead') or an app and "
            "function id ('crm/score-lead')",
            detail={"function": function[:256]},
        )
    return function


def _payload(data: object, reference: str) -> dict[str, JsonValue]:
    """``data`` as the JSON object the invoked run's event carries."""
    if data is None:
        return {}
    try:
        if isinstance(data, Event):
            value: Any = encode_event(data)["data"]
        elif isinstance(data, BaseModel):
            value = data.model_dump(mode="json")
        else:
            value = to_json_value(data)
    except WeirError as exc:
        raise StepOptionsInvalidError(f"invoke {reference!r}: data: {exc.message}") from None
    if not isinstance(value, Mapping):
        raise StepOptionsInvalidError(
            f"invoke {reference!r}: data is an object (a dict, a Pydantic model or an Event), "
            f"not {type(data).__name__}"
        )
    return cast(dict[str, JsonValue], dict(value))


def _check_against_trigger(function: Function, payload: dict[str, JsonValue]) -> None:
    """Refuse data the target's Event class would refuse, before the run is started for it."""
    event_type = function.event_type_for(function.config.invoked_event_name())
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        return
    try:
        event_type(payload)
    except EventInvalidError as exc:
        raise StepOptionsInvalidError(
            f"invoke {function.id!r}: data does not fit {event_type.__qualname__}: {exc.message}",
            detail={"function": function.id},
        ) from None
