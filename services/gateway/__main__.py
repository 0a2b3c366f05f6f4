"""`python -m services.gateway`: serve the HTTP gateway on settings.gateway_port."""

from __future__ import annotations

import sys

from services.common.loops import share_the_gil_quickly
from services.gateway.server import serve
from weir.errors import WeirError
from weir.settings import get_settings


def main() -> int:
    share_the_gil_quickly()  # the Kafka writer's poll thread resolves the loop's futures
    try:
        return 0 if serve(get_settings()) else 1
    except WeirError as exc:  # a bad setting: say which, do not dump a traceback
        print(f"weir gateway: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
