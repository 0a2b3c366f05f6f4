"""Waits and timers at scale: resume latency, fire lateness, cost per waiting run.

Starts (or reuses) the local broker, then registry, gateway, router and the
app as processes (tests/support/platform.py). It seeds --waiting runs that
wait for an event and --sleeping runs that sleep for an hour, straight into
the router: for each run a StartRun and the outcome of its first call (the
wait or sleep step reached) are written to the results topic, as a worker
would, so seeding does not cost 2 x 100,000 app calls. Then the worker starts
(it skips the seeded first tasks: the router fenced them) and:

  wait resume   --events matching events sent one by one through the gateway at
                --rate/s, each for another waiting run: the gateway's 200 to the
                app's next call of that run (p50/p99)
  timer fire    --fires more sleeping runs whose timers fall due over 20 s while
                the others stay pending: due time to the router recording the
                sleep (p50/p99), and due time to the app's next call
  cost          router RSS, RocksDB and changelog disk, per waiting run

    .venv/bin/python -m bench.waits_timers [--waiting 100000] [--sleeping 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.durable_runs import marks, pct
from services.common.acked import AckedProducer
from services.common.records import HistoryRecord, StartRun, TaskOutcome, dumps
from services.kafka.broker import LocalBroker
from services.router.machine import run_id_for
from tests.support.kafka import read_to_end
from tests.support.platform import Platform
from weir.functions.protocol import PlannedResponse, StepOp

APP = "durable"
Seeded = tuple[str, str, list[bytes]]  # run id, its match key or due time, its commands


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def du_mib(path: Path, contains: str = "") -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        if contains in root:
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 2**20


def seeded(run_id: str, function_id: str, event: dict[str, Any], op: StepOp) -> list[bytes]:
    """The two commands that make a run reach ``op``: its start, its first call's outcome."""
    start = StartRun(run_id=run_id, app_id=APP, function_id=function_id, event=event)
    reached = TaskOutcome(run_id=run_id, seq=0, attempts=1, response=PlannedResponse(steps=[op]))
    return [dumps(start), dumps(reached)]


def waiting_runs(count: int, offset: int, now: int) -> list[Seeded]:
    op = StepOp(
        id="paid",
        name="paid",
        op="wait_for_event",
        opts={"event": "bench/paid", "match": "data.k", "timeout": 3600},
    )
    runs = []
    for i in range(offset, offset + count):
        event = {"name": "bench/wait", "id": f"w{i}", "ts": now, "data": {"k": f"k{i}"}}
        run_id = run_id_for(f"w{i}", APP, "bench-wait")
        runs.append((run_id, f"k{i}", seeded(run_id, "bench-wait", event, op)))
    return runs


def sleeping_runs(dues: list[int], offset: int, now: int) -> list[Seeded]:
    runs = []
    for i, due in enumerate(dues, start=offset):
        until = datetime.fromtimestamp(due / 1000, tz=UTC).isoformat()
        op = StepOp(id="nap", name="nap", op="sleep", opts={"until": until})
        event = {"name": "bench/nap", "id": f"n{i}", "ts": now, "data": {}}
        run_id = run_id_for(f"n{i}", APP, "bench-nap")
        runs.append((run_id, str(due), seeded(run_id, "bench-nap", event, op)))
    return runs


async def write(platform: Platform, runs: list[Seeded]) -> None:
    topic = platform.env["WEIR_TOPIC_PREFIX"] + "results"
    producer = AckedProducer(platform.env["WEIR_KAFKA_BOOTSTRAP"], linger_ms=20)
    for start in range(0, len(runs), 5000):
        chunk = runs[start : start + 5000]
        await producer.write([(topic, r.encode(), v) for r, _, values in chunk for v in values])
    producer.close()


def history(platform: Platform) -> list[HistoryRecord]:
    topic = platform.env["WEIR_TOPIC_PREFIX"] + "runs"
    bootstrap = platform.env["WEIR_KAFKA_BOOTSTRAP"]
    return [HistoryRecord.model_validate_json(m.value()) for m in read_to_end(bootstrap, topic)]


def seed(platform: Platform, runs: list[Seeded], kind: str, step: str) -> float:
    """Write the runs and wait until the router has applied all of them; seconds taken."""
    began = time.monotonic()
    asyncio.run(write(platform, runs))
    wanted = {run_id for run_id, _, _ in runs}
    while time.monotonic() - began < 1800:
        seen = {r.run_id for r in history(platform) if r.type == kind and r.step_id == step}
        if wanted <= seen:
            return time.monotonic() - began
        time.sleep(2)
    raise TimeoutError(f"the router did not apply {len(wanted - seen)} seeded runs")


def cost(platform: Platform, broker: LocalBroker, work: Path) -> tuple[float, float, float]:
    pid = platform.router.proc.pid if platform.router.proc else 0
    changelogs = platform.env["WEIR_ROUTER_ID"]
    return rss_mib(pid), du_mib(work / "router0"), du_mib(broker.data, changelogs)


