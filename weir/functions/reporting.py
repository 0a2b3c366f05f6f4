"""How an exception becomes the :class:`ErrorInfo` the app reports.

Retry semantics are decided here, once: NonRetriableError and StepError stop
retries; RetryAfterError asks for a time; any other WeirError carries its own
``retryable`` flag; every other exception may succeed on another attempt.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime

from weir.errors import NonRetriableError, RetryAfterError, StepError, WeirError
from weir.functions.limits import STACK_MAX_CHARS
from weir.functions.protocol import ErrorInfo


def error_info(exc: BaseException, *, retryable: bool | None = None) -> ErrorInfo:
    """The report of ``exc``; ``retryable`` overrides the decision when given."""
    retry_after: float | None = None
    if isinstance(exc, RetryAfterError):
        decided = True
        retry_after = exc.seconds_from(datetime.now(UTC))
    elif isinstance(exc, (NonRetriableError, StepError)):
        decided = False
    elif isinstance(exc, WeirError):
        decided = exc.retryable
    else:
        decided = True
    stack = "".join(traceback.format_exception(exc))
    if len(stack) > STACK_MAX_CHARS:
        stack = "...\n" + stack[-STACK_MAX_CHARS:]
    return ErrorInfo(
        name=type(exc).__name__,
        message=exc.message if isinstance(exc, WeirError) else str(exc),
        stack=stack,
        code=str(exc.code) if isinstance(exc, WeirError) else None,
        retryable=decided if retryable is None else retryable,
        retry_after=retry_after,
    )
