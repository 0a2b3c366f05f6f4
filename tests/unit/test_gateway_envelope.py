"""What a ``POST /e/{key}`` body may hold, and errors that name the field."""

from __future__ import annotations

import pytest

from services.gateway.envelope import parse_body
from weir.errors import EventInvalidError, PayloadTooLargeError, RequestMalformedError


def test_a_lone_object_is_one_event_with_id_and_ts_filled_in() -> None:
    body = parse_body(b'{"name": "app/user.created", "data": {"id": 1}}', max_events=5)
    assert not body.is_array
    [event] = body.events
    assert (event.name, event.data, event.user, event.v) == (
        "app/user.created",
        {"id": 1},
        None,
        None,
    )
    assert len(event.id) == 36
    assert event.id[14] == "7"
    assert event.ts > 1_700_000_000_000


def test_given_id_ts_user_and_v_are_kept() -> None:
    body = b'[{"name": "a/b", "id": "e1", "ts": 5, "user": {"id": "u"}, "v": "2"}]'
    parsed = parse_body(body, max_events=5)
    assert parsed.is_array
    [event] = parsed.events
    assert (event.id, event.ts, event.user, event.v, event.data) == ("e1", 5, {"id": "u"}, "2", {})


def test_ids_are_unique_and_in_order() -> None:
    body = parse_body(b'[{"name": "a/b"}, {"name": "a/b"}, {"name": "a/b"}]', max_events=5)
    ids = [event.id for event in body.events]
    assert len(set(ids)) == 3
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"data": {}}', "name"),
        (b'{"name": ""}', "name"),
        (b'{"name": "has space"}', "name"),
        (b'{"name": 7}', "name"),
        (b'{"name": "a/b", "data": [1]}', "data"),
        (b'{"name": "a/b", "user": "bob"}', "user"),
        (b'{"name": "a/b", "id": ""}', "id"),
        (b'{"name": "a/b", "ts": -1}', "ts"),
        (b'{"name": "a/b", "ts": true}', "ts"),
        (b'{"name": "a/b", "ts": 1.5}', "ts"),
        (b'{"name": "a/b", "v": 2}', "v"),
        (b'{"name": "a/b", "dta": {}}', "dta"),
        (b'[{"name": "a/b"}, {"name": "a/b"}, {"name": "a/b"}, {"nam": "x"}]', "[3].nam"),
        (b'[{"name": "a/b"}, 5]', "[1]"),
        (b'[{"name": "a/b"}, {"name": "a/b", "data": "x"}]', "[1].data"),
        (b'[{"name": "a/b", "user": {"deep": {"x": 1}}}]', "[0].user.deep"),
        (b"[]", "body"),
    ],
)
def test_envelope_errors_name_the_field(body: bytes, path: str) -> None:
    with pytest.raises(EventInvalidError) as caught:
        parse_body(body, max_events=10)
    assert caught.value.path == path
    assert caught.value.to_problem()["path"] == path
    assert caught.value.http_status == 422


@pytest.mark.parametrize(
    "body", [b"", b"  ", b"{", b'{"name": "a/b"} x', b'"text"', b"12", b"null"]
)
def test_bodies_that_are_not_an_event_or_array_are_malformed(body: bytes) -> None:
    with pytest.raises(RequestMalformedError) as caught:
        parse_body(body, max_events=10)
    assert caught.value.http_status == 400


def test_more_events_than_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        parse_body(b"[" + b",".join([b'{"name": "a/b"}'] * 4) + b"]", max_events=3)
    assert caught.value.detail == {"limit": 3, "events": 4}
    assert caught.value.http_status == 413
