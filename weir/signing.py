"""HMAC signatures on every call between Weir's workers and the app, both ways.

A signature covers the exact body bytes and a unix timestamp::

    X-Weir-Signature: t=1733328000,s=<hex HMAC-SHA256(key, b"1733328000." + body)>

The timestamp binds the signature to a moment, so a captured request cannot
be replayed later than ``tolerance`` seconds (five minutes by default) nor
signed ahead of time; the check works both ways, so a stale *and* a future
timestamp are refused. Comparison is constant-time. A header may carry more
than one ``s=`` (a sender holding two keys mid-rotation signs with both); the
verifier accepts any one that matches one of its keys: the current key or the
fallback key kept while a rotation rolls out. Signing always uses the current
key. The format is specified in docs/protocol.md.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from weir.errors import (
    ConfigError,
    SignatureError,
    SignatureExpiredError,
    SignatureMissingError,
)
from weir.settings import Settings

SIGNATURE_HEADER = "X-Weir-Signature"
DEFAULT_TOLERANCE = 300.0
MIN_KEY_LENGTH = 32
_HEX = frozenset("0123456789abcdef")


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _key_bytes(key: str, label: str) -> bytes:
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{label} is too short: use at least {MIN_KEY_LENGTH} characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key.encode("utf-8")


@dataclass(frozen=True)
class ParsedSignature:
    """A header taken apart: its timestamp and every signature it carries."""

    timestamp: int
    signatures: tuple[str, ...]


def parse_header(header: str | None) -> ParsedSignature:
    """Parse ``t=<unix>,s=<hex>[,s=<hex>...]``; anything else is a signature error."""
    if header is None or not header.strip():
        raise SignatureMissingError(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {SIGNATURE_HEADER} header")
        if name == "t":
            if not value.isdigit() or timestamp is not None:
                raise SignatureError(f"malformed timestamp in {SIGNATURE_HEADER}")
            timestamp = int(value)
        elif name == "s":
            # Only hex is compared: compare_digest refuses non-ASCII text outright.
            if not value or not set(value.lower()) <= _HEX:
                raise SignatureError(f"malformed signature in {SIGNATURE_HEADER}")
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise SignatureError(f"{SIGNATURE_HEADER} needs both t= and s=")
    return ParsedSignature(timestamp, tuple(signatures))


class Signer:
    """Signs and verifies with a current key and an optional fallback key.

    ``clock`` returns unix seconds; tests pass their own to move time.
    """

    def __init__(
        self,
        key: str,
        fallback: str | None = None,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = _key_bytes(key, "signing_key")
        self._keys = [self._key]
        if fallback:
            self._keys.append(_key_bytes(fallback, "signing_key_fallback"))
        self._tolerance = tolerance
        self._clock = clock

    def sign(self, body: bytes, *, timestamp: int | None = None) -> str:
        """The header value for ``body``, signed now (or at ``timestamp``) with the current key."""
        at = int(self._clock()) if timestamp is None else timestamp
        return f"t={at},s={_digest(self._key, at, body)}"

    def verify(self, body: bytes, header: str | None) -> None:
        """Return if ``header`` signs ``body`` within the window; raise a SignatureError if not."""
        parsed = parse_header(header)
        skew = self._clock() - parsed.timestamp
        if abs(skew) > self._tolerance:
            direction = "stale" if skew > 0 else "in the future"
            raise SignatureExpiredError(
                f"signature timestamp is {direction} by {abs(skew):.0f}s "
                f"(window: {self._tolerance:.0f}s)"
            )
        # Every candidate is compared in full, matching or not, so the time taken
        # does not reveal which key or which signature came close.
        matched = False
        for key in self._keys:
            expected = _digest(key, parsed.timestamp, body)
            for candidate in parsed.signatures:
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise SignatureError("signature does not match the body under any signing key")


def signer_from_settings(
    settings: Settings, clock: Callable[[], float] = time.time
) -> Signer | None:
    """The signer of the configured keys; None when no signing key is set."""
    if settings.signing_key is None:
        return None
    fallback = settings.signing_key_fallback
    return Signer(
        settings.signing_key.get_secret_value(),
        fallback.get_secret_value() if fallback is not None else None,
        tolerance=settings.signature_tolerance,
        clock=clock,
    )
