"""The control-flow signal that stops a handler once its call has something to report.

It derives from BaseException, not Exception, so a user's ``except
Exception`` (or a bare ``try/except`` around business logic) cannot swallow
it and carry on as if the step had returned. A handler that catches
BaseException and keeps going changes nothing either: once the replay has
stopped, every further step call raises it again, and the call's answer is
decided by the replay, not by what the handler returns.
"""

from __future__ import annotations


class StepInterrupt(BaseException):
    """Raised at a step to end this call: the step ran, or steps were planned."""

    def __init__(self, reason: str = "step reported") -> None:
        super().__init__(reason)
