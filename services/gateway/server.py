"""Build the gateway from settings and serve it with uvicorn."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from services.gateway.app import Gateway, create_app
from services.gateway.encoder import RegistryEventEncoder
from services.gateway.ingest import EventEncoder, Ingest
from services.gateway.keys import EventKeys
from services.gateway.platform_api import PlatformApi
from services.gateway.producer import EventWriter, KafkaEventWriter, WriterConfig
from services.gateway.webhooks.sources import WebhookSources
from weir.settings import Settings


def transactional_id_prefix(settings: Settings) -> str:
    """``weir-gateway-<instance>``: stable across restarts of one instance, unique between."""
    instance = settings.gateway_instance or f"{socket.gethostname()}-{settings.gateway_port}"
    return f"weir-gateway-{instance}"


def writer_config(settings: Settings, **extra: Any) -> WriterConfig:
    return WriterConfig(
        bootstrap=settings.bootstrap_servers,
        topic=settings.events_topic,
        delivery_timeout=settings.gateway_delivery_timeout,
        producers=settings.gateway_producers,
        linger_ms=settings.gateway_linger_ms,
        transactional_id_prefix=transactional_id_prefix(settings),
        extra=extra,
    )


def build_gateway(
    settings: Settings,
    *,
    encoder: EventEncoder | None = None,
    writer: EventWriter | None = None,
) -> Gateway:
    """The gateway of ``settings``; a bad setting raises ``config_invalid`` here, at start."""
    return Gateway(
        ingest=Ingest(
            encoder or RegistryEventEncoder.from_settings(settings),
            writer or KafkaEventWriter(writer_config(settings)),
        ),
        keys=EventKeys.parse(settings.event_keys, dev=settings.dev),
        webhooks=WebhookSources.parse(settings.webhooks, tolerance=settings.webhook_tolerance),
        max_body_bytes=settings.gateway_max_body_bytes,
        max_events=settings.gateway_max_events,
        retry_after=settings.gateway_retry_after,
    )


def build_app(settings: Settings) -> FastAPI:
    gateway = build_gateway(settings)
    gateway.platform = PlatformApi.from_settings(settings)
    return create_app(gateway)


def uvicorn_config(app: FastAPI, **options: Any) -> uvicorn.Config:
    """uvicorn tuned for the gateway: uvloop and httptools when installed, no access log."""
    return uvicorn.Config(
        app,
        loop="auto",  # uvloop when importable
        http="auto",  # httptools when importable
        access_log=False,  # one log line per event request would cost more than the request
        log_level="warning",
        lifespan="on",
        **options,
    )


def serve(settings: Settings) -> bool:
    """Serve until SIGINT/SIGTERM; False when the server could not start."""
    server = uvicorn.Server(
        uvicorn_config(build_app(settings), host=settings.gateway_host, port=settings.gateway_port)
    )
    server.run()
    return server.started
