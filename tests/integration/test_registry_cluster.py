"""Registry processes on one topic: kill -9 and restart, and two processes at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from services.registry.registry import Claim, SchemaRegistry, SchemaRequest
from services.registry.state import RegistryState
from services.registry.store import KafkaLog
from services.registry.testing import RegistryProcess
from tests.support.kafka import Topics, unique

pytestmark = pytest.mark.kafka


def record(name: str, *extra: str) -> dict[str, str]:
    fields = [{"name": "id", "type": "string"}]
    fields += [{"name": f, "type": ["null", "string"], "default": None} for f in extra]
    return {"schema": json.dumps({"type": "record", "name": name, "fields": fields})}


def snapshot(url: str) -> dict[str, Any]:
    """Everything a client can read: subjects, versions, ids, schemas, configs."""
    view: dict[str, Any] = {"versions": {}, "live": {}, "ids": {}}
    with httpx.Client(base_url=url) as http:
        view["config"] = http.get("/config").json()
        for subject in http.get("/subjects?deleted=true").json():
            path = "/subjects/" + subject.replace("/", "%2F")
            numbers = http.get(f"{path}/versions?deleted=true").json()
            bodies = [http.get(f"{path}/versions/{n}?deleted=true").json() for n in numbers]
            view["versions"][subject] = bodies
            view["live"][subject] = http.get(f"{path}/versions").json()
            for body in bodies:
                view["ids"][body["id"]] = http.get(f"/schemas/ids/{body['id']}").json()
    return view


@pytest.fixture
def topic(topics: Topics) -> str:
    name = unique("_schemas")
    topics.created.append(name)
    return name


@pytest.fixture
def two(kafka_bootstrap: str, topic: str) -> Iterator[tuple[RegistryProcess, RegistryProcess]]:
    with RegistryProcess(kafka_bootstrap, topic) as a, RegistryProcess(kafka_bootstrap, topic) as b:
        yield a, b


def test_kill_9_and_restart_keeps_every_id_and_version(kafka_bootstrap: str, topic: str) -> None:
    first = RegistryProcess(kafka_bootstrap, topic).start()
    try:
        with httpx.Client(base_url=first.url) as http:
            for n, subject in enumerate(["shop%2Fcart.added", "users", "orders"]):
                http.post(f"/subjects/{subject}/versions", json=record(f"R{n}"))
                http.post(f"/subjects/{subject}/versions", json=record(f"R{n}", "note"))
            http.post("/subjects/copy/versions", json=record("R1"))  # shares id with users v1
            http.put("/config", json={"compatibility": "FULL"})
            http.put("/config/users", json={"compatibility": "NONE"})
            http.delete("/subjects/orders/versions/1")
            http.post("/subjects/gone/versions", json=record("Gone"))  # holds the highest id
            top = http.get("/subjects/gone/versions/1").json()["id"]
            http.delete("/subjects/gone")
            http.delete("/subjects/gone?permanent=true")
        before = snapshot(first.url)
    finally:
        first.kill()  # SIGKILL: no shutdown, no flush

    with RegistryProcess(kafka_bootstrap, topic, port=first.port) as second:
        assert snapshot(second.url) == before
        with httpx.Client(base_url=second.url) as http:
            new = http.post("/subjects/fresh/versions", json=record("Fresh")).json()["id"]
            again = http.post("/subjects/users/versions", json=record("R1")).json()["id"]
    assert new == top + 1  # the permanently deleted schema's id is not handed out again
    assert again == before["versions"]["users"][0]["id"]
    assert before["config"] == {"compatibilityLevel": "FULL"}
    assert before["live"]["orders"] == [2]
    assert before["versions"]["shop/cart.added"][1]["version"] == 2


def test_two_registries_answer_alike(two: tuple[RegistryProcess, RegistryProcess]) -> None:
    a, b = two
    with httpx.Client(base_url=a.url) as via_a, httpx.Client(base_url=b.url) as via_b:
        made = via_a.post("/subjects/shop%2Fcart.added/versions", json=record("Cart")).json()["id"]
        # b has not been told; it catches up with the log when it finds nothing.
        assert via_b.get(f"/schemas/ids/{made}").json() == via_a.get(f"/schemas/ids/{made}").json()
        latest = via_b.get("/subjects/shop%2Fcart.added/versions/latest").json()
        assert (latest["id"], latest["version"]) == (made, 1)
        assert via_b.post("/subjects/other/versions", json=record("Cart")).json() == {"id": made}
        assert via_a.get(f"/schemas/ids/{made}/subjects").json() == ["other", "shop/cart.added"]


def test_concurrent_registrations_through_two_registries_never_share_an_id(
    two: tuple[RegistryProcess, RegistryProcess],
) -> None:
    a, b = two
    for registry in two:
        httpx.put(
            f"{registry.url}/config/shared", json={"compatibility": "NONE"}
        ).raise_for_status()
    local = threading.local()

    def register(job: tuple[int, str]) -> tuple[str, int, str]:
        n, subject = job
        url = (a if n % 2 else b).url
        if not hasattr(local, "http"):
            local.http = {}
        http = local.http.setdefault(url, httpx.Client(base_url=url, timeout=30))
        answer = http.post(f"/subjects/{subject}/versions", json=record(f"S{n}"))
        assert answer.status_code == 200, answer.text
        return subject, answer.json()["id"], f"S{n}"

    # Own subjects race for ids; the shared subject also races for versions.
    jobs = [(n, f"own-{n}") for n in range(24)] + [(n, "shared") for n in range(24, 36)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(register, jobs))

    ids_by_name = {name: schema_id for _subject, schema_id, name in results}
    assert len(set(ids_by_name.values())) == len(jobs)  # one id per distinct schema
    view_a, view_b = snapshot(a.url), snapshot(b.url)
    assert view_a == view_b
    assert [v["version"] for v in view_a["versions"]["shared"]] == list(range(1, 13))
    for schema_id, body in view_a["ids"].items():
        name = json.loads(body["schema"])["name"]
        assert ids_by_name[name] == schema_id  # every id names the schema it was answered for


def test_a_lost_race_is_decided_by_topic_order_and_retried(
    kafka_bootstrap: str, topic: str
) -> None:
    """Two registries plan the same id and version before either claims; the first claim wins."""
    registries = []
    for _ in range(2):
        state = RegistryState()
        log = KafkaLog(kafka_bootstrap, topic, state)
        log.start()
        registries.append(SchemaRegistry(log, state, timeout=10))
    first, second = registries
    try:
        first.set_config("s", "NONE")  # A and B are unrelated records
        wanted = {n: SchemaRequest(record(n)["schema"]) for n in ("A", "B")}
        plans: list[Claim] = []
        for registry, name in ((first, "A"), (second, "B")):
            registry.log.sync()
            with registry.state.lock:
                plan = registry._plan("s", wanted[name], registry._parse(wanted[name]))
            assert isinstance(plan, Claim)
            plans.append(plan)
        assert [(p.schema_id, p.version) for p in plans] == [(1, 1), (1, 1)]
        assert first._try_claim(plans[0], explicit=False) == (1, 1)
        assert second._try_claim(plans[1], explicit=False) is None  # lost: first in the topic won
        assert second.register("s", wanted["B"]) == (2, 2)  # retried with fresh numbers
        for registry in registries:
            registry.log.sync()
            assert [e.schema_id for e in registry.state.versions("s", deleted=False)] == [1, 2]
            assert registry.state.reservations == {}  # every claim was released
    finally:
        for registry in registries:
            registry.log.close()
