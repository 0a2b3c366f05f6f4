"""Deterministic step ids: the id in the code, plus a counter when it repeats.

Memoization is by id, so ids must come out the same on every replay of the
same code: the first ``step.run("fetch", ...)`` of a run is ``fetch``, the
second ``fetch:1``, the third ``fetch:2``. A counter is only ever appended by
Weir, which is why ids written in code may not end in ``:<digits>``.
"""

from __future__ import annotations

import re

from weir.errors import StepIdInvalidError
from weir.functions.limits import STEP_ID_MAX

_COUNTER_SUFFIX = re.compile(r":\d+$")


def check_step_id(step_id: object) -> str:
    if not isinstance(step_id, str) or not step_id.strip():
        raise StepIdInvalidError(f"a step id is a non-empty string, not {step_id!r}")
    if len(step_id) > STEP_ID_MAX:
        raise StepIdInvalidError(f"step id {step_id[:40]!r}... is over {STEP_ID_MAX} characters")
    if _COUNTER_SUFFIX.search(step_id):
        raise StepIdInvalidError(
            f"step id {step_id!r} ends like a repeat counter (':<digits>'), which Weir appends "
            "itself to repeated ids; rename it"
        )
    return step_id


class StepIds:
    """Hands out ``id``, ``id:1``, ``id:2``... in call order within one replay."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def next(self, step_id: str) -> str:
        check_step_id(step_id)
        count = self._seen.get(step_id, 0)
        self._seen[step_id] = count + 1
        return step_id if count == 0 else f"{step_id}:{count}"
