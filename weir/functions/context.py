"""What a handler receives besides its steps: the event and where the run stands."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

E = TypeVar("E")

_base_logger = logging.getLogger("weir.function")


@dataclass(frozen=True)
class Context(Generic[E]):
    """``ctx`` of a handler: the typed event, the run id, the attempt, a logger.

    ``attempt`` is zero-based and counts the attempts of the current unit of
    work: the step about to run, or the part of the handler after its last
    step. ``logger`` stays quiet while the handler replays steps it already
    has, so each line is written once per run rather than once per call.
    """

    event: E
    run_id: str
    function_id: str
    attempt: int
    logger: logging.LoggerAdapter[logging.Logger]


def start_new_unit(ctx: Context[Any]) -> None:
    """The call went on past a step: what runs next is a new unit's first attempt.

    ``ctx`` is frozen for the handler; only the call's driver moves it on.
    """
    object.__setattr__(ctx, "attempt", 0)


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Tags records with the run and drops them while the handler is only replaying."""

    def __init__(self, run_id: str, function_id: str, replaying: Callable[[], bool]) -> None:
        super().__init__(_base_logger, {"run_id": run_id, "function_id": function_id})
        self._replaying = replaying

    def isEnabledFor(self, level: int) -> bool:
        return not self._replaying() and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs
