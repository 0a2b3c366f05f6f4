"""Weir: event-driven durable functions for Python, native to Kafka."""

from weir.errors import ErrorCode, WeirError

__version__ = "0.1.0"
__all__ = ["ErrorCode", "WeirError", "__version__"]
