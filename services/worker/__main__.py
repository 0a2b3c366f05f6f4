"""`python -m services.worker`: run one worker until SIGTERM or SIGINT.

The first signal shuts down gracefully (stop fetching, finish the calls in
flight within ``worker_shutdown_timeout``, commit, close); a second one
abandons the calls still running at once (their tasks are re-delivered).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from services.common.loops import install_fast_policy, share_the_gil_quickly
from services.worker.worker import Worker
from weir.errors import WeirError
from weir.settings import get_settings


async def _serve(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            logging.getLogger("weir.worker.main").info("stopping: finishing the calls in flight")
            worker.stop()
        else:
            worker.abandon()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await worker.run()


def main() -> int:
    settings = get_settings()
    logging.basicConfig(
        level=settings.worker_log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO: one line per call, the worker's own
    # per-task line (DEBUG) says more.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    share_the_gil_quickly()  # the Kafka poll threads hand records to the loop
    install_fast_policy()
    try:
        worker = Worker(settings)
    except WeirError as exc:  # a bad setting: say which, without a traceback
        print(f"weir worker: {exc}", file=sys.stderr)
        return 2
    with asyncio.Runner() as runner:
        runner.run(_serve(worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
