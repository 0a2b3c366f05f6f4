"""The event loop Weir's services run on: uvloop when installed, asyncio's otherwise.

uvloop runs the same callbacks for a fraction of the CPU (its loop, futures
and sockets are C), and every service here is a loop of small callbacks.
"""

from __future__ import annotations

import asyncio
import sys

# How long a thread may hold the GIL while another waits for it. Each service
# pairs its event loop with Kafka client threads (poll loops, Faust's consumer
# loop); at Python's default 5 ms, a record handed from one to the other can
# wait that long at every hop.
GIL_SWITCH_SECONDS = 0.0005


def install_fast_policy() -> None:
    """Make every loop of this process uvloop (when installed), threads' loops included.

    Faust runs its Kafka consumer on a loop of its own in a thread, made with
    ``asyncio.new_event_loop()``; only the policy reaches that one.
    """
    try:
        import uvloop  # optional (the platform extra installs it)
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def share_the_gil_quickly() -> None:
    """Hand the GIL over within GIL_SWITCH_SECONDS (the process-wide switch interval)."""
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
