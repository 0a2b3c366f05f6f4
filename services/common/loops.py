"""The event loop Weir's services run on: uvloop when installed, asyncio's otherwise.

uvloop runs the same callbacks for a fraction of the CPU (its loop, futures
and sockets are C), and every service here is a loop of small callbacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop for a service."""
    try:
        import uvloop  # optional (the platform extra installs it)
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def install_fast_policy() -> None:
    """Make every loop of this process uvloop (when installed), threads' loops included.

    Faust runs its Kafka consumer on a loop of its own in a thread, made with
    ``asyncio.new_event_loop()``; only the policy reaches that one.
    """
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
