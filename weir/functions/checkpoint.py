"""``checkpoint=Checkpoint(...)``: how many fast steps one call may run before it answers.

A call that executed a ``step.run`` step successfully does not have to stop
there. While the steps it ran took less than ``max_seconds`` in all and
were fewer than ``max_steps``, the SDK goes on with the handler's next step in the same
call, exactly as the next call would have, and the answer lists every step
it finished (``done``, docs/protocol.md §5). Their results are recorded
together when the answer reaches the platform: one HTTP call and one trip
through Kafka for a run of fast steps instead of one per step.

The trade is the window in which a finished step is not yet recorded. If
the call dies (the app process is killed, the call times out), every step of
that call runs again, as the one step in flight always did. A step's error
is no such loss: the steps before it are reported with it. ``max_steps=1``
gives every step its own call and checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from weir.errors import CheckpointInvalidError

DEFAULT_MAX_STEPS = 20
# Long enough for a chain of quick steps (a cache read, a row written), short
# enough that a slow step (an API call) is recorded on its own before the next.
DEFAULT_MAX_SECONDS = 0.05


@dataclass(frozen=True)
class Checkpoint:
    """Record steps after at most ``max_steps`` of them, or once their functions have run
    for ``max_seconds`` in all (checked after each step: a step that runs longer is
    the call's last). Time the call spends waiting for the app's event loop does not
    count, so a busy app does not fall back to a call per step."""

    max_steps: int = DEFAULT_MAX_STEPS
    max_seconds: float = DEFAULT_MAX_SECONDS

    def __post_init__(self) -> None:
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int):
            raise CheckpointInvalidError(f"max_steps is a whole number, not {self.max_steps!r}")
        if self.max_steps < 1:
            raise CheckpointInvalidError(f"max_steps must be at least 1, not {self.max_steps}")
        seconds = self.max_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise CheckpointInvalidError(f"max_seconds is a number of seconds, not {seconds!r}")
        if not 0 <= seconds < math.inf:
            raise CheckpointInvalidError(f"max_seconds must be 0 or more and finite, not {seconds}")

    def goes_on(self, steps_done: int, step_seconds: float) -> bool:
        """May a call whose ``steps_done`` steps ran for ``step_seconds`` run another?"""
        return steps_done < self.max_steps and step_seconds < self.max_seconds


# Every step its own call: its result is recorded before the next step starts.
EVERY_STEP = Checkpoint(max_steps=1)


def resolve_checkpoint(checkpoint: object) -> Checkpoint:
    """``checkpoint`` as given (None: the default); CheckpointInvalidError if unusable."""
    if checkpoint is None:
        return Checkpoint()
    if not isinstance(checkpoint, Checkpoint):
        raise CheckpointInvalidError(
            f"checkpoint is a Checkpoint(max_steps=..., max_seconds=...), not {checkpoint!r}"
        )
    return checkpoint
