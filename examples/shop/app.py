"""A FastAPI app that serves its Weir functions on /api/weir.

Run by `make dev` on port 8000 (WEIR_APP_PORT). Try it:

    curl -s localhost:8288/e/dev -d '{"name": "app/user.created", "data": {"id": 123}}'
    .venv/bin/weir runs list <the event id it printed>

The abandoned-cart function is in examples/shop/carts.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI

import weir.fastapi
from examples.shop import carts
from weir import Context, Event, NonRetriableError, Step, Weir

log = logging.getLogger("shop")

client = Weir(app_id="shop")


# -- the seed's zero-config form: a name, an event name, a handler ---------------


async def load_user(user_id: int) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # a database call
    return {"id": user_id, "email": f"user{user_id}@example.com"}


async def send_email(to: str, subject: str) -> dict[str, str]:
    log.info("sending %r to %s", subject, to)
    return {"to": to, "subject": subject, "status": "sent"}


async def send_welcome_email(ctx: Context[Any], step: Step) -> dict[str, Any]:
    user = await step.run("load-user", load_user, ctx.event.data["id"])
    receipt = await step.run("send-email", send_email, user["email"], "Welcome!")
    return {"welcomed": user["id"], "receipt": receipt}


client.create_function("Send welcome email", "app/user.created", send_welcome_email)


# -- a typed event and a multi-step function with parallel steps ------------------


class OrderPlaced(Event, name="shop/order.placed"):
    order_id: str
    amount_cents: int
    items: list[str]


async def reserve(item: str) -> str:
    await asyncio.sleep(0.005)
    return f"reserved:{item}"


async def charge(order_id: str, amount_cents: int) -> dict[str, Any]:
    if amount_cents <= 0:
        raise NonRetriableError(f"order {order_id} has nothing to charge")
    return {"order_id": order_id, "charged": amount_cents}


@client.function(id="fulfil-order", trigger=OrderPlaced, retries=3)
async def fulfil_order(ctx: Context[OrderPlaced], step: Step) -> dict[str, Any]:
    order = ctx.event.data
    reservations = await asyncio.gather(
        *(step.run("reserve", reserve, item) for item in order.items)
    )
    payment = await step.run("charge", charge, order.order_id, order.amount_cents)
    await step.send_event(
        "announce", {"name": "shop/order.fulfilled", "data": {"order_id": order.order_id}}
    )
    return {"reservations": reservations, "payment": payment}


# -- time and coordination: the abandoned cart (examples/shop/carts.py) -------------

carts.register(client)

app = FastAPI(title="Weir example shop")
weir.fastapi.serve(app, client)


@app.get("/")
async def index() -> dict[str, str]:
    return {"app": "shop", "functions": "/api/weir"}
