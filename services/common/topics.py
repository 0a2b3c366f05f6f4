"""Names of the topics the platform owns, derived from the settings in one place."""

from __future__ import annotations

import re

from weir.settings import Settings

_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]")


def function_key(app_id: str, function_id: str) -> str:
    """Platform-wide id of a function: function ids are unique within an app only."""
    return f"{app_id}/{function_id}"


class Topics:
    """The platform's topics for one deployment."""

    def __init__(self, settings: Settings) -> None:
        prefix = settings.topic_prefix
        self.events = settings.events_topic
        self.events_partitions = settings.events_partitions
        self.functions = prefix + "functions"
        self.results = prefix + "results"
        self.runs = prefix + "runs"
        self.waits = prefix + "waits"
        self.wait_paths = prefix + "wait-paths"
        self.partitions = settings.platform_partitions
        self.task_prefix = prefix + "fn."

    def task(self, app_id: str, function_id: str) -> str:
        return self.task_prefix + _UNSAFE.sub("_", f"{app_id}.{function_id}")

    @property
    def task_pattern(self) -> str:
        """Regex subscription of the worker: every function's task topic."""
        return "^" + re.escape(self.task_prefix) + ".*"
