"""Durable functions, app side: define them, replay them, serve them (docs/protocol.md).

This package owns everything the user's app does for a function run:

- defining functions and their triggers (``function``, ``triggers``,
  ``filters``, ``cron``, ``cancellation``, ``timeouts``, ``checkpoint``, ``config``),
  registered with the platform as :class:`FunctionConfig` JSON;
- the step API handlers call (``step``, ``invoke``) and the replay that
  memoizes step results by id (``replay``, ``execute``);
- the wire protocol the workers speak (``protocol``) and the framework-free
  endpoint behind every adapter (``endpoint``), with registration at the
  gateway (``registration``);
- an in-memory executor for users' own tests (``testing``).

Signatures are in :mod:`weir.signing`; the FastAPI/Starlette adapter is
:mod:`weir.fastapi`.
"""

from weir.errors import NonRetriableError, RetryAfterError, StepError
from weir.functions.cancellation import CancelOn
from weir.functions.checkpoint import Checkpoint
from weir.functions.config import CancelConfig, FunctionConfig, TimeoutsConfig, TriggerConfig
from weir.functions.context import Context
from weir.functions.cron import CronSchedule
from weir.functions.cron_tick import CronTick
from weir.functions.failure import FunctionFailed, FunctionFailedData
from weir.functions.function import Function
from weir.functions.step import Step, SyncStep
from weir.functions.timeouts import Timeouts
from weir.functions.triggers import Cron, Trigger

__all__ = [
    "CancelConfig",
    "CancelOn",
    "Checkpoint",
    "Context",
    "Cron",
    "CronSchedule",
    "CronTick",
    "Function",
    "FunctionConfig",
    "FunctionFailed",
    "FunctionFailedData",
    "NonRetriableError",
    "RetryAfterError",
    "Step",
    "StepError",
    "SyncStep",
    "Timeouts",
    "TimeoutsConfig",
    "Trigger",
    "TriggerConfig",
]
