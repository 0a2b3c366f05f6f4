"""The abandoned cart: remind a customer who added to a cart but did not check out.

The seed's example of what is annoying to build by hand ("on cart added, wait
24 hours for the checkout event, and only run the next step if the user
didn't check out"). Here it is the handler below: the wait is held by the
platform, durable across restarts of every process, and costs nothing while
it waits. SHOP_CART_TIMEOUT (seconds) shortens the 24 hours for a demo or a
test.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from weir import CancelOn, Context, CronTick, Event, Step, Weir

log = logging.getLogger("shop.carts")

CART_TIMEOUT = timedelta(seconds=float(os.environ.get("SHOP_CART_TIMEOUT", 24 * 3600)))


class CartAdded(Event, name="shop/cart.added"):
    cart_id: str
    user_id: str
    email: str


class CheckoutCompleted(Event, name="shop/checkout.completed"):
    cart_id: str


class CartDeleted(Event, name="shop/cart.deleted"):
    cart_id: str


async def send_reminder(email: str, cart_id: str) -> dict[str, str]:
    log.info("reminding %s of cart %s", email, cart_id)
    return {"to": email, "cart_id": cart_id, "status": "sent"}


def register(client: Weir) -> None:
    """Define the cart functions on ``client``."""

    @client.function(
        id="abandoned-cart",
        trigger=CartAdded,
        # A deleted cart needs no reminder: the run stops wherever it is.
        cancel_on=[CancelOn(event=CartDeleted, match="data.cart_id")],
    )
    async def abandoned_cart(ctx: Context[CartAdded], step: Step) -> dict[str, Any]:
        checkout = await step.wait_for_event(
            "wait-for-checkout",
            event=CheckoutCompleted,
            match="data.cart_id",
            timeout=CART_TIMEOUT,
        )
        if checkout is not None:
            return {"reminded": False}
        cart = ctx.event.data
        receipt = await step.run("send-reminder", send_reminder, cart.email, cart.cart_id)
        return {"reminded": True, "receipt": receipt}

    @client.function(id="weekly-digest", cron="TZ=Europe/Paris 0 9 * * 1")
    async def weekly_digest(ctx: Context[CronTick], step: Step) -> dict[str, str]:
        # Every Monday at 09:00 in Paris, summer time or not.
        return {"week_of": ctx.event.data.tick.date().isoformat()}
