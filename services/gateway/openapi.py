"""The gateway's OpenAPI document (``GET /openapi.json``).

The routes read raw bytes (for the streaming size limit and a fast JSON
parser), so FastAPI cannot infer their request bodies; the models below
describe them, and :func:`install_openapi` adds them and the problem schema to
the document's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.problems import Problem

_REF = "#/components/schemas/{model}"


class Event(BaseModel):
    """One event. Only ``name`` is required."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Event name, e.g. `app/user.created`.", max_length=256)
    data: dict[str, Any] = Field(
        default_factory=dict, description="Payload; validated against the event's schema."
    )
    user: dict[str, Any] | None = Field(default=None, description="Who caused the event.")
    id: str | None = Field(
        default=None, description="Idempotency id; generated when absent.", max_length=256
    )
    ts: int | None = Field(
        default=None, ge=0, description="Milliseconds since the Unix epoch; now when absent."
    )
    v: str | None = Field(default=None, description="Free-form payload version tag.")


class Accepted(BaseModel):
    """The events were acknowledged by Kafka (acks=all)."""

    ids: list[str] = Field(description="The id of every event, in request order.")


def events_body(max_events: int) -> dict[str, Any]:
    """``openapi_extra`` for ``POST /e/{key}``: one event or an array of them."""
    event = {"$ref": _REF.format(model="Event")}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [event, {"type": "array", "items": event, "maxItems": max_events}]
                    }
                }
            },
        }
    }


def webhook_body() -> dict[str, Any]:
    """``openapi_extra`` for ``POST /webhooks/{source}``: any JSON object."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in (Event, Accepted, Problem):
                schema = model.model_json_schema(ref_template=_REF)
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
