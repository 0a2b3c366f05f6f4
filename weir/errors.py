"""One error taxonomy for the SDK, the services and the HTTP API.

Every error Weir raises on purpose is a :class:`WeirError` with a stable
``code`` (never reworded once shipped: users match on it), a ``retryable``
flag (may the same call succeed later, unchanged?) and the HTTP status the
gateway answers with. The HTTP form is RFC 9457 problem+json, built by
:meth:`WeirError.to_problem`, so a client sees the same code whichever part
of the platform failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    """The stable codes. Add new ones; never rename or reuse one."""

    INTERNAL = "internal"
    CONFIG_INVALID = "config_invalid"
    TOOL_MISSING = "tool_missing"
    BROKER_UNAVAILABLE = "broker_unavailable"
    BROKER_START_FAILED = "broker_start_failed"
    DEPENDENCY_FETCH_FAILED = "dependency_fetch_failed"


class WeirError(Exception):
    """Base of every deliberate Weir error."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, Any] = dict(detail or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_problem(self) -> dict[str, Any]:
        """The problem+json body the HTTP API returns for this error."""
        body: dict[str, Any] = {
            "type": f"https://weir.dev/errors/{self.code}",
            "title": self.code.replace("_", " "),
            "status": self.http_status,
            "detail": self.message,
            "code": str(self.code),
            "retryable": self.retryable,
        }
        body.update(self.detail)
        return body


class ConfigError(WeirError):
    """A setting has a value Weir cannot use."""

    code = ErrorCode.CONFIG_INVALID


class ToolMissingError(WeirError):
    """A program Weir needs on this machine (java, mvn) is not installed."""

    code = ErrorCode.TOOL_MISSING


class BrokerUnavailableError(WeirError):
    """Kafka did not answer in time; the same call may succeed later."""

    code = ErrorCode.BROKER_UNAVAILABLE
    retryable = True
    http_status = 503


class BrokerStartError(WeirError):
    """The local development broker could not be started."""

    code = ErrorCode.BROKER_START_FAILED


class DependencyFetchError(WeirError):
    """Maven could not fetch the broker's jars."""

    code = ErrorCode.DEPENDENCY_FETCH_FAILED
    retryable = True