def resume_phase(
    platform: Platform, timing: Path, runs: list[Seeded], rate: float, quiet: bool = False
) -> None:
    accepted: dict[str, float] = {}
    with httpx.Client(base_url=platform.gateway_url, timeout=10) as http:
        began = time.perf_counter()
        for n, (run_id, key, _) in enumerate(runs):
            pause = began + n / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            answer = http.post("/e/test", json={"name": "bench/paid", "data": {"k": key}})
            answer.raise_for_status()
            accepted[run_id] = time.time()
    seen = wait_marks(timing, set(accepted), 120)
    latency = [(seen[r] - accepted[r]) * 1000 for r in accepted if r in seen]
    resolved = {
        r.run_id: r.ts
        for r in history(platform)
        if r.run_id in accepted and r.type == "step.completed" and r.step_id == "paid"
    }
    matched = [resolved[r] - accepted[r] * 1000 for r in accepted if r in resolved]
    if quiet:
        return
    print(f"wait resume: {len(latency)} of {len(accepted)} matching events at {rate:.0f}/s")
    print(
        f"  event accepted -> next call   p50 {pct(latency, 0.5):6.1f} ms"
        f"   p99 {pct(latency, 0.99):6.1f} ms"
    )
    print(
        f"    of which accepted -> wait resolved in the run (events, router, waits, "
        f"router, results, router): p50 {pct(matched, 0.5):6.1f} ms"
    )


def fire_phase(platform: Platform, timing: Path, runs: list[Seeded], load: float) -> None:
    """Wait for the timers to fire while --load runs/s of a 3-step function keep the
    platform busy."""
    dues = {run_id: int(due) for run_id, due, _ in runs}
    end = max(dues.values()) / 1000
    sent = 0
    with httpx.Client(base_url=platform.gateway_url, timeout=10) as http:
        began = time.time()
        while load > 0 and time.time() < end:
            pause = began + sent / load - time.time()
            if pause > 0:
                time.sleep(pause)
            http.post("/e/test", json={"name": "bench/timed", "data": {}}).raise_for_status()
            sent += 1
    seen = wait_marks(timing, set(dues), end - time.time() + 120)
    fired = {
        r.run_id: r.ts
        for r in history(platform)
        if r.run_id in dues and r.type == "step.completed" and r.step_id == "nap"
    }
    recorded = [fired[r] - dues[r] for r in dues if r in fired]
    called = [seen[r] * 1000 - dues[r] for r in dues if r in seen]
    print(
        f"timer fire: {len(recorded)} of {len(dues)} timers due over 20 s, with {load:.0f} "
        "other runs/s (3 steps each) going through the platform"
    )
    print(
        f"  due -> router fired it    p50 {pct(recorded, 0.5):6.1f} ms"
        f"   p99 {pct(recorded, 0.99):6.1f} ms"
    )
    print(
        f"  due -> app called again   p50 {pct(called, 0.5):6.1f} ms"
        f"   p99 {pct(called, 0.99):6.1f} ms"
    )


def wait_marks(timing: Path, run_ids: set[str], timeout: float) -> dict[str, float]:
    """The first call time of each run, once all have one (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = marks(timing) if timing.exists() else {}
        if run_ids <= set(seen) or time.monotonic() > deadline:
            return {r: min(at for _, at, _ in seen[r]) for r in run_ids if r in seen}
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--sleeping", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--fires", type=int, default=2000)
    parser.add_argument("--load", type=float, default=50, help="other runs/s while timers fire")
    parser.add_argument("--fire-in", type=float, default=30, help="seconds to the first due")
    args = parser.parse_args()
    broker = LocalBroker()
    broker.start()
    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        timing = work / "timing.log"
        platform = Platform(broker.bootstrap, work, DURABLE_APP_TIMING=str(timing))
        try:
            for part in (platform.registry, platform.gateway, platform.router, platform.app):
                part.start()
            time.sleep(3)  # the app's registration reaches the router
            now = int(time.time() * 1000)
            before = cost(platform, broker, work)
            waits = waiting_runs(args.waiting + args.events, 0, now)
            took = seed(platform, waits, "step.waiting", "paid")
            print(f"seeded {len(waits)} waiting runs in {took:.0f} s")
            time.sleep(5)
            after = cost(platform, broker, work)
            per = [(a - b) * 2**20 / len(waits) for a, b in zip(after, before, strict=True)]
            print(
                f"  per waiting run: router RSS {per[0]:.0f} B, RocksDB {per[1]:.0f} B, "
                f"changelog topics {per[2]:.0f} B (router RSS {before[0]:.0f} -> "
                f"{after[0]:.0f} MiB)"
            )

            # The pending hour-long sleeps first, then the ones that fall due soon.
            far = int(time.time() * 1000) + 3_600_000
            pending = sleeping_runs([far] * args.sleeping, 0, now)
            took = seed(platform, pending, "step.sleeping", "nap")
            print(f"seeded {len(pending)} sleeping runs in {took:.0f} s")
            platform.worker.start()
            platform.wait_registered()
            # One resume first: the new worker reads its partitions' backlog (the
            # seeded first tasks, all fenced) before it calls anything.
            resume_phase(platform, timing, waits[args.waiting : args.waiting + 1], 1, quiet=True)

            due0 = int(time.time() * 1000) + int(args.fire_in * 1000)
            soon = [due0 + i * 20_000 // args.fires for i in range(args.fires)]
            naps = sleeping_runs(soon, args.sleeping, now)
            seed(platform, naps, "step.sleeping", "nap")
            if time.time() * 1000 > due0:
                print("  (seeding outlasted the first due time: raise --fire-in)")
            resume_phase(platform, timing, waits[args.waiting + 1 :], args.rate)
            fire_phase(platform, timing, naps, args.load)
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
