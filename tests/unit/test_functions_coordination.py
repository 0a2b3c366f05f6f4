"""Defining cron triggers, cancel_on and timeouts, and the config JSON they register as."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from weir import CancelOn, Cron, CronTick, Timeouts
from weir.errors import ErrorCode, WeirError
from weir.events.model import Event
from weir.events.raw import RawEvent
from weir.functions import (
    CancelConfig,
    Context,
    FunctionConfig,
    Step,
    TimeoutsConfig,
    Trigger,
    TriggerConfig,
)
from weir.functions.config import INVOKED_EVENT
from weir.functions.function import define_function
from weir.functions.mixin import FunctionsMixin
from weir.functions.testing import cron_tick, run_function
from weir.functions.triggers import resolve_trigger_configs


class CoordCartAdded(Event, name="coord/cart.added"):
    cart_id: str


class CoordCheckout(Event, name="coord/checkout.completed"):
    cart_id: str


class Client(FunctionsMixin):
    app_id = "coord-app"


async def noop(ctx: Context[Any], step: Step) -> None:
    return None


def define(**kwargs: Any) -> Any:
    options: dict[str, Any] = {"id": "coord-fn", "name": None, "handler": noop, "retries": 1}
    options.setdefault("trigger", None)
    options.update(kwargs)
    return define_function(**options)


def code_of(excinfo: pytest.ExceptionInfo[WeirError]) -> str:
    return str(excinfo.value.code)


# -- cron triggers ----------------------------------------------------------------


def test_a_cron_function_needs_no_event_trigger() -> None:
    client = Client()

    @client.function(id="weekly-report", cron="TZ=Europe/Paris 0 9 * * 1")
    async def weekly(ctx: Context[CronTick], step: Step) -> str:
        return ctx.event.data.tick.isoformat()

    assert [t.model_dump() for t in weekly.config.triggers] == [
        {"event": None, "filter": None, "cron": "TZ=Europe/Paris 0 9 * * 1"}
    ]
    assert [s.zone_name for s in weekly.schedules] == ["Europe/Paris"]
    assert weekly.event_type_for("weir/cron") is CronTick
    # Ticks come from the router's clock: no event on the events topic starts a cron run.
    assert weekly.trigger_for({"name": "weir/cron", "data": {}}) is None


def test_cron_objects_mix_with_event_triggers_in_one_list() -> None:
    made = define(trigger=[CoordCartAdded, Cron("*/5 * * * *")], cron=["0 0 * * *"])
    assert [(t.event, t.cron) for t in made.config.triggers] == [
        ("coord/cart.added", None),
        (None, "*/5 * * * *"),
        (None, "0 0 * * *"),
    ]
    assert made.trigger_for({"name": "coord/cart.added", "data": {"cart_id": "c"}}) is not None


def test_create_function_takes_a_cron_without_an_event() -> None:
    client = Client()
    by_keyword = client.create_function("Nightly cleanup", None, noop, cron="0 3 * * *")
    by_object = client.create_function("Hourly ping", Cron("0 * * * *"), noop)
    assert by_keyword.config.triggers[0].cron == "0 3 * * *"
    assert by_object.config.triggers[0].cron == "0 * * * *"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"cron": "TZ=Nowhere/Land 0 9 * * *"}, ErrorCode.TRIGGER_INVALID),
        ({"cron": "0 9 * *"}, ErrorCode.TRIGGER_INVALID),
        ({"cron": ["0 9 * * *", "TZ=UTC  0 9 * * *"]}, ErrorCode.TRIGGER_INVALID),  # twice
        ({"cron": [42]}, ErrorCode.TRIGGER_INVALID),
        ({}, ErrorCode.TRIGGER_INVALID),  # neither trigger nor cron
        ({"trigger": [], "cron": []}, ErrorCode.TRIGGER_INVALID),
        ({"cron": "0 9 * * *", "filter": "event.data.x == 1"}, ErrorCode.TRIGGER_INVALID),
    ],
)
def test_bad_cron_definitions_fail_with_stable_codes(kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(WeirError) as excinfo:
        define(**kwargs)
    assert code_of(excinfo) == code


def test_a_cron_run_gets_a_typed_tick() -> None:
    seen: list[CronTick] = []

    async def report(ctx: Context[CronTick], step: Step) -> str:
        seen.append(ctx.event)
        return ctx.event.data.cron

    made = define(handler=report, cron="TZ=Europe/Paris 0 9 * * 1")
    tick = cron_tick(made, datetime(2024, 7, 10, tzinfo=UTC))  # a Wednesday
    assert tick.data.tick == datetime(2024, 7, 8, 7, tzinfo=UTC)  # Monday 09:00 Paris
    assert tick.ts == 1720422000000
    result = run_function(made, tick)
    assert result.status == "completed"
    assert result.output == "TZ=Europe/Paris 0 9 * * 1"
    assert isinstance(seen[0], CronTick)
    assert seen[0].data.tick == datetime(2024, 7, 8, 7, tzinfo=UTC)
    # As the router sends it: data.tick is an ISO string in UTC.
    wire = {
        "name": "weir/cron",
        "id": "tick-1",
        "ts": 1720422000000,
        "data": {"cron": "TZ=Europe/Paris 0 9 * * 1", "tick": "2024-07-08T07:00:00+00:00"},
    }
    assert run_function(made, wire).status == "completed"
    assert seen[1].data.tick == datetime(2024, 7, 8, 7, tzinfo=UTC)


def test_cron_tick_needs_a_cron_function() -> None:
    with pytest.raises(WeirError) as excinfo:
        cron_tick(define(trigger="coord/x"))
    assert code_of(excinfo) == ErrorCode.TRIGGER_INVALID


def test_an_invoked_event_is_accepted_by_any_function() -> None:
    seen: list[Any] = []

    async def typed(ctx: Context[Any], step: Step) -> None:
        seen.append(ctx.event)

    for trigger in (CoordCartAdded, "coord/*"):
        made = define(handler=typed, trigger=trigger)
        invoked = {"name": INVOKED_EVENT, "data": {"anything": [1, 2]}}
        assert run_function(made, invoked).status == "completed"
    assert all(isinstance(event, RawEvent) for event in seen)
    assert [event.data for event in seen] == [{"anything": [1, 2]}] * 2


def test_the_invoked_event_name_is_the_first_plain_event_trigger() -> None:
    assert define(trigger=["coord/*", CoordCartAdded]).config.invoked_event_name() == (
        "coord/cart.added"
    )
    assert define(trigger="coord/*").config.invoked_event_name() == INVOKED_EVENT
    assert define(cron="0 9 * * *").config.invoked_event_name() == INVOKED_EVENT


# -- cancel_on ---------------------------------------------------------------------


def test_cancel_on_registers_name_match_if_and_timeout() -> None:
    made = define(
        trigger=CoordCartAdded,
        cancel_on=[
            CancelOn(event=CoordCheckout, match="data.cart_id", timeout=timedelta(hours=1)),
            CancelOn(event="coord/cart.deleted", if_="event.data.cart_id == async.data.id"),
            {"event": "coord/user.deleted", "match": "user.id", "if": "async.data.hard"},
        ],
    )
    dumped = json.loads(made.config.model_dump_json())
    assert dumped["cancel_on"] == [
        {
            "event": "coord/checkout.completed",
            "match": "data.cart_id",
            "if": None,
            "timeout": 3600.0,
        },
        {
            "event": "coord/cart.deleted",
            "match": None,
            "if": "event.data.cart_id == async.data.id",
            "timeout": None,
        },
        {
            "event": "coord/user.deleted",
            "match": "user.id",
            "if": "async.data.hard",
            "timeout": None,
        },
    ]
    assert FunctionConfig.model_validate(dumped) == made.config


@pytest.mark.parametrize(
    ("cancel_on", "code"),
    [
        (CancelOn(event="coord/checkout.completed"), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event="coord/*", match="data.cart_id"), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event="not a name", match="data.cart_id"), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event=int, match="data.cart_id"), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event="coord/x", match="data..cart"), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event="coord/x", match="data.id", timeout=0), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event="coord/x", match="data.id", timeout=-5), ErrorCode.CANCEL_ON_INVALID),
        (CancelOn(event="coord/x", match="data.id", timeout="1h"), ErrorCode.CANCEL_ON_INVALID),  # type: ignore[arg-type]
        (CancelOn(event="coord/x", if_="event.data.a =="), ErrorCode.FILTER_INVALID),
        (CancelOn(event="coord/x", if_="other.data.a == 1"), ErrorCode.FILTER_INVALID),
        ({"event": "coord/x", "matches": "data.id"}, ErrorCode.CANCEL_ON_INVALID),
        ("coord/x", ErrorCode.CANCEL_ON_INVALID),
        ([42], ErrorCode.CANCEL_ON_INVALID),
    ],
)
def test_bad_cancel_on_fails_at_definition(cancel_on: Any, code: str) -> None:
    with pytest.raises(WeirError) as excinfo:
        define(trigger=CoordCartAdded, cancel_on=cancel_on)
    assert code_of(excinfo) == code


def test_a_single_cancel_on_needs_no_list() -> None:
    made = define(trigger="coord/a", cancel_on=CancelOn(event="coord/b", match="data.id"))
    assert [c.event for c in made.config.cancel_on] == ["coord/b"]


# -- timeouts ------------------------------------------------------------------------


def test_timeouts_register_as_seconds() -> None:
    made = define(trigger="coord/a", timeouts=Timeouts(start=timedelta(minutes=5), finish=3600))
    assert made.config.timeouts == TimeoutsConfig(start=300.0, finish=3600.0)
    only_finish = define(trigger="coord/a", timeouts=Timeouts(finish=timedelta(days=1)))
    assert json.loads(only_finish.config.model_dump_json())["timeouts"] == {
        "start": None,
        "finish": 86400.0,
    }
    assert define(trigger="coord/a", timeouts=Timeouts()).config.timeouts is None


@pytest.mark.parametrize(
    "timeouts",
    [
        Timeouts(start=0),
        Timeouts(finish=timedelta(seconds=-1)),
        Timeouts(start=float("nan")),
        Timeouts(finish=float("inf")),
        Timeouts(start="soon"),  # type: ignore[arg-type]
        {"start": 10},
    ],
)
def test_bad_timeouts_fail_at_definition(timeouts: Any) -> None:
    with pytest.raises(WeirError) as excinfo:
        define(trigger="coord/a", timeouts=timeouts)
    assert code_of(excinfo) == ErrorCode.TIMEOUTS_INVALID


# -- the config models, as the router reads registrations -----------------------------


def test_registrations_without_the_new_fields_stay_valid() -> None:
    old = {
        "id": "abandoned-cart",
        "name": "abandoned_cart",
        "triggers": [{"event": "shop/cart.added", "filter": None}],
        "retries": 4,
        "on_failure": None,
        "failure_handler_for": None,
    }
    config = FunctionConfig.model_validate(old)
    assert config.cancel_on == []
    assert config.timeouts is None
    assert config.triggers[0] == TriggerConfig(event="shop/cart.added")


@pytest.mark.parametrize(
    "trigger",
    [
        {},
        {"event": "a/b", "cron": "0 9 * * *"},
        {"cron": "0 9 * * *", "filter": "event.data.x == 1"},
        {"cron": "TZ=Nowhere 0 9 * * *"},
        {"cron": "0 9 * *"},
    ],
)
def test_trigger_configs_have_exactly_one_valid_source(trigger: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TriggerConfig.model_validate(trigger)


@pytest.mark.parametrize(
    "entry",
    [
        {"event": "a/b"},
        {"event": "a/*", "match": "data.id"},
        {"event": "a/b", "if": "nope.x == 1"},
        {"event": "a/b", "match": "data.id", "timeout": 0},
        {"event": "a/b", "match": "data.id", "extra": 1},
    ],
)
def test_cancel_configs_check_themselves(entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CancelConfig.model_validate(entry)


def test_cancel_config_takes_if_by_either_name_and_writes_if() -> None:
    by_alias = CancelConfig.model_validate({"event": "a/b", "if": "async.data.ok"})
    by_name = CancelConfig.model_validate({"event": "a/b", "if_": "async.data.ok"})
    assert by_alias == by_name
    assert by_alias.model_dump() == {
        "event": "a/b",
        "match": None,
        "if": "async.data.ok",
        "timeout": None,
    }


def test_timeouts_config_refuses_non_positive_limits() -> None:
    with pytest.raises(ValidationError):
        TimeoutsConfig(start=0)
    with pytest.raises(ValidationError):
        TimeoutsConfig.model_validate({"finish": -1})


def test_registered_triggers_compile_back_for_the_router() -> None:
    made = define(
        trigger=[Trigger("coord/a", filter="event.data.ok == true"), "coord/*.b"],
        cron="TZ=Asia/Tokyo 0 9 * * *",
    )
    wire = FunctionConfig.model_validate_json(made.config.model_dump_json())
    resolved = resolve_trigger_configs(wire.triggers)
    assert [t.config for t in resolved] == list(made.config.triggers)
    assert resolved[0].matches({"name": "coord/a", "data": {"ok": True}})
    assert not resolved[0].matches({"name": "coord/a", "data": {"ok": False}})
    assert resolved[1].matches({"name": "coord/x.b", "data": {}})
    assert resolved[2].schedule is not None
    # 09:00 in Tokyo is midnight UTC.
    assert resolved[2].schedule.next_after(datetime(2023, 12, 31, 12, tzinfo=UTC)) == datetime(
        2024, 1, 1, tzinfo=UTC
    )
