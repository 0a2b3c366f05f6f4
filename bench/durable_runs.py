"""Durable functions through the whole platform: latency and throughput.

Starts (or reuses) the local broker, then registry, gateway, router, worker
and an app as separate processes (tests/support/platform.py), signed calls on.

    .venv/bin/python -m bench.durable_runs [--rate 200] [--seconds 15] [--burst 3000]

Prints:
  accepted -> first call   p50/p99: the gateway's 200 for one event, to the app's
                           first call of the run it starts (single events at --rate/s)
  step transition          p50/p99: a step's result returned by the app, to the
                           next call of the function
  where the time goes      medians of the hops, from the run history
  sustained completions    runs/s of a 3-step no-op, --burst events sent in arrays of 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

from services.common.records import HistoryRecord
from services.kafka.broker import LocalBroker
from services.router.machine import run_id_for
from tests.support.kafka import read_to_end
from tests.support.platform import Platform


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def marks(path: Path) -> dict[str, list[tuple[str, float, str]]]:
    by_run: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        kind, run_id, at, *rest = line.split(" ")
        by_run[run_id].append((kind, float(at), rest[0] if rest else ""))
    return by_run


def wait_calls(path: Path, run_ids: list[str], calls: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = marks(path) if path.exists() else {}
        if all(sum(1 for k, _, _ in seen.get(r, []) if k == "call") >= calls for r in run_ids):
            return
        time.sleep(0.5)
    raise TimeoutError("runs did not finish in time")


WARM_UP_SECONDS = 3.0


def latency_phase(platform: Platform, timing: Path, rate: float, seconds: float) -> None:
    """Single events at ``rate``; the first WARM_UP_SECONDS are sent but not measured
    (a fresh platform's first runs pay for connections, caches and schema lookups)."""
    accepted: dict[str, float] = {}
    interval = 1.0 / rate
    with httpx.Client(base_url=platform.gateway_url, timeout=10) as http:
        began = time.perf_counter()
        n = 0
        while time.perf_counter() - began < seconds + WARM_UP_SECONDS:
            warming = time.perf_counter() - began < WARM_UP_SECONDS
            due = began + n * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            answer = http.post("/e/test", json={"name": "bench/timed", "data": {"n": n}})
            answer.raise_for_status()
            if not warming:
                accepted[run_id_for(answer.json()["ids"][0], "durable", "timed")] = time.time()
            n += 1
    run_ids = list(accepted)
    wait_calls(timing, run_ids, 4, timeout=120)
    seen = marks(timing)
    first_call, transitions = [], []
    for run_id in run_ids:
        events = sorted(seen[run_id], key=lambda m: m[1])
        calls = [at for kind, at, _ in events if kind == "call"]
        first_call.append((calls[0] - accepted[run_id]) * 1000)
        for kind, at, _ in events:
            if kind == "step":
                later = [c for c in calls if c > at]
                if later:
                    transitions.append((later[0] - at) * 1000)
    achieved = len(run_ids) / seconds
    print(f"single events at {achieved:.0f}/s for {seconds:.0f} s ({len(run_ids)} runs):")
    print(
        f"  accepted -> first call   p50 {pct(first_call, 0.5):6.1f} ms"
        f"   p99 {pct(first_call, 0.99):6.1f} ms"
    )
    print(
        f"  step transition          p50 {pct(transitions, 0.5):6.1f} ms"
        f"   p99 {pct(transitions, 0.99):6.1f} ms"
    )
    hops(platform, accepted)


def hops(platform: Platform, accepted: dict[str, float]) -> None:
    """Medians of each hop, from the run history's timestamps (ms clocks)."""
    topic = platform.env["WEIR_TOPIC_PREFIX"] + "runs"
    records = [
        HistoryRecord.model_validate_json(m.value())
        for m in read_to_end(platform.env["WEIR_KAFKA_BOOTSTRAP"], topic)
    ]
    queued = {r.run_id: r.ts for r in records if r.type == "run.queued"}
    started = {r.run_id: r.ts for r in records if r.type == "run.started"}
    route = [queued[r] - accepted[r] * 1000 for r in accepted if r in queued]
    dispatch = [started[r] - queued[r] for r in accepted if r in queued and r in started]
    print("  where the time goes (p50 / p99):")
    print(
        f"    accepted -> router started the run (events topic, router, results topic, "
        f"router): {statistics.median(route):5.1f} / {pct(route, 0.99):5.1f} ms"
    )
    print(
        f"    run queued -> worker picked the task up (task topic, worker): "
        f"{statistics.median(dispatch):5.1f} / {pct(dispatch, 0.99):5.1f} ms"
    )
    print(
        "    worker -> app call and back: see 'call_time' in the worker's stats line "
        f"({platform.worker.log})"
    )


def throughput_phase(platform: Platform, timing: Path, burst: int) -> None:
    run_ids: list[str] = []
    began = time.time()
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as http:
        for start in range(0, burst, 100):
            batch = [{"name": "bench/timed", "data": {"n": i}} for i in range(start, start + 100)]
            answer = http.post("/e/test", json=batch)
            answer.raise_for_status()
            run_ids += [run_id_for(i, "durable", "timed") for i in answer.json()["ids"]]
    sent = time.time() - began
    wait_calls(timing, run_ids, 4, timeout=600)
    seen = marks(timing)
    last = max(max(at for kind, at, _ in seen[r] if kind == "call") for r in run_ids)
    elapsed = last - began
    print(
        f"sustained: {burst} runs of a 3-step no-op (4 calls each) sent in {sent:.1f} s, "
        f"all completed after {elapsed:.1f} s: {burst / elapsed:.0f} runs/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temporary folder)")
    args = parser.parse_args()
    bootstrap = LocalBroker().start().bootstrap
    with tempfile.TemporaryDirectory() as name:
        work = args.workdir or Path(name)
        work.mkdir(parents=True, exist_ok=True)
        timing = work / "timing.log"
        with Platform(bootstrap, work, DURABLE_APP_TIMING=str(timing)) as platform:
            latency_phase(platform, timing, args.rate, args.seconds)
            throughput_phase(platform, timing, args.burst)


if __name__ == "__main__":
    main()
