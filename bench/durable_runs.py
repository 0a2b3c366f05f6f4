"""Durable functions through the whole platform: latency and throughput.

Starts (or reuses) the local broker, then registry, gateway, router, worker
and an app as separate processes (tests/support/platform.py), signed calls on.

    .venv/bin/python -m bench.durable_runs [--rate 200] [--step-rate 20] [--seconds 15]
                                           [--burst 3000] [--stepwise-burst 0] [--routers 1]
                                           [--idle 0]

Prints:
  idle                     with --idle N: CPU of each process with no load for N s
  accepted -> first call   p50/p99: the gateway's 200 for one event, to the app's
                           first call of the run it starts (single events at --rate/s)
  step transition          p50/p99: a step's end to the handler's next call, both
                           within one call (default checkpoint: quick steps share a
                           call) and through the platform (a function whose every
                           step is its own call, --step-rate/s at the same time)
  where the time goes      p50/p99 of the hops, from the run history
  sustained completions    runs/s of a 3-step no-op, --burst events sent in arrays of
                           100, from the first send to the router's last completion
                           (and --stepwise-burst runs of the every-step function)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.common.records import HistoryRecord
from services.kafka.broker import LocalBroker
from tests.support.kafka import read_to_end
from tests.support.platform import Platform


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def marks(path: Path) -> dict[str, list[tuple[str, float, str]]]:
    """The app's timing marks by key (the event id for the durable runs' functions)."""
    by_key: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        kind, key, at, *rest = line.split(" ")
        by_key[key].append((kind, float(at), rest[0] if rest else ""))
    return by_key


def wait_ends(path: Path, keys: list[str], timeout: float) -> None:
    """Until every run's handler reached its end (reads only what the app appended
    since the last look: the bench shares the two cores it measures)."""
    deadline = time.monotonic() + timeout
    missing = set(keys)
    offset = 0
    while time.monotonic() < deadline:
        with path.open("rb") as log:
            log.seek(offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.decode().splitlines():
            kind, key, *_ = line.split(" ")
            if kind == "end":
                missing.discard(key)
        if not missing:
            return
        time.sleep(1.0)
    raise TimeoutError(f"{len(missing)} runs did not finish in time")


WARM_UP_SECONDS = 3.0


Marks = dict[str, list[tuple[str, float, str]]]


def transitions_of(seen: Marks, keys: list[str]) -> list[float]:
    """ms from each step's end to the handler having its result: in the same call
    (the call went on), or replayed in the next call."""
    gaps = []
    for key in keys:
        events = sorted(seen[key], key=lambda m: m[1])
        for kind, at, name in events:
            if kind == "step":
                back = [t for k, t, n in events if k == "back" and n == name and t >= at]
                if back:
                    gaps.append((back[0] - at) * 1000)
    return gaps


class EventPoster:
    """Sends one event per request over a keep-alive connection, with the standard
    library's client: the load generator shares the two cores it measures, and this
    costs it about half the CPU of a full-featured client."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)

    def __enter__(self) -> EventPoster:
        return self

    def __exit__(self, *_: object) -> None:
        self.connection.close()

    def __call__(self, event: dict[str, object]) -> str:
        """Send ``event``; its id once the gateway accepted it."""
        body = json.dumps(event).encode()
        self.connection.request(
            "POST", "/e/test", body=body, headers={"content-type": "application/json"}
        )
        answer = self.connection.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"the gateway answered {answer.status}: {data!r}")
        return str(json.loads(data)["ids"][0])


