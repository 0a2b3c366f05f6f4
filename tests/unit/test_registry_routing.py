"""Routing on the raw path: an encoded '/' stays inside its segment."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from services.registry.routing import Params, Route, Router, path_segments
from weir.errors import RegistryError


async def _handler(_request: Request, _params: Params) -> Response:
    return Response()


ROUTER = Router(
    [
        Route("GET", "/subjects/{subject}/versions", _handler),
        Route("POST", "/subjects/{subject}/versions", _handler),
        Route("GET", "/subjects/{subject}/versions/{version}", _handler),
    ]
)


def test_an_encoded_slash_stays_in_its_segment() -> None:
    scope = {"raw_path": b"/subjects/shop%2Fcart.added/versions/", "path": "/ignored"}
    assert path_segments(scope) == ["subjects", "shop/cart.added", "versions"]
    _handler_found, params = ROUTER.match("GET", path_segments(scope))
    assert params == {"subject": "shop/cart.added"}


def test_other_escapes_decode_and_servers_without_raw_path_still_route() -> None:
    assert path_segments({"raw_path": b"/subjects/caf%C3%A9%20%25/versions"}) == [
        "subjects",
        "café %",
        "versions",
    ]
    assert path_segments({"path": "/subjects/a/versions"}) == ["subjects", "a", "versions"]
    assert path_segments({"raw_path": b"/"}) == []


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", b"/subjects/a", 404),
        ("GET", b"/subjects//versions", 404),  # an empty subject is no subject
        ("GET", b"/subjects/shop/cart.added/versions", 404),  # an unencoded '/' is two segments
        ("DELETE", b"/subjects/a/versions", 405),
    ],
)
def test_unmatched_requests(method: str, path: bytes, code: int) -> None:
    with pytest.raises(RegistryError) as refused:
        ROUTER.match(method, path_segments({"raw_path": path}))
    assert refused.value.error_code == code
    assert refused.value.status == code
