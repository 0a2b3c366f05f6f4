"""The abandoned-cart example (examples/shop/carts.py) end to end, with a 3 s wait."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def shop(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir = Path(tmp_path_factory.mktemp("shop"))
    with Platform(
        kafka_bootstrap, workdir, app_module="examples.shop", SHOP_CART_TIMEOUT="3"
    ) as running:
        yield running


def cart(cart_id: str) -> dict[str, object]:
    data = {"cart_id": cart_id, "user_id": "u1", "email": "u1@example.com"}
    return {"name": "shop/cart.added", "data": data}


def test_a_cart_checked_out_gets_no_reminder(shop: Platform) -> None:
    [added] = shop.send(cart("c1"))
    shop.wait_status(added, "waiting")
    shop.send({"name": "shop/checkout.completed", "data": {"cart_id": "c1"}})
    [run] = shop.wait_runs([added])[added]
    assert run["output"] == {"reminded": False}, run
    assert [s["id"] for s in run["steps"]] == ["wait-for-checkout"]


def test_an_abandoned_cart_gets_one_reminder_after_the_timeout(shop: Platform) -> None:
    [added] = shop.send(cart("c2"))
    waiting = shop.wait_status(added, "waiting")
    shop.send({"name": "shop/checkout.completed", "data": {"cart_id": "another-cart"}})
    [run] = shop.wait_runs([added])[added]
    assert run["output"]["reminded"] is True, run
    assert run["output"]["receipt"] == {"to": "u1@example.com", "cart_id": "c2", "status": "sent"}
    reminder = next(s for s in run["steps"] if s["id"] == "send-reminder")
    assert reminder["recorded_at"] - waiting["queued_at"] >= 3000


def test_a_deleted_cart_cancels_the_run(shop: Platform) -> None:
    [added] = shop.send(cart("c3"))
    shop.wait_status(added, "waiting")
    shop.send({"name": "shop/cart.deleted", "data": {"cart_id": "c3"}})
    [run] = shop.wait_runs([added])[added]
    assert run["status"] == "cancelled", run
    assert run["error"]["code"] == "cancelled_by_event"
