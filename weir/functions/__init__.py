"""Durable functions, app side: define them, replay them, serve them (docs/protocol.md).

This package owns everything the user's app does for a function run:

- defining functions and their triggers (``function``, ``triggers``,
  ``filters``, ``config``), registered with the platform as
  :class:`FunctionConfig` JSON;
- the step API handlers call (``step``) and the replay that memoizes step
  results by id (``replay``, ``execute``);
- the wire protocol the workers speak (``protocol``) and the framework-free
  endpoint behind every adapter (``endpoint``), with registration at the
  gateway (``registration``);
- an in-memory executor for users' own tests (``testing``).

Signatures are in :mod:`weir.signing`; the FastAPI/Starlette adapter is
:mod:`weir.fastapi`.
"""

from weir.errors import NonRetriableError, RetryAfterError, StepError
from weir.functions.config import FunctionConfig, TriggerConfig
from weir.functions.context import Context
from weir.functions.failure import FunctionFailed, FunctionFailedData
from weir.functions.function import Function
from weir.functions.step import Step, SyncStep
from weir.functions.triggers import Trigger

__all__ = [
    "Context",
    "Function",
    "FunctionConfig",
    "FunctionFailed",
    "FunctionFailedData",
    "NonRetriableError",
    "RetryAfterError",
    "Step",
    "StepError",
    "SyncStep",
    "Trigger",
    "TriggerConfig",
]
