"""Typed events: the envelope, the data model made from the class body, conversions."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from pydantic import BaseModel, Field, field_validator

from weir import Event
from weir.errors import ErrorCode, EventInvalidError
from weir.events.ids import event_id_ms, new_event_id
from weir.events.model import event_class

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class CartAdded(Event, name="model/cart.added"):
    cart_id: str
    user_id: str
    qty: int = 1


def test_event_from_data_is_typed_and_gets_id_and_ts() -> None:
    before = time.time_ns() // 1_000_000
    ev = CartAdded(data={"cart_id": "c1", "user_id": "u1"})
    assert ev.name == "model/cart.added" == CartAdded.name
    assert ev.data.cart_id == "c1"
    assert ev.data.qty == 1
    assert ev.cart_id == "c1"  # reads through to the data
    assert UUID7.fullmatch(ev.id)
    assert before <= ev.ts <= time.time_ns() // 1_000_000
    assert ev.user is None
    assert ev.v is None
    assert isinstance(ev.data, CartAdded.data_model)
    assert not hasattr(CartAdded, "qty")  # the default moved to the data model
    assert event_class("model/cart.added") is CartAdded


def test_envelope_fields_can_be_given() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    ev = CartAdded(
        data={"cart_id": "c", "user_id": "u"}, id="my-id", ts=when, user={"ip": "1.2.3.4"}, v="2"
    )
    assert (ev.id, ev.ts, ev.user, ev.v) == ("my-id", 1704164645000, {"ip": "1.2.3.4"}, "2")


def test_bad_data_raises_event_invalid_naming_every_field() -> None:
    with pytest.raises(EventInvalidError) as caught:
        CartAdded(data={"cart_id": 5, "qty": "many", "extra": 1})
    error = caught.value
    assert error.code == ErrorCode.EVENT_INVALID
    assert error.http_status == 422
    paths = [e["path"] for e in error.detail["errors"]]
    assert paths == ["data.cart_id", "data.user_id", "data.qty", "data.extra"]
    assert error.path == "data.cart_id"
    problem = error.to_problem()
    assert problem["code"] == "event_invalid"
    assert problem["errors"][1] == {"path": "data.user_id", "message": "Field required"}


class Line(BaseModel):
    sku: str
    price: float


class Order(Event, name="shop/order.placed", version="2024-05"):
    lines: list[Line]


def test_nested_error_paths_have_list_indexes() -> None:
    with pytest.raises(EventInvalidError) as caught:
        Order(data={"lines": [{"sku": "a", "price": 1}, {"sku": "b", "price": 2}, {"sku": "c"}]})
    assert caught.value.path == "data.lines[2].price"


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"user": {"nested": {"a": 1}}}, "user.nested"),
        ({"user": {"big": 2**64}}, "user.big"),
        ({"user": ["a"]}, "user"),
        ({"id": ""}, "id"),
        ({"id": "has space"}, "id"),
        ({"ts": -1}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"v": ""}, "v"),
    ],
)
def test_bad_envelope_fields_name_the_field(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(EventInvalidError) as caught:
        CartAdded(data={"cart_id": "c", "user_id": "u"}, **kwargs)  # type: ignore[arg-type]
    assert caught.value.path == path


def test_class_version_is_the_default_v() -> None:
    ev = Order(data={"lines": []})
    assert ev.v == "2024-05"
    assert Order(data={"lines": []}, v="2025").v == "2025"


class Named(Event, name="model/user.created"):
    id: int
    name: str
    user: str | None = None
    counter: ClassVar[int] = 0

    @field_validator("name")
    @classmethod
    def title(cls, value: str) -> str:
        return value.title()

    def greeting(self) -> str:
        return f"hello {self.name}"


def test_data_fields_named_like_envelope_fields_live_on_data() -> None:
    ev = Named(data={"id": 7, "name": "ada"}, user={"k": "v"})
    assert ev.data.id == 7
    assert ev.id != 7
    assert ev.name == "model/user.created"
    assert ev.data.name == "Ada"  # the body's validator moved to the data model
    assert ev.user == {"k": "v"}
    assert ev.data.user is None
    assert ev.data.greeting() == "hello Ada"
    assert Named.counter == 0


class Base(Event):
    tenant: str


class Derived(Base, name="t/derived"):
    value: int = Field(ge=0)


def test_data_fields_are_inherited_and_abstract_events_cannot_be_made() -> None:
    ev = Derived(data={"tenant": "t", "value": 1})
    assert (ev.data.tenant, ev.data.value) == ("t", 1)
    with pytest.raises(EventInvalidError):
        Derived(data={"tenant": "t", "value": -1})
    with pytest.raises(TypeError, match="no event name"):
        Base(data={"tenant": "t"})


def test_records_and_json_round_trip() -> None:
    ev = CartAdded(data={"cart_id": "c", "user_id": "u"}, user={"a": 1.5})
    again = CartAdded.from_record(ev.to_record())
    assert again == ev
    assert CartAdded.from_record(ev.to_json()) == ev
    assert ev.to_json() == {
        "name": "model/cart.added",
        "data": {"cart_id": "c", "user_id": "u", "qty": 1},
        "id": ev.id,
        "ts": ev.ts,
        "user": {"a": 1.5},
    }
    with pytest.raises(EventInvalidError, match="name"):
        CartAdded.from_record({**ev.to_record(), "name": "other/event"})


def test_invalid_event_names_are_refused_at_class_definition() -> None:
    with pytest.raises(EventInvalidError, match="not a valid event name"):

        class Bad(Event, name="has spaces"):
            a: int


def test_ids_are_uuid7_unique_and_increasing() -> None:
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(UUID7.fullmatch(i) for i in ids[:100])
    now = time.time_ns() // 1_000_000
    created = event_id_ms(ids[-1])
    assert created is not None
    assert abs(created - now) < 5_000
    assert event_id_ms("not-a-uuid7") is None
