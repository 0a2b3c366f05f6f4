"""The gateway's platform API: app registration and the run API.

    PUT    /v1/apps/{app_id}         an app registers its functions (signed by the app)
    DELETE /v1/apps/{app_id}         remove an app (signed)
    GET    /v1/runs/{run_id}         one run as JSON
    POST   /v1/runs/{run_id}/cancel  cancel a run between its steps (signed)
    GET    /v1/events/{event_id}/runs  the runs an event started

Registrations are written to the compacted functions topic, one record per
app keyed by app id, after every function's task topic exists; the answer is
sent once Kafka acknowledged the record. Runs come from the run history view
(services/runs), which follows the runs topic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.common.provision import ensure_topics, platform_topics, task_topic
from services.common.records import CancelRun, dumps
from services.common.topics import Topics
from services.runs.store import RunFollower, RunView
from weir.errors import (
    BrokerUnavailableError,
    ConfigError,
    RegistrationInvalidError,
    RequestMalformedError,
    RunEndedError,
    RunNotFoundError,
)
from weir.functions.protocol import AppRegistration
from weir.settings import Settings
from weir.signing import SIGNATURE_HEADER, Signer, signer_from_settings


@dataclass
class PlatformApi:
    bootstrap: str
    topics: Topics
    runs: RunView
    signer: Signer | None  # None: dev mode, registrations are not signed
    producer: Producer | None = None
    follower: RunFollower | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PlatformApi:
        signer = None
        if not settings.dev:
            if not settings.signing_key:
                raise ConfigError(
                    "the gateway needs WEIR_SIGNING_KEY to verify app registrations "
                    "(or WEIR_DEV=1 for local development)"
                )
            signer = signer_from_settings(settings)
        return cls(
            bootstrap=settings.bootstrap_servers,
            topics=Topics(settings),
            runs=RunView(),
            signer=signer,
        )

    async def open(self) -> None:
        """Create the platform topics (Kafka may still be starting: retry) and follow runs."""
        for attempt in range(30):
            try:
                await asyncio.to_thread(ensure_topics, self.bootstrap, platform_topics(self.topics))
                break
            except BrokerUnavailableError:
                if attempt == 29:
                    raise
                await asyncio.sleep(1)
        self.producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                # Run-keyed records must land in their run's partition (Java's hash).
                "partitioner": "murmur2_random",
            }
        )
        self.follower = RunFollower(self.bootstrap, self.topics.runs, self.runs)
        self.follower.start()

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self.producer is not None:
            self.producer.flush(10)

    async def write_registration(self, app_id: str, value: bytes | None) -> None:
        await self.write(self.topics.functions, app_id.encode(), value)

    async def write(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Write one record; return once Kafka acknowledged it."""
        producer = self.producer
        if producer is None:
            raise BrokerUnavailableError("the gateway is not connected to Kafka yet")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                loop.call_soon_threadsafe(done.set_result, None)
            else:
                failure = BrokerUnavailableError(f"{topic}: not written: {err.str()}")
                loop.call_soon_threadsafe(done.set_exception, failure)

        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        await asyncio.to_thread(producer.flush, 30)
        await asyncio.wait_for(done, timeout=1)


def install_platform_api(app: FastAPI, api: PlatformApi) -> None:
    async def _verified_body(request: Request) -> bytes:
        body = await request.body()
        if api.signer is not None:
            api.signer.verify(body, request.headers.get(SIGNATURE_HEADER))
        return body

    @app.put("/v1/apps/{app_id}", summary="Register an app's functions (signed by the app)")
    async def register_app(app_id: str, request: Request) -> Response:
        body = await _verified_body(request)
        try:
            registration = AppRegistration.model_validate_json(body)
        except ValidationError as exc:
            raise RegistrationInvalidError(
                "not a valid registration", detail={"errors": _errors(exc)}
            ) from None
        if registration.app_id != app_id:
            raise RequestMalformedError(
                f"the path names app {app_id!r} but the body registers {registration.app_id!r}"
            )
        await asyncio.to_thread(
            ensure_topics,
            api.bootstrap,
            [task_topic(api.topics, app_id, fn.id) for fn in registration.functions],
        )
        await api.write_registration(app_id, registration.model_dump_json().encode())
        return JSONResponse(
            {"app_id": app_id, "functions": [fn.id for fn in registration.functions]}
        )

    @app.delete("/v1/apps/{app_id}", summary="Remove an app and its functions (signed)")
    async def remove_app(app_id: str, request: Request) -> Response:
        await _verified_body(request)
        await api.write_registration(app_id, None)
        return JSONResponse({"app_id": app_id, "removed": True})

    @app.get("/v1/runs/{run_id}", summary="One run: status, steps and output")
    async def get_run(run_id: str) -> Response:
        run = api.runs.run(run_id)
        if run is None:
            raise RunNotFoundError(f"no run {run_id!r} (yet)", detail={"run_id": run_id})
        return JSONResponse(run)

    @app.post(
        "/v1/runs/{run_id}/cancel",
        summary="Cancel a run between its steps (signed like registrations)",
        status_code=202,
    )
    async def cancel_run(run_id: str, request: Request) -> Response:
        body = await _verified_body(request)
        try:
            given = CancelRequest.model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise RequestMalformedError(
                "not a valid cancel request", detail={"errors": _errors(exc)}
            ) from None
        run = api.runs.run(run_id)
        if run is None:
            raise RunNotFoundError(f"no run {run_id!r} (yet)", detail={"run_id": run_id})
        if run["status"] in ("completed", "failed", "cancelled"):
            raise RunEndedError(
                f"run {run_id} has ended ({run['status']})", detail={"run_id": run_id}
            )
        command = CancelRun(run_id=run_id, reason=given.reason or "cancelled through the API")
        await api.write(api.topics.results, run_id.encode(), dumps(command))
        return JSONResponse({"run_id": run_id, "cancelling": True}, status_code=202)

    @app.get("/v1/events/{event_id}/runs", summary="The runs an event started")
    async def get_event_runs(event_id: str) -> Response:
        return JSONResponse({"event_id": event_id, "runs": api.runs.runs_of_event(event_id)})


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
