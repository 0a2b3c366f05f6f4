"""`weir dev`: start every part of the platform locally and stay in the foreground.

The dev server starts what is not already running, prints where each part
listens, and on Ctrl-C (SIGINT) or SIGTERM stops exactly what it started:
a broker that was already running before `weir dev` is left alone.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

from services.kafka.broker import LocalBroker
from weir.settings import Settings, get_settings


def run_dev(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    began = time.monotonic()
    broker = LocalBroker(settings)
    status = broker.start()
    ready = time.monotonic() - began
    how = "started" if status.started_here else "already running"
    print(f"weir dev: ready in {ready:.1f}s", flush=True)
    print(f"  kafka     {status.bootstrap}  (Apache Kafka {status.version}, {how})", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pid = broker.status().pid
            if status.started_here and pid is None:
                print("weir dev: the broker exited; see " + str(broker.logfile), file=sys.stderr)
                return 1
    finally:
        if status.started_here:
            print("weir dev: stopping kafka", flush=True)
            broker.stop()
    print("weir dev: stopped", flush=True)
    return 0
