"""HMAC signatures: body and timestamp, a five-minute window both ways, key rotation."""

from __future__ import annotations

import pytest

from weir.errors import (
    ConfigError,
    ErrorCode,
    SignatureError,
    SignatureExpiredError,
    SignatureMissingError,
)
from weir.signing import Signer, parse_header

KEY = "k" * 40
OLD_KEY = "o" * 40
NOW = 1_800_000_000.0
BODY = b'{"function_id":"f"}'


def signer(key: str = KEY, fallback: str | None = None, now: float = NOW) -> Signer:
    return Signer(key, fallback, clock=lambda: now)


def test_a_signature_verifies() -> None:
    header = signer().sign(BODY)
    assert header.startswith(f"t={int(NOW)},s=")
    signer().verify(BODY, header)


@pytest.mark.parametrize("tampered", [BODY + b" ", BODY.replace(b"f", b"g"), b"", BODY.upper()])
def test_a_tampered_body_is_refused(tampered: bytes) -> None:
    with pytest.raises(SignatureError) as excinfo:
        signer().verify(tampered, signer().sign(BODY))
    assert excinfo.value.code == ErrorCode.SIGNATURE_INVALID


def test_a_changed_timestamp_is_refused() -> None:
    header = signer().sign(BODY)
    moved = header.replace(f"t={int(NOW)}", f"t={int(NOW) + 1}")
    with pytest.raises(SignatureError):
        signer().verify(BODY, moved)


def test_the_wrong_key_is_refused() -> None:
    with pytest.raises(SignatureError) as excinfo:
        signer().verify(BODY, signer("w" * 40).sign(BODY))
    assert excinfo.value.code == ErrorCode.SIGNATURE_INVALID


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureMissingError) as excinfo:
        signer().verify(BODY, header)
    assert excinfo.value.code == ErrorCode.SIGNATURE_MISSING
    assert excinfo.value.http_status == 401


@pytest.mark.parametrize(
    "header",
    ["garbage", "t=abc,s=00", "t=1", "s=00", "t=1,t=2,s=00", "t=1,s=zz", "t=1,s=é0", "t=-5,s=00"],
)
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        signer().verify(BODY, header)


@pytest.mark.parametrize("offset", [-301, 301, -86400, 86400])
def test_stale_and_future_timestamps_are_refused(offset: int) -> None:
    header = signer(now=NOW + offset).sign(BODY)
    with pytest.raises(SignatureExpiredError) as excinfo:
        signer().verify(BODY, header)
    assert excinfo.value.code == ErrorCode.SIGNATURE_EXPIRED


@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_timestamps_inside_the_window_pass(offset: int) -> None:
    signer().verify(BODY, signer(now=NOW + offset).sign(BODY))


def test_the_fallback_key_is_accepted_during_rotation() -> None:
    rotated = signer(KEY, fallback=OLD_KEY)
    rotated.verify(BODY, signer(OLD_KEY).sign(BODY))
    rotated.verify(BODY, signer(KEY).sign(BODY))
    # but signing uses the current key only
    signer(KEY).verify(BODY, rotated.sign(BODY))
    with pytest.raises(SignatureError):
        signer(OLD_KEY).verify(BODY, rotated.sign(BODY))
    # and without the fallback, the old key is refused
    with pytest.raises(SignatureError):
        signer(KEY).verify(BODY, signer(OLD_KEY).sign(BODY))


def test_a_header_may_carry_one_signature_per_key() -> None:
    old_part = signer(OLD_KEY).sign(BODY).split(",")[1]
    both = f"{signer('n' * 40).sign(BODY)},{old_part}"
    assert parse_header(both).signatures[1] == old_part[2:]
    signer(OLD_KEY).verify(BODY, both)


def test_short_keys_are_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Signer("short")
    with pytest.raises(ConfigError):
        Signer(KEY, "short")
