"""`python -m examples.shop`: serve the example app with uvicorn on WEIR_APP_PORT."""

from __future__ import annotations

import uvicorn

from weir.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run("examples.shop.app:app", host="127.0.0.1", port=settings.app_port, log_level="info")


if __name__ == "__main__":
    main()
