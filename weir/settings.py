"""Every setting of Weir, declared once: type, environment variable, default, doc.

Each field below reads the environment variable ``WEIR_<FIELD NAME>``; the
field's description is its documentation (``weir settings`` prints them all,
and docs/settings.md is generated from the same table). Code never reads
``os.environ`` for a Weir setting directly: it asks :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIR_", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path(".weir"),
        description="Folder for local data and logs (broker storage, state stores, pid files).",
    )
    dev: bool = Field(
        default=False,
        description="Development mode. Only a true value (1, true, yes, on) turns it on.",
    )

    # -- Kafka -----------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Bootstrap servers of an existing Kafka cluster. When unset, the local "
        "development broker at kafka_host:kafka_port is used.",
    )
    kafka_version: str = Field(
        default="4.1.1",
        description="Apache Kafka version of the local development broker (any 4.x or 3.9.x).",
    )
    kafka_host: str = Field(default="127.0.0.1", description="Address the local broker binds.")
    kafka_port: int = Field(default=9092, description="Client port of the local broker.")
    kafka_controller_port: int = Field(
        default=9093, description="KRaft controller port of the local broker."
    )
    kafka_heap: str = Field(default="768m", description="JVM heap (-Xmx) of the local broker.")
    kafka_start_timeout: float = Field(
        default=60.0, description="Seconds to wait for the local broker to answer metadata."
    )
    java: str = Field(
        default="java",
        description="Java 17+ executable for the local broker; JAVA_HOME/bin/java is used "
        "when this is left at 'java' and JAVA_HOME is set.",
    )
    maven: str = Field(default="mvn", description="Maven executable that fetches broker jars.")

    # -- Ports of the other parts ------------------------------------------------
    registry_port: int = Field(default=8081, description="Port of the schema registry.")
    gateway_port: int = Field(default=8288, description="Port of the HTTP gateway.")
    app_port: int = Field(default=8000, description="Port of the example app under `make dev`.")

    @property
    def bootstrap_servers(self) -> str:
        """Where Kafka clients connect."""
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def describe() -> list[tuple[str, str, str, str]]:
    """(env var, type, default, doc) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        rows.append(
            (f"WEIR_{name.upper()}", annotation, repr(field.default), field.description or "")
        )
    return rows
