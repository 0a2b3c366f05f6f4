"""`python -m services.router`: run one router process (Faust worker).

Start-up order matters: the platform topics exist and the registrations are
read to the end before the agents consume a single event, so an event is
never routed against a half-loaded set of functions.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import faust

from services.common.loops import install_fast_policy, share_the_gil_quickly
from services.common.provision import ensure_topics, partition_count, platform_topics, task_topic
from services.common.topics import Topics
from services.router.app import Router
from services.router.decoding import EventDecoder
from services.router.registrations import RegistrationFollower, RegistrationIndex
from services.router.wait_paths import WaitPaths
from weir.client import Weir
from weir.events.registry import HttpSchemaRegistry
from weir.functions.protocol import AppRegistration
from weir.settings import get_settings

log = logging.getLogger("weir.router")


class ProvisioningIndex(RegistrationIndex):
    """Creates each registered function's task topic before routing to it."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.topics = topics

    def apply(self, app_id: str, registration: AppRegistration | None) -> None:
        if registration is not None:
            ensure_topics(
                self.bootstrap,
                [task_topic(self.topics, app_id, fn.id) for fn in registration.functions],
            )
        super().apply(app_id, registration)


def direct_starts(bootstrap: str, topics: Topics) -> bool:
    """Whether runs can start where their events are read (see services/router/app.py)."""
    events = partition_count(bootstrap, topics.events)
    if events == topics.partitions:
        return True
    log.warning(
        "%s has %d partitions, the platform's topics %d: every start takes a trip "
        "through %s (one Kafka hop more); give the events topic %d partitions to avoid it",
        topics.events,
        events,
        topics.partitions,
        topics.results,
        topics.partitions,
    )
    return False


def main() -> int:
    settings = get_settings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per registry lookup
    topics = Topics(settings)
    bootstrap = settings.bootstrap_servers
    ensure_topics(bootstrap, platform_topics(topics))
    index = ProvisioningIndex(bootstrap, topics)
    follower = RegistrationFollower(bootstrap, topics.functions, index)
    follower.start(wait=30)
    wait_paths = WaitPaths(index)
    paths_follower = wait_paths.follower(bootstrap, topics.wait_paths)
    paths_follower.start(wait=30)
    registry = HttpSchemaRegistry(settings.registry_url)
    emitter = Weir(app_id="weir-router", transport=f"kafka://{bootstrap}", registry=registry)
    router = Router(
        settings,
        index,
        EventDecoder(registry),
        emitter,
        wait_paths,
        direct_starts=direct_starts(bootstrap, topics),
    )
    share_the_gil_quickly()
    install_fast_policy()  # Faust's consumer thread makes its own loop
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = faust.Worker(router.app, loglevel="INFO", quiet=True, loop=loop)
    try:
        worker.execute_from_commandline()
    finally:
        follower.stop()
        paths_follower.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