def latency_phase(
    platform: Platform,
    timing: Path,
    rate: float,
    step_rate: float,
    seconds: float,
    broker_pid: int | None,
) -> None:
    """Single events at ``rate`` (the 3-step function, default checkpoint) and, between
    them, at ``step_rate`` (the same steps, every step its own call); the first
    WARM_UP_SECONDS are sent but not measured (a fresh platform's first runs pay for
    connections, caches and schema lookups)."""
    accepted: dict[str, float] = {}
    stepwise: list[str] = []
    every = max(1, round(rate / step_rate)) if step_rate > 0 else 0
    interval = 1.0 / rate
    pids = processes(platform, broker_pid)
    cpu_before: dict[str, float] = {}
    with EventPoster(platform.gateway_url) as post:
        began = time.perf_counter()
        n = 0
        while time.perf_counter() - began < seconds + WARM_UP_SECONDS:
            warming = time.perf_counter() - began < WARM_UP_SECONDS
            if not warming and not cpu_before:
                cpu_before = {part: cpu_seconds(pid) for part, pid in pids.items()}
                cpu_before["bench"] = time.process_time()
            due = began + n * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            event_id = post({"name": "bench/timed", "data": {"n": n}})
            if not warming:
                accepted[event_id] = time.time()
            if every and n % every == 0:
                event_id = post({"name": "bench/stepwise", "data": {"n": n}})
                if not warming:
                    stepwise.append(event_id)
            n += 1
    cpu = {part: cpu_seconds(pid) - cpu_before[part] for part, pid in pids.items()}
    cpu["bench"] = time.process_time() - cpu_before["bench"]
    event_ids = list(accepted)
    wait_ends(timing, event_ids + stepwise, timeout=120)
    seen = marks(timing)
    first_call = []
    for event_id in event_ids:
        calls = [at for kind, at, _ in seen[event_id] if kind == "call"]
        first_call.append((min(calls) - accepted[event_id]) * 1000)
    in_call = transitions_of(seen, event_ids)
    achieved = len(event_ids) / seconds
    print(f"single events at {achieved:.0f}/s for {seconds:.0f} s ({len(event_ids)} runs):")
    print(
        f"  accepted -> first call   p50 {pct(first_call, 0.5):6.1f} ms"
        f"   p99 {pct(first_call, 0.99):6.1f} ms"
    )
    print(
        f"  step transition, same call (default checkpoint)   p50 {pct(in_call, 0.5):6.2f} ms"
        f"   p99 {pct(in_call, 0.99):6.2f} ms"
    )
    if stepwise:
        through = transitions_of(seen, stepwise)
        print(
            f"  step transition, next call (every step its own call, {len(stepwise)} runs "
            f"at {len(stepwise) / seconds:.0f}/s meanwhile)   p50 {pct(through, 0.5):6.1f} ms"
            f"   p99 {pct(through, 0.99):6.1f} ms"
        )
    # Read once for both breakdowns: (JSON value, Kafka timestamp) of each record.
    topics = platform.topics
    history = [HistoryRecord.model_validate(v) for v, _ in platform_records(platform, topics.runs)]
    results = platform_records(platform, topics.results)
    hops(platform, accepted, history, results)
    if stepwise:
        step_hops(platform, stepwise, seen, history, results)
    busy = ", ".join(f"{part} {100 * used / seconds:.0f}%" for part, used in cpu.items())
    print(f"  CPU meanwhile (of one core): {busy}; total {100 * sum(cpu.values()) / seconds:.0f}%")


def idle_phase(platform: Platform, seconds: float, broker_pid: int | None) -> None:
    """CPU each process uses with nothing to do: the platform's fixed cost."""
    time.sleep(WARM_UP_SECONDS)  # start-up work (registration, table recovery) settles
    pids = processes(platform, broker_pid)
    before = {part: cpu_seconds(pid) for part, pid in pids.items()}
    time.sleep(seconds)
    used = {part: cpu_seconds(pid) - before[part] for part, pid in pids.items()}
    busy = ", ".join(f"{part} {100 * cpu / seconds:.0f}%" for part, cpu in used.items())
    print(f"idle for {seconds:.0f} s, CPU (of one core): {busy}")


Records = list[tuple[dict[str, Any], float]]


def platform_records(platform: Platform, topic: str) -> Records:
    """Every record of one of the platform's topics: (its JSON value, its Kafka timestamp)."""
    return [
        (json.loads(m.value()), float(m.timestamp()[1]))
        for m in read_to_end(platform.bootstrap, topic)
    ]


