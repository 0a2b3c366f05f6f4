"""Weir: event-driven durable functions for Python, native to Kafka."""

from weir.client import Weir
from weir.errors import ErrorCode, NonRetriableError, RetryAfterError, StepError, WeirError
from weir.events import Event, RawEvent
from weir.functions import Context, Step, SyncStep, Trigger

__version__ = "0.1.0"
__all__ = [
    "Context",
    "ErrorCode",
    "Event",
    "NonRetriableError",
    "RawEvent",
    "RetryAfterError",
    "Step",
    "StepError",
    "SyncStep",
    "Trigger",
    "Weir",
    "WeirError",
    "__version__",
]
