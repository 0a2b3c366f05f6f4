"""HMAC-SHA256 webhook signatures in the two common styles.

``github``
    ``X-Hub-Signature-256: sha256=<hex>``, the HMAC of the raw body.
``stripe``
    ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``, the HMAC of
    ``"<t>.<raw body>"``. Several ``v1`` entries appear while a secret is being
    rolled; any one matching is enough. The timestamp must lie within the
    tolerance of now (either side, for clock skew), which stops replays of an
    old captured request.

Signatures are always checked over the raw bytes as received (never a
re-serialised body) and compared with :func:`hmac.compare_digest`, so the time
a comparison takes does not reveal how many leading characters were right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from weir.errors import WebhookSignatureInvalidError

GITHUB_HEADER = "X-Hub-Signature-256"
STRIPE_HEADER = "Stripe-Signature"

Verifier = Callable[[bytes, bytes, Mapping[str, str], float, float], None]


def _hmac_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _refuse(message: str) -> WebhookSignatureInvalidError:
    return WebhookSignatureInvalidError(message)


def github_signature(secret: bytes, body: bytes) -> str:
    """The header value a GitHub-style sender puts on ``body``."""
    return "sha256=" + _hmac_hex(secret, body)


def stripe_signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value a Stripe-style sender puts on ``body`` at ``timestamp``."""
    return f"t={timestamp},v1=" + _hmac_hex(secret, f"{timestamp}.".encode() + body)


def verify_github(
    secret: bytes, body: bytes, headers: Mapping[str, str], _now: float, _tolerance: float
) -> None:
    header = headers.get(GITHUB_HEADER)
    if not header:
        raise _refuse(f"the {GITHUB_HEADER} header is missing")
    scheme, _, given = header.strip().partition("=")
    if scheme != "sha256" or not given:
        raise _refuse(f"{GITHUB_HEADER} must read sha256=<hex digest>")
    if not hmac.compare_digest(_hmac_hex(secret, body), given.lower()):
        raise _refuse(f"{GITHUB_HEADER} does not match the body and the configured secret")


def verify_stripe(
    secret: bytes, body: bytes, headers: Mapping[str, str], now: float, tolerance: float
) -> None:
    header = headers.get(STRIPE_HEADER)
    if not header:
        raise _refuse(f"the {STRIPE_HEADER} header is missing")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value.lower())
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        raise _refuse(f"{STRIPE_HEADER} must read t=<unix seconds>,v1=<hex digest>")
    expected = _hmac_hex(secret, timestamps[0].encode() + b"." + body)
    # Compare with every candidate (no early exit), then judge.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise _refuse(f"{STRIPE_HEADER} does not match the body and the configured secret")
    age = now - int(timestamps[0])
    if abs(age) > tolerance:
        raise _refuse(
            f"{STRIPE_HEADER} timestamp is {abs(age):.0f}s from now, over the "
            f"{tolerance:.0f}s tolerance (a replayed or delayed request)"
        )


VERIFIERS: dict[str, Verifier] = {"github": verify_github, "stripe": verify_stripe}