def hops(
    platform: Platform,
    accepted: dict[str, float],
    records: list[HistoryRecord],
    results: Records,
) -> None:
    """Medians of each hop, from the run history's timestamps (ms clocks).

    ``accepted`` maps event ids (of the timed function's runs) to when the
    gateway answered. A start through the results topic (when the events topic
    is not co-partitioned with it) is its own hop; a direct start is not."""
    queued = {
        r.run_id: r.ts
        for r in records
        if r.type == "run.queued" and r.function_id == "timed" and r.event_id in accepted
    }
    event_of = {r.run_id: str(r.event_id) for r in records if r.run_id in queued}
    started = {r.run_id: r.ts for r in records if r.type == "run.started" and r.run_id in queued}
    # A start through the results topic: when the router read the event (the StartRun's ts).
    routed = {
        command["run_id"]: command["ts"]
        for command, _ in results
        if command.get("kind") == "start" and command["run_id"] in queued
    }
    to_queue = [queued[r] - accepted[event_of[r]] * 1000 for r in queued]
    dispatch = [started[r] - queued[r] for r in queued if r in started]
    print("  where the time goes (p50 / p99):")
    if routed:
        to_route = [routed[r] - accepted[event_of[r]] * 1000 for r in routed]
        to_start = [queued[r] - routed[r] for r in routed]
        print(
            f"    accepted -> router read the event (events topic, router): "
            f"{statistics.median(to_route):5.1f} / {pct(to_route, 0.99):5.1f} ms"
        )
        print(
            f"    -> router started the run (results topic, router): "
            f"{statistics.median(to_start):5.1f} / {pct(to_start, 0.99):5.1f} ms"
        )
    else:
        print(
            f"    accepted -> router read the event and started the run (events topic, "
            f"router): {statistics.median(to_queue):5.1f} / {pct(to_queue, 0.99):5.1f} ms"
        )
    print(
        f"    run queued -> worker picked the task up (task topic, worker): "
        f"{statistics.median(dispatch):5.1f} / {pct(dispatch, 0.99):5.1f} ms"
    )
    print(
        "    worker -> app call and back: see 'call_time' in the worker's stats line "
        f"({platform.worker.log})"
    )


def step_hops(
    platform: Platform,
    event_ids: list[str],
    seen: Marks,
    history: list[HistoryRecord],
    results: Records,
) -> None:
    """Where a step transition through the platform goes (every-step runs): the
    app's answer to Kafka, the router's turn, and the next call (ms clocks)."""
    wanted = set(event_ids)
    event_of = {
        r.run_id: str(r.event_id)
        for r in history
        if r.type == "run.queued" and r.function_id == "stepwise" and r.event_id in wanted
    }

    def written(records: Records, kind: str) -> dict[tuple[str, int], float]:
        """When each (run, seq) record of ``kind`` was written (its Kafka timestamp)."""
        return {
            (record["run_id"], record["seq"]): ts
            for record, ts in records
            if record.get("kind") == kind and record.get("run_id") in event_of
        }

    outcomes = written(results, "outcome")
    tasks = written(platform_records(platform, platform.topics.task("durable", "stepwise")), "task")
    answer, router, call = [], [], []
    for run_id, event_id in event_of.items():
        marks_of = sorted(seen[event_id], key=lambda m: m[1])
        steps = [(name, at * 1000) for kind, at, name in marks_of if kind == "step"]
        for seq, (name, ended) in enumerate(steps):
            back = [at * 1000 for kind, at, n in marks_of if kind == "back" and n == name]
            out, nxt = outcomes.get((run_id, seq)), tasks.get((run_id, seq + 1))
            if out is None or nxt is None or not back or back[0] < ended:
                continue
            answer.append(out - ended)
            router.append(nxt - out)
            call.append(back[0] - nxt)
    if not answer:
        return
    print("  where a step transition through the platform goes (p50 / p99):")
    for label, values in (
        ("step's end -> its outcome written (app's answer, worker)", answer),
        ("-> next task written (results topic, router)", router),
        ("-> the handler has the result (task topic, worker, app)", call),
    ):
        print(f"    {label}: {pct(values, 0.5):5.1f} / {pct(values, 0.99):5.1f} ms")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes(platform: Platform, broker_pid: int | None) -> dict[str, int]:
    parts = [platform.gateway, *platform.routers, platform.worker, platform.app]
    found = {part.name: part.proc.pid for part in parts}
    if broker_pid is not None:
        found["broker"] = broker_pid
    return found


