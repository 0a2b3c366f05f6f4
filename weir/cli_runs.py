"""`weir runs get|list|cancel`: the run API from a shell.

weir runs get <run-id>                      one run as JSON
weir runs list <event-id>                   the runs an event started
weir runs cancel <run-id> [--reason TEXT]   cancel a run (signed with WEIR_SIGNING_KEY)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx

from weir.errors import GatewayUnavailableError
from weir.settings import get_settings
from weir.signing import SIGNATURE_HEADER, signer_from_settings


def _get(path: str) -> tuple[int, Any]:
    url = get_settings().gateway_url.rstrip("/") + path
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        raise GatewayUnavailableError(f"the gateway at {url} did not answer: {exc}") from exc
    return response.status_code, response.json()


def _cancel(run_id: str, reason: str | None) -> tuple[int, Any]:
    settings = get_settings()
    url = settings.gateway_url.rstrip("/") + f"/v1/runs/{run_id}/cancel"
    body = json.dumps({"reason": reason} if reason else {}).encode()
    headers = {"Content-Type": "application/json"}
    signer = signer_from_settings(settings)
    if signer is not None:
        headers[SIGNATURE_HEADER] = signer.sign(body)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise GatewayUnavailableError(f"the gateway at {url} did not answer: {exc}") from exc
    return response.status_code, response.json()


def _runs(args: argparse.Namespace) -> int:
    if args.action == "get":
        status, body = _get(f"/v1/runs/{args.id}")
    elif args.action == "cancel":
        status, body = _cancel(args.id, args.reason)
    else:
        status, body = _get(f"/v1/events/{args.id}/runs")
    print(json.dumps(body, indent=2, sort_keys=False))
    return 0 if status in (200, 202) else 1


def add_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="show runs from the gateway's run API")
    runs.add_argument(
        "action",
        choices=["get", "list", "cancel"],
        help="get RUN_ID | list EVENT_ID | cancel RUN_ID",
    )
    runs.add_argument("id", help="a run id (get, cancel) or an event id (list)")
    runs.add_argument("--reason", help="cancel: why, shown in the run's history")
    runs.set_defaults(func=_runs)
