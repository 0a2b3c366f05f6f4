"""`weir runs get <run-id>` and `weir runs list --event <event-id>`: the run API from a shell."""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx

from weir.errors import GatewayUnavailableError
from weir.settings import get_settings


def _get(path: str) -> tuple[int, Any]:
    url = get_settings().gateway_url.rstrip("/") + path
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        raise GatewayUnavailableError(f"the gateway at {url} did not answer: {exc}") from exc
    return response.status_code, response.json()


def _runs(args: argparse.Namespace) -> int:
    if args.action == "get":
        status, body = _get(f"/v1/runs/{args.id}")
    else:
        status, body = _get(f"/v1/events/{args.id}/runs")
    print(json.dumps(body, indent=2, sort_keys=False))
    return 0 if status == 200 else 1


def add_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="show runs from the gateway's run API")
    runs.add_argument("action", choices=["get", "list"], help="get RUN_ID | list EVENT_ID")
    runs.add_argument("id", help="a run id (get) or an event id (list)")
    runs.set_defaults(func=_runs)
