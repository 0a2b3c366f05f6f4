"""Every setting of Weir, declared once: type, environment variable, default, doc.

Each field below reads the environment variable ``WEIR_<FIELD NAME>``; the
field's description is its documentation (``weir settings`` prints them all,
and docs/settings.md is generated from the same table). Code never reads
``os.environ`` for a Weir setting directly: it asks :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
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
    registry_host: str = Field(
        default="127.0.0.1", description="Address Weir's schema registry binds."
    )
    registry_url: str = Field(
        default="http://127.0.0.1:8081",
        description="URL of the Confluent-compatible schema registry Weir's clients use "
        "(Weir's own, or Confluent's, Apicurio's or Karapace's). Unset: "
        "http://127.0.0.1:<registry_port>.",
    )
    registry_topic: str = Field(
        default="_schemas",
        description="Compacted single-partition topic where Weir's schema registry keeps "
        "its schemas, configs and modes.",
    )
    registry_timeout: float = Field(
        default=10.0,
        description="Seconds Weir's schema registry waits for Kafka to acknowledge and "
        "replay a write before answering 50002.",
    )
    gateway_port: int = Field(default=8288, description="Port of the HTTP gateway.")

    # -- Gateway (services/gateway, docs/gateway.md) ------------------------------
    events_topic: str = Field(
        default="weir.events",
        description="Kafka topic every event is written to (by the gateway and the SDK).",
    )
    gateway_host: str = Field(default="127.0.0.1", description="Address the HTTP gateway binds.")
    event_keys: str = Field(
        default="",
        description="Comma-separated secret event keys accepted in `POST /e/{key}`. Empty "
        "with dev on: any key is accepted; empty with dev off: every key is refused.",
    )
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024,
        description="Largest request body the gateway reads, in bytes (larger: 413).",
    )
    gateway_max_events: int = Field(
        default=1000, description="Most events one `POST /e/{key}` array may carry (more: 413)."
    )
    gateway_delivery_timeout: float = Field(
        default=10.0,
        description="Seconds the gateway waits for Kafka to acknowledge a request's events "
        "before answering 503 (nothing acknowledged is reported as written).",
    )
    gateway_producers: int = Field(
        default=4,
        description="Transactional producers in the gateway's pool: how many event arrays "
        "can be written at the same time.",
    )
    gateway_linger_ms: float = Field(
        default=1.0,
        description="Milliseconds the gateway's producers wait to fill a batch (latency vs "
        "throughput).",
    )
    gateway_instance: str = Field(
        default="",
        description="Stable name of this gateway instance, part of its Kafka transactional "
        "ids; empty: host name and port. Two running gateways must not share it.",
    )
    gateway_retry_after: int = Field(
        default=5, description="Seconds sent in Retry-After when the gateway answers 503."
    )
    webhooks: str = Field(
        default="{}",
        description="JSON object mapping a webhook source to its event name template, "
        "secret and signature style (see docs/gateway.md).",
    )
    webhook_tolerance: float = Field(
        default=300.0,
        description="Seconds a timestamped webhook signature (Stripe style) stays valid.",
    )
    # -- Events and the SDK (weir/events, weir/transports, docs/events.md) --------
    event_transport: str | None = Field(
        default=None,
        description="Where the SDK sends events: kafka://host:port (direct, Avro), "
        "http(s)://host:port (the gateway) or memory:// (tests). Unset: kafka:// to the "
        "Kafka of kafka_bootstrap (or the local broker).",
    )
    events_partitions: int = Field(
        default=6,
        description="Partitions of events_topic when the SDK has to create it.",
    )
    schema_policy: str = Field(
        default="infer",
        description="What sending an event whose name has no registered schema does: "
        "'infer' (infer one from the data, register it, evolve it compatibly) or 'strict' "
        "(reject with event_schema_unknown).",
    )
    schema_subject_prefix: str = Field(
        default="",
        description="Prefix of every event's registry subject; the subject of event "
        "'shop/cart.added' is '<prefix>shop/cart.added'.",
    )
    event_key: str | None = Field(
        default=None,
        description="Event key the SDK's HTTP transport sends to the gateway (POST /e/{key}); "
        "unset: 'dev'.",
    )
    send_timeout: float = Field(
        default=30.0,
        description="Seconds the SDK waits for Kafka (or the gateway) to acknowledge a send.",
    )
    app_port: int = Field(default=8000, description="Port of the example app under `make dev`.")

    # -- Durable functions: the app endpoint (weir/functions, docs/protocol.md) --
    signing_key: SecretStr | None = Field(
        default=None,
        description="Key (32+ characters) that signs every call between Weir's workers and the "
        "app, every answer, and the app's registration with the gateway (HMAC-SHA256). "
        "Required unless dev is on.",
    )
    signing_key_fallback: SecretStr | None = Field(
        default=None,
        description="Previous signing key, still accepted while a rotation rolls out; "
        "signatures are always made with signing_key.",
    )
    signature_tolerance: float = Field(
        default=300.0,
        description="Seconds a signature's timestamp may differ from the clock, either way, "
        "before it is refused as stale or future.",
    )
    gateway_url: str = Field(
        default="http://127.0.0.1:8288",
        description="Base URL of the gateway the app registers its functions with "
        "(PUT {gateway_url}/v1/apps/{app_id}). Unset: http://127.0.0.1:<gateway_port>.",
    )
    app_url: str | None = Field(
        default=None,
        description="URL where Weir's workers reach this app's function endpoint "
        "(e.g. https://shop.example/api/weir); unset: the URL of the request that asked for "
        "the sync, else http://127.0.0.1:{app_port}{path}.",
    )
    step_output_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        description="Largest JSON output of one step, in bytes (larger: step_output_too_large).",
    )
    run_state_max_bytes: int = Field(
        default=32 * 1024 * 1024,
        description="Largest memoized state of one run (all step outputs), in bytes "
        "(larger: run_state_too_large).",
    )
    run_max_steps: int = Field(
        default=1000,
        description="Most distinct steps one run may reach (more: run_too_many_steps).",
    )

    # -- Durable functions: router and worker ------------------------------------
    topic_prefix: str = Field(
        default="weir.",
        description="Prefix of the platform's own topics (functions, results, runs, fn.<id>).",
    )
    platform_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of the results, runs and per-function task topics. The router's "
        "tables are co-partitioned with them, so change it only on a new deployment.",
    )
    router_datadir: Path | None = Field(
        default=None,
        description="Where the router keeps its RocksDB tables (default: <home>/router).",
    )
    router_id: str = Field(
        default="weir-router",
        description="Faust app id of the router (its consumer group and changelog prefix).",
    )
    router_timer_tick: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description="Seconds between two looks of the router at its due timers, sweeps and "
        "cron ticks: the added lateness of a timer is at most this.",
    )
    wait_lookback: float = Field(
        default=300.0,
        ge=0,
        description="Seconds the wait index remembers events, so that an event accepted after "
        "a run reached a wait step but before the wait was stored still resumes it.",
    )
    cron_catchup: float = Field(
        default=3600.0,
        ge=0,
        description="After downtime, the latest missed cron tick still runs if it is at most "
        "this many seconds old; older missed ticks are skipped.",
    )
    worker_concurrency: int = Field(
        default=200, ge=1, description="Most calls one worker has in flight at once."
    )
    worker_call_timeout: float = Field(
        default=300.0, gt=0, description="Seconds a worker waits for one call of the app."
    )
    worker_allow_private_urls: bool | None = Field(
        default=None,
        description="Let workers call apps on private, loopback or link-local addresses. "
        "Unset: allowed only in dev mode.",
    )
    retry_base_seconds: float = Field(
        default=10.0,
        gt=0,
        description="First retry delay of a failed step; it doubles per attempt (with jitter).",
    )
    retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Cap of the growing retry delay."
    )
    retry_hold_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Retry delays up to this long are waited out by the worker that holds the "
        "task; a longer delay is handed to the router's timers, which keep it across crashes "
        "and free the worker's call slot.",
    )
    worker_group: str | None = Field(
        default=None,
        description="Kafka consumer group of the workers; unset: '<topic_prefix>worker'.",
    )
    worker_instance: str | None = Field(
        default=None,
        description="Static group membership id of this worker (group.instance.id): a worker "
        "restarted under the same id gets its partitions back at once, without a rebalance. "
        "Unique per worker process; unset: dynamic membership.",
    )
    worker_shutdown_timeout: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a stopping worker waits for its in-flight calls; calls still "
        "running then are abandoned and their tasks re-delivered to the next worker.",
    )
    worker_log_level: str = Field(
        default="INFO",
        description="Log level of `python -m services.worker` (DEBUG: one line per task "
        "outcome with its queue delay and call time).",
    )
    worker_session_timeout: float = Field(
        default=10.0,
        ge=6.0,
        description="Seconds without a heartbeat after which Kafka gives a dead worker's "
        "partitions to the others (consumer session.timeout.ms; heartbeats come from a "
        "background thread, so long calls do not delay them).",
    )

    @model_validator(mode="before")
    @classmethod
    def _local_urls_follow_ports(cls, data: Any) -> Any:
        """An unset registry or gateway URL points at the local part on its configured port,
        so moving a port (WEIR_REGISTRY_PORT, WEIR_GATEWAY_PORT) moves every client with it."""
        if isinstance(data, dict):
            for part, default_port in (("registry", 8081), ("gateway", 8288)):
                if data.get(f"{part}_url") is None:
                    port = data.get(f"{part}_port", default_port)
                    data = {**data, f"{part}_url": f"http://127.0.0.1:{port}"}
        return data

    @property
    def bootstrap_servers(self) -> str:
        """Where Kafka clients connect."""
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def settings_markdown() -> str:
    """docs/settings.md, generated from the declarations above (a test keeps it current)."""
    lines = [
        "# Settings",
        "",
        "Generated by `weir settings --markdown` from `weir/settings.py`; do not edit by hand.",
        "Every setting is read from its environment variable.",
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for env, kind, default, doc in describe():
        cells = (f"`{env}`", kind, f"`{default}`", doc)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def describe() -> list[tuple[str, str, str, str]]:
    """(env var, type, default, doc) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        rows.append(
            (f"WEIR_{name.upper()}", annotation, repr(field.default), field.description or "")
        )
    return rows
