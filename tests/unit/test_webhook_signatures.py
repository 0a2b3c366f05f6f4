"""GitHub- and Stripe-style HMAC signatures over the raw body."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from services.gateway.webhooks.signatures import (
    github_signature,
    stripe_signature,
    verify_github,
    verify_stripe,
)
from weir.errors import WebhookSignatureInvalidError

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
NOW = 1_700_000_000.0


def test_github_signature_of_a_known_vector() -> None:
    # The published example of GitHub's webhook documentation.
    assert github_signature(SECRET, BODY) == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_github_valid_signature_passes() -> None:
    headers = Headers({"x-hub-signature-256": github_signature(SECRET, BODY)})
    verify_github(SECRET, BODY, headers, NOW, 300)


def test_github_uppercase_hex_passes() -> None:
    header = github_signature(SECRET, BODY).upper().replace("SHA256=", "sha256=")
    verify_github(SECRET, BODY, Headers({"x-hub-signature-256": header}), NOW, 300)


@pytest.mark.parametrize(
    ("headers", "body", "secret", "why"),
    [
        ({}, BODY, SECRET, "missing"),
        ({"x-hub-signature-256": github_signature(SECRET, BODY)}, BODY + b" ", SECRET, "match"),
        ({"x-hub-signature-256": github_signature(SECRET, BODY)}, BODY, b"other", "match"),
        ({"x-hub-signature-256": "sha1=abc"}, BODY, SECRET, "sha256="),
        ({"x-hub-signature-256": "sha256="}, BODY, SECRET, "sha256="),
        ({"x-hub-signature-256": "garbage"}, BODY, SECRET, "sha256="),
    ],
)
def test_github_refusals(headers: dict[str, str], body: bytes, secret: bytes, why: str) -> None:
    with pytest.raises(WebhookSignatureInvalidError, match=why) as caught:
        verify_github(secret, body, Headers(headers), NOW, 300)
    assert caught.value.http_status == 401


def _stripe(header: str) -> Headers:
    return Headers({"stripe-signature": header})


def test_stripe_valid_signature_passes() -> None:
    verify_stripe(SECRET, BODY, _stripe(stripe_signature(SECRET, BODY, int(NOW))), NOW, 300)


def test_stripe_any_of_several_v1_signatures_passes_while_rolling_secrets() -> None:
    old = stripe_signature(b"old", BODY, int(NOW)).split(",")[1]
    new = stripe_signature(SECRET, BODY, int(NOW))
    verify_stripe(SECRET, BODY, _stripe(f"{new},{old}"), NOW, 300)
    verify_stripe(SECRET, BODY, _stripe(f"t={int(NOW)},{old},{new.split(',')[1]}"), NOW, 300)


def test_stripe_ignores_unknown_schemes() -> None:
    header = stripe_signature(SECRET, BODY, int(NOW)) + ",v0=deadbeef"
    verify_stripe(SECRET, BODY, _stripe(header), NOW, 300)


def test_stripe_timestamp_inside_the_tolerance_passes() -> None:
    header = stripe_signature(SECRET, BODY, int(NOW) - 299)
    verify_stripe(SECRET, BODY, _stripe(header), NOW, 300)


@pytest.mark.parametrize(
    ("header", "body", "why"),
    [
        (None, BODY, "missing"),
        (stripe_signature(SECRET, BODY, int(NOW)), BODY + b"x", "match"),
        (stripe_signature(b"wrong", BODY, int(NOW)), BODY, "match"),
        (stripe_signature(SECRET, BODY, int(NOW) - 301), BODY, "tolerance"),
        (stripe_signature(SECRET, BODY, int(NOW) + 301), BODY, "tolerance"),
        # the signed timestamp cannot be swapped for a fresh one
        (
            stripe_signature(SECRET, BODY, int(NOW) - 1000).replace(
                f"t={int(NOW) - 1000}", f"t={int(NOW)}"
            ),
            BODY,
            "match",
        ),
        (f"t={int(NOW)}", BODY, "t=<unix seconds>"),
        ("v1=abc", BODY, "t=<unix seconds>"),
        (f"t=soon,v1={'0' * 64}", BODY, "t=<unix seconds>"),
        (f"t=1,t=2,v1={'0' * 64}", BODY, "t=<unix seconds>"),
    ],
)
def test_stripe_refusals(header: str | None, body: bytes, why: str) -> None:
    headers = Headers({} if header is None else {"stripe-signature": header})
    with pytest.raises(WebhookSignatureInvalidError, match=why):
        verify_stripe(SECRET, body, headers, NOW, 300)
