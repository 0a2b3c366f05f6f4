"""Weir: event-driven durable functions for Python, native to Kafka."""

from weir.client import Weir
from weir.errors import ErrorCode, NonRetriableError, RetryAfterError, StepError, WeirError
from weir.events import Event, RawEvent
from weir.functions import (
    CancelOn,
    Checkpoint,
    Context,
    Cron,
    CronTick,
    Step,
    SyncStep,
    Timeouts,
    Trigger,
)

__version__ = "0.1.0"
__all__ = [
    "CancelOn",
    "Checkpoint",
    "Context",
    "Cron",
    "CronTick",
    "ErrorCode",
    "Event",
    "NonRetriableError",
    "RawEvent",
    "RetryAfterError",
    "Step",
    "StepError",
    "SyncStep",
    "Timeouts",
    "Trigger",
    "Weir",
    "WeirError",
    "__version__",
]
