"""CEL trigger filters: compiled at definition, evaluated against the event as JSON."""

from __future__ import annotations

import pytest

from weir.errors import ErrorCode, FilterInvalidError
from weir.functions.filters import EventFilter

ORDER = {
    "name": "shop/order.placed",
    "id": "e1",
    "ts": 1700000000000,
    "data": {"amount": 120, "currency": "EUR", "tags": ["vip", "new"], "customer": {"id": 7}},
    "user": {"region": "eu"},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("event.data.amount > 100", True),
        ('event.data.amount > 100 && event.data.currency == "USD"', False),
        ('event.name.startsWith("shop/")', True),
        ('event.data.tags.exists(t, t == "vip")', True),
        ("event.data.tags.all(t, size(t) > 3)", False),
        ("event.data.customer.id in [1, 7]", True),
        ('event.user.region == "eu"', True),
        ('event.name.matches("^shop/order\\\\.")', True),
        ("has(event.data.coupon) && event.data.coupon != ''", False),
    ],
)
def test_filters_match_the_event(expression: str, expected: bool) -> None:
    assert EventFilter(expression).matches(ORDER) is expected


def test_an_expression_that_errors_on_an_event_does_not_match() -> None:
    missing = EventFilter("event.data.coupon.code == 'X'")
    assert missing.matches(ORDER) is False
    wrong_type = EventFilter("event.data.currency > 3")
    assert wrong_type.matches(ORDER) is False


def test_a_non_boolean_result_does_not_match() -> None:
    assert EventFilter("event.data.amount").matches(ORDER) is False


@pytest.mark.parametrize(
    "expression",
    ["event.data.amount >", "event.data.(", "1 +", "   ", "x" * 5000, "order.amount > 1"],
)
def test_bad_expressions_fail_at_definition(expression: str) -> None:
    with pytest.raises(FilterInvalidError) as excinfo:
        EventFilter(expression)
    assert excinfo.value.code == ErrorCode.FILTER_INVALID


def test_syntax_errors_say_where() -> None:
    with pytest.raises(FilterInvalidError) as excinfo:
        EventFilter("event.data.amount >")
    assert excinfo.value.detail["line"] == 1
    assert "column" in excinfo.value.detail


def test_macro_variables_are_not_free_names() -> None:
    EventFilter("event.data.tags.map(t, t + '!').exists(u, u == 'vip!')")
    with pytest.raises(FilterInvalidError, match="other"):
        EventFilter("event.data.tags.exists(t, t == other)")


def test_wait_conditions_may_use_async() -> None:
    condition = EventFilter(
        "event.data.cart_id == async.data.cart_id", variables=("event", "async")
    )
    assert condition.holds(
        {"event": {"data": {"cart_id": "c"}}, "async": {"data": {"cart_id": "c"}}}
    )
    assert not condition.holds(
        {"event": {"data": {"cart_id": "c"}}, "async": {"data": {"cart_id": "d"}}}
    )
