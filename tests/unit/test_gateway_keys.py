"""Event keys: configured secrets, dev mode's open door, and nothing else."""

from __future__ import annotations

import pytest

from services.gateway.keys import EventKeys
from weir.errors import EventKeyInvalidError


def test_configured_keys_are_accepted_and_others_refused() -> None:
    keys = EventKeys.parse(" k1 , k2,", dev=False)
    keys.check("k1")
    keys.check("k2")
    for wrong in ("k3", "", "k1 ", "K1", "k"):
        with pytest.raises(EventKeyInvalidError) as caught:
            keys.check(wrong)
        assert caught.value.http_status == 401


def test_dev_mode_without_keys_accepts_any_key() -> None:
    keys = EventKeys.parse("", dev=True)
    keys.check("dev")
    keys.check("anything")


def test_dev_mode_with_keys_still_checks_them() -> None:
    keys = EventKeys.parse("secret", dev=True)
    keys.check("secret")
    with pytest.raises(EventKeyInvalidError):
        keys.check("dev")


def test_no_keys_outside_dev_mode_refuses_everything() -> None:
    with pytest.raises(EventKeyInvalidError):
        EventKeys.parse("", dev=False).check("dev")
