"""Defining functions: ids, triggers, filters, wildcards, on_failure, the registered config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from weir.errors import ErrorCode, WeirError
from weir.events.model import Event
from weir.functions import Context, FunctionConfig, Step, Trigger
from weir.functions.config import slugify
from weir.functions.mixin import FunctionsMixin
from weir.functions.testing import run_function


class DefineCartAdded(Event, name="define/cart.added"):
    cart_id: str
    amount: int = 0


class Client(FunctionsMixin):
    """Stands in for weir.client.Weir, which mixes FunctionsMixin in."""

    app_id = "define-app"


async def noop(ctx: Context[Any], step: Step) -> None:
    return None


def code_of(excinfo: pytest.ExceptionInfo[WeirError]) -> str:
    return str(excinfo.value.code)


def test_decorator_returns_a_function_with_a_serializable_config() -> None:
    client = Client()

    @client.function(id="abandoned-cart", trigger=DefineCartAdded, retries=2)
    async def abandoned(ctx: Context[DefineCartAdded], step: Step) -> None:
        return None

    assert client.functions == [abandoned]
    config = json.loads(abandoned.config.model_dump_json())
    assert config == {
        "id": "abandoned-cart",
        "name": "abandoned",
        "triggers": [{"event": "define/cart.added", "filter": None, "cron": None}],
        "retries": 2,
        "on_failure": None,
        "failure_handler_for": None,
        "cancel_on": [],
        "timeouts": None,
    }
    assert FunctionConfig.model_validate(config) == abandoned.config


def test_create_function_slugifies_the_name() -> None:
    client = Client()
    made = client.create_function("Send welcome email", "app/user.created", noop)
    assert made.id == "send-welcome-email"
    assert made.name == "Send welcome email"
    assert made.config.retries == 4
    assert slugify("  Ünïcode -- Name!  ") == "unicode-name"


def test_typed_trigger_gives_a_typed_event() -> None:
    client = Client()
    seen: list[Any] = []

    @client.function(id="typed", trigger=DefineCartAdded)
    async def typed(ctx: Context[DefineCartAdded], step: Step) -> str:
        seen.append(ctx.event)
        return ctx.event.data.cart_id

    result = run_function(typed, DefineCartAdded(data={"cart_id": "c9"}))
    assert result.status == "completed"
    assert result.output == "c9"
    assert isinstance(seen[0], DefineCartAdded)


def test_several_triggers_and_wildcards() -> None:
    made = Client().function(id="multi", trigger=["app/user.*", DefineCartAdded, "billing/*"])(noop)
    assert made.trigger_for({"name": "app/user.created", "data": {}}) is not None
    assert made.trigger_for({"name": "app/user.deleted", "data": {}}) is not None
    assert made.trigger_for({"name": "app/user.", "data": {}}) is None  # * needs a character
    assert made.trigger_for({"name": "app/order.created", "data": {}}) is None
    assert made.trigger_for({"name": "billing/invoice.paid", "data": {}}) is not None
    assert made.trigger_for({"name": "define/cart.added", "data": {"cart_id": "c"}}) is not None
    assert made.event_type_for("define/cart.added") is DefineCartAdded
    assert made.event_type_for("app/user.created") is None


def test_filters_compile_at_definition_and_gate_events() -> None:
    made = Client().function(
        id="big-carts",
        trigger=[
            Trigger(DefineCartAdded, filter="event.data.amount >= 100"),
            Trigger("app/vip.*", filter='event.data.tier == "gold"'),
        ],
    )(noop)
    assert made.config.triggers[0].filter == "event.data.amount >= 100"
    assert made.trigger_for({"name": "define/cart.added", "data": {"amount": 150}}) is not None
    assert made.trigger_for({"name": "define/cart.added", "data": {"amount": 50}}) is None
    assert made.trigger_for({"name": "app/vip.joined", "data": {"tier": "gold"}}) is not None
    assert made.trigger_for({"name": "app/vip.joined", "data": {"tier": "tin"}}) is None


def test_function_level_filter_applies_to_triggers_without_their_own() -> None:
    made = Client().function(id="f", trigger=["a/x", "a/y"], filter="event.data.ok == true")(noop)
    assert [t.filter for t in made.config.triggers] == ["event.data.ok == true"] * 2


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"id": "Bad Id", "trigger": "a/b"}, ErrorCode.FUNCTION_INVALID),
        ({"id": "", "trigger": "a/b"}, ErrorCode.FUNCTION_INVALID),
        ({"id": "ok", "trigger": "a/b", "retries": -1}, ErrorCode.FUNCTION_INVALID),
        ({"id": "ok", "trigger": "a/b", "retries": 101}, ErrorCode.FUNCTION_INVALID),
        ({"id": "ok", "trigger": []}, ErrorCode.TRIGGER_INVALID),
        ({"id": "ok", "trigger": "has space"}, ErrorCode.TRIGGER_INVALID),
        ({"id": "ok", "trigger": "*"}, ErrorCode.TRIGGER_INVALID),
        ({"id": "ok", "trigger": ["a/b", "a/b"]}, ErrorCode.TRIGGER_INVALID),
        ({"id": "ok", "trigger": 42}, ErrorCode.TRIGGER_INVALID),
        ({"id": "ok", "trigger": Event}, ErrorCode.TRIGGER_INVALID),
        ({"id": "ok", "trigger": "a/b", "filter": "event.data.x =="}, ErrorCode.FILTER_INVALID),
        ({"id": "ok", "trigger": "a/b", "filter": "user.id == 1"}, ErrorCode.FILTER_INVALID),
        ({"id": "ok", "trigger": "a/b", "filter": ""}, ErrorCode.FILTER_INVALID),
    ],
)
def test_bad_definitions_fail_with_stable_codes(kwargs: dict[str, Any], code: ErrorCode) -> None:
    client = Client()
    with pytest.raises(WeirError) as excinfo:
        client.function(**kwargs)(noop)
    assert code_of(excinfo) == code
    assert client.functions == []


def test_a_handler_must_take_ctx_and_step() -> None:
    async def one_arg(ctx: Context[Any]) -> None:
        return None

    with pytest.raises(WeirError) as excinfo:
        Client().function(id="f", trigger="a/b")(one_arg)  # type: ignore[arg-type]
    assert code_of(excinfo) == ErrorCode.FUNCTION_INVALID


def test_duplicate_ids_are_refused_on_one_client() -> None:
    client = Client()
    client.function(id="same", trigger="a/b")(noop)
    with pytest.raises(WeirError) as excinfo:
        client.function(id="same", trigger="a/c")(noop)
    assert code_of(excinfo) == ErrorCode.FUNCTION_INVALID
    client.function(id="other", trigger="a/b", on_failure=noop)(noop)
    with pytest.raises(WeirError) as excinfo:
        client.function(id="other-failure", trigger="a/b")(noop)  # its failure handler's id
    assert code_of(excinfo) == ErrorCode.FUNCTION_INVALID


def test_on_failure_registers_a_companion_function() -> None:
    client = Client()
    made = client.function(id="charge", trigger="a/b", on_failure=noop)(noop)
    assert made.config.on_failure == "charge-failure"
    companion = made.failure_handler
    assert companion is not None
    assert companion.config.failure_handler_for == "charge"
    assert companion.config.triggers[0].event == "weir/function.failed"
    failed = {"name": "weir/function.failed", "data": {"function_id": "charge"}}
    other = {"name": "weir/function.failed", "data": {"function_id": "refund"}}
    assert companion.trigger_for(failed) is not None
    assert companion.trigger_for(other) is None
    assert [c.id for c in made.configs()] == ["charge", "charge-failure"]


def test_the_weir_client_defines_functions() -> None:
    from weir.client import Weir

    assert issubclass(Weir, FunctionsMixin)
    client = Weir(app_id="mixed", transport="memory://")
    made = client.create_function("Send welcome email", "app/user.created", noop)
    assert client.functions == [made]
    assert client.app_id == "mixed"
