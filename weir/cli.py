"""The `weir` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from weir.errors import WeirError


def _kafka(args: argparse.Namespace) -> int:
    from services.kafka.broker import LocalBroker

    broker = LocalBroker()
    if args.action == "start":
        status = broker.start()
        how = "started" if status.started_here else "already running"
        pid = f" (pid {status.pid})" if status.pid else ""
        print(f"kafka {how} at {status.bootstrap}{pid}, Apache Kafka {status.version}")
    elif args.action == "stop":
        print("kafka stopped" if broker.stop() else "kafka was not running (started by weir)")
    else:
        status = broker.status()
        state = "running" if status.running else "stopped"
        owner = (
            f", pid {status.pid}"
            if status.pid
            else (", not started by weir" if status.running else "")
        )
        print(f"kafka {state} at {status.bootstrap}{owner}")
        return 0 if status.running else 3
    return 0


def _dev(_args: argparse.Namespace) -> int:
    from services.devserver import run_dev

    return run_dev()


def _settings(args: argparse.Namespace) -> int:
    from weir.settings import describe, settings_markdown

    if args.markdown:
        print(settings_markdown(), end="")
        return 0
    for env, kind, default, doc in describe():
        print(f"{env:<28} {kind:<8} {default:<14} {doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weir", description="Weir: durable functions on Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="the local development broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.set_defaults(func=_kafka)

    dev = sub.add_parser("dev", help="start the whole platform locally, in the foreground")
    dev.set_defaults(func=_dev)

    settings = sub.add_parser("settings", help="list every setting with its variable and default")
    settings.add_argument("--markdown", action="store_true", help="print docs/settings.md")
    settings.set_defaults(func=_settings)

    from weir.cli_schemas import add_parser as add_schemas_parser

    add_schemas_parser(sub)  # weir schemas list|show|check

    from weir.cli_runs import add_parser as add_runs_parser

    add_runs_parser(sub)  # weir runs get|list
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.func(args)
    except WeirError as exc:
        print(f"weir: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