def throughput_phase(
    platform: Platform, timing: Path, burst: int, function: str, broker_pid: int | None
) -> None:
    """``burst`` runs of one function, sent in arrays of 100; runs/s until the last ends,
    and the CPU each process spent per run meanwhile."""
    name = {"timed": "bench/timed", "stepwise": "bench/stepwise"}[function]
    event_ids: list[str] = []
    pids = processes(platform, broker_pid)
    cpu_before = {part: cpu_seconds(pid) for part, pid in pids.items()}
    began = time.time()
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as http:
        for start in range(0, burst, 100):
            batch = [{"name": name, "data": {"n": i}} for i in range(start, start + 100)]
            answer = http.post("/e/test", json=batch)
            answer.raise_for_status()
            event_ids += answer.json()["ids"]
    sent = time.time() - began
    wait_ends(timing, event_ids, timeout=600)
    cpu = {part: cpu_seconds(pid) - cpu_before[part] for part, pid in pids.items()}
    ended = ended_at(platform, set(event_ids), function)
    elapsed = max(ended.values()) / 1000 - began
    how = "default checkpoint" if function == "timed" else "every step its own call"
    print(
        f"sustained, 3-step no-op ({how}): {burst} runs sent in {sent:.1f} s, "
        f"all completed after {elapsed:.1f} s: {burst / elapsed:.0f} runs/s"
    )
    shares = ", ".join(f"{part} {seconds * 1000 / burst:.2f}" for part, seconds in cpu.items())
    total = sum(cpu.values()) * 1000 / burst
    print(f"  CPU per run (ms): {shares}; total {total:.2f}")


def ended_at(platform: Platform, event_ids: set[str], function: str) -> dict[str, int]:
    """When the router completed each run (ms) of ``function`` that one of ``event_ids``
    started, from the run history; waits for all."""
    deadline = time.monotonic() + 120
    while True:
        ended = {
            r.run_id: r.ts
            for m in read_to_end(platform.bootstrap, platform.topics.runs)
            if (r := HistoryRecord.model_validate_json(m.value())).type == "run.completed"
            and r.function_id == function
            and r.event_id in event_ids
        }
        if len(ended) == len(event_ids) or time.monotonic() > deadline:
            if len(ended) != len(event_ids):
                raise TimeoutError(f"{len(event_ids) - len(ended)} runs did not complete")
            return ended
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument(
        "--step-rate", type=float, default=20, help="every-step runs/s during the latency phase"
    )
    parser.add_argument(
        "--stepwise-burst", type=int, default=0, help="also a sustained phase of every-step runs"
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--routers", type=int, default=1, help="router processes")
    parser.add_argument(
        "--idle", type=float, default=0, help="first measure CPU with no load for this many s"
    )
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temporary folder)")
    args = parser.parse_args()
    broker = LocalBroker().start()
    bootstrap = broker.bootstrap
    with tempfile.TemporaryDirectory() as name:
        work = args.workdir or Path(name)
        work.mkdir(parents=True, exist_ok=True)
        timing = work / "timing.log"
        with Platform(bootstrap, work, DURABLE_APP_TIMING=str(timing)) as platform:
            for _ in range(args.routers - 1):
                platform.add_router()
            if args.routers > 1:
                time.sleep(10)  # the group rebalances and the tables recover
            if args.idle:
                idle_phase(platform, args.idle, broker.pid)
            latency_phase(platform, timing, args.rate, args.step_rate, args.seconds, broker.pid)
            throughput_phase(platform, timing, args.burst, "timed", broker.pid)
            if args.stepwise_burst:
                throughput_phase(platform, timing, args.stepwise_burst, "stepwise", broker.pid)


if __name__ == "__main__":
    main()
