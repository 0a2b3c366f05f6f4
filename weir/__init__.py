"""Weir: event-driven durable functions for Python, native to Kafka."""

from weir.client import Weir
from weir.errors import ErrorCode, WeirError
from weir.events import Event, RawEvent

__version__ = "0.1.0"
__all__ = ["ErrorCode", "Event", "RawEvent", "Weir", "WeirError", "__version__"]
