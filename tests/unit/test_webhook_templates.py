"""The webhook mapping language and the ``webhooks`` setting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.datastructures import Headers

from services.gateway.webhooks.sources import WebhookSources
from services.gateway.webhooks.template import RequestView, Template, parse_body_path
from weir.errors import ConfigError, WebhookSourceUnknownError, WebhookUnmappableError


def _view(body: Any = None, headers: dict[str, str] | None = None, **query: str) -> RequestView:
    return RequestView("gh", Headers(headers or {}), query, body)


def test_placeholders_read_headers_body_query_and_source() -> None:
    template = Template.parse("{source}/{header:X-GitHub-Event}.{body:action}:{query:env}")
    view = _view({"action": "opened"}, {"x-github-event": "issues"}, env="prod")
    assert template.render(view) == "gh/issues.opened:prod"


def test_body_paths_walk_objects_and_arrays() -> None:
    body = {"data": {"object": {"id": "ch_1"}}, "items": [{"sku": "a"}, {"sku": 7}]}
    assert Template.parse("{body:data.object.id}").render(_view(body)) == "ch_1"
    assert Template.parse("{body:items[1].sku}").render(_view(body)) == "7"
    assert Template.parse("x-{body:ok}").render(_view({"ok": True})) == "x-true"
    assert parse_body_path("[0].a[2][3]") == (0, "a", 2, 3)


def test_doubled_braces_are_literal() -> None:
    assert Template.parse("{{x}}-{source}").render(_view()) == "{x}-gh"


def test_literal_text_only() -> None:
    assert Template.parse("shop/order.paid").render(_view()) == "shop/order.paid"


@pytest.mark.parametrize(
    ("template", "body", "headers"),
    [
        ("{header:X-Missing}", {}, {}),
        ("{body:type}", {}, {}),
        ("{body:data.id}", {"data": "flat"}, {}),
        ("{body:items[5]}", {"items": [1]}, {}),
        ("{body:data}", {"data": {"nested": 1}}, {}),
        ("{body:data}", {"data": None}, {}),
        ("{query:env}", {}, {}),
    ],
)
def test_missing_or_non_scalar_values_are_unmappable(
    template: str, body: Any, headers: dict[str, str]
) -> None:
    with pytest.raises(WebhookUnmappableError) as caught:
        Template.parse(template).render(_view(body, headers))
    assert caught.value.http_status == 422
    assert caught.value.detail["placeholder"] == template


@pytest.mark.parametrize(
    "template",
    ["{", "}", "a{b", "{nope}", "{header:}", "{body:a..b}", "{body:.a}", "{body:a[x]}", "{x:y}"],
)
def test_bad_templates_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError):
        Template.parse(template)


def _sources(config: dict[str, Any]) -> WebhookSources:
    return WebhookSources.parse(json.dumps(config), tolerance=300)


def test_sources_from_the_setting() -> None:
    sources = _sources(
        {
            "github": {"name": "github/{header:X-GitHub-Event}", "secret": "s", "style": "github"},
            "stripe": {
                "name": "stripe/{body:type}",
                "secret": "w",
                "style": "stripe",
                "id": "{body:id}",
                "tolerance": 60,
            },
            "open": {"name": "open/{source}", "style": "none"},
            "plain": {"name": "plain/hook"},
        }
    )
    assert len(sources) == 4
    stripe = sources.get("stripe")
    assert (stripe.style, stripe.secret, stripe.tolerance) == ("stripe", b"w", 60.0)
    assert stripe.id is not None
    assert sources.get("github").tolerance == 300.0
    assert sources.get("plain").style == "none"
    with pytest.raises(WebhookSourceUnknownError) as caught:
        sources.get("gitlab")
    assert caught.value.http_status == 404


def test_unsigned_sources_skip_verification() -> None:
    _sources({"open": {"name": "x/y"}}).get("open").verify(b"{}", Headers({}), 0.0)


@pytest.mark.parametrize(
    "setting",
    [
        "not json",
        "[]",
        '{"gh": "github/x"}',
        '{"gh": {}}',
        '{"gh": {"name": ""}}',
        '{"gh": {"name": "x", "style": "github"}}',
        '{"gh": {"name": "x", "style": "gitlab", "secret": "s"}}',
        '{"gh": {"name": "x", "secret": "s"}}',
        '{"gh": {"name": "x", "style": "none", "secret": "s"}}',
        '{"gh": {"name": "x", "style": "stripe", "secret": "s", "tolerance": 0}}',
        '{"gh": {"name": "x", "id": 5}}',
        '{"gh": {"name": "{oops"}}',
        '{"gh": {"name": "x", "extra": 1}}',
        '{"bad name": {"name": "x"}}',
    ],
)
def test_bad_settings_stop_the_gateway(setting: str) -> None:
    with pytest.raises(ConfigError):
        WebhookSources.parse(setting, tolerance=300)
