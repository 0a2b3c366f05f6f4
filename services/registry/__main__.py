"""`python -m services.registry`: serve the schema registry on settings.registry_port."""

from __future__ import annotations

import sys

import uvicorn

from services.registry.app import create_app
from weir.settings import get_settings


def main() -> int:
    settings = get_settings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.registry_host,
        port=settings.registry_port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    # uvicorn returns normally when startup failed (for example, Kafka was unreachable).
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
