"""The run side under load: real PostgreSQL, Redis, a Celery worker with 2 processes and Daphne.

    .venv/bin/python bench/runs.py [--chains 5] [--runs 100]

Prints:
1. per-step overhead of a 40-node chain of ``transform`` steps (wall ÷ 40), and of a 40-node
   chain of ``worker`` steps on the offline ``local/echo`` model (the path every model call
   takes), beside the floor: a bare Celery chain of 40 no-op tasks (Celery's built-in
   ``celery.accumulate``) on the same broker;
2. throughput in steps per second with 100 concurrent 5-node runs;
3. latency from a step's state change (the event's timestamp, taken inside the transaction
   that makes the change) to the event arriving at a WebSocket client: p50 and p99.

``--profile N`` instead drives N runs of the 40-node worker chain in this process with the
workers' own task body (``orchestrator.execution.execute_step``), no Celery between the steps:
SQL statements (round trips) and commits counted and timed per step, then the same under
cProfile.

It needs PostgreSQL at 127.0.0.1:5432 (it creates and migrates the database ``flowbench``) and
Redis at 127.0.0.1:6379 (it uses db 6 and empties it first). ``BENCH_DATABASE_URL`` and
``BENCH_REDIS_URL`` pick others (so two benchmarks, or a benchmark and the tests, can share a
machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")


def chain_graph(length: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "input", "config": {}}]
    nodes += [
        {"id": f"n{i}", "type": "transform", "config": {"template": "{{ upstream }}."}}
        for i in range(1, length - 1)
    ]
    nodes.append({"id": f"n{length - 1}", "type": "output", "config": {}})
    edges = [{"id": f"e{i}", "source": f"n{i}", "target": f"n{i + 1}"} for i in range(length - 1)]
    return {"nodes": nodes, "edges": edges}


def worker_chain_graph(length: int) -> dict[str, Any]:
    """input → ``worker`` steps on the offline local model → output."""
    graph = chain_graph(length)
    for node in graph["nodes"][1:-1]:
        node["type"] = "worker"
        node["config"] = {"model": "local/echo", "role": "Relay", "stream": False}
    return graph


def latency_graph() -> dict[str, Any]:
    """A slow model step first (so the client is surely listening), then 40 quick steps."""
    graph = chain_graph(42)
    graph["nodes"][1] = {
        "id": "n1",
        "type": "worker",
        "config": {"model": "openai/slow", "instructions": "{{ input }}", "stream": False},
    }
    return graph


def prepare_database(database_url: str = DATABASE_URL, redis_url: str = REDIS_URL) -> None:
    """Create the bench's database if it is missing and migrate it (every bench script's)."""
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    server = urlunsplit(urlsplit(database_url)._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as db:
        exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
    )


FINISHED = ("succeeded", "failed", "cancelled")


def wait_for(runs: list[Any], timeout: float) -> None:
    from orchestrator.models import Run

    ids = [run.pk for run in runs]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = Run.objects.filter(pk__in=ids).exclude(status__in=FINISHED)
        if not left.exists():
            failed = Run.objects.filter(pk__in=ids).exclude(status="succeeded").count()
            if failed:
                raise SystemExit(f"{failed} run(s) did not succeed")
            return
        time.sleep(0.02)
    raise SystemExit(f"runs did not finish in time: {stuck(ids)}")


def stuck(ids: list[Any]) -> str:
    """What the unfinished runs are waiting for (to tell a lost message from a slow machine)."""
    from orchestrator.models import Step

    rows = (
        Step.objects.filter(run_id__in=ids)
        .exclude(run__status__in=("succeeded", "failed", "cancelled"))
        .values_list("run_id", "key", "status")
    )
    return ", ".join(f"{run_id}:{key}={status}" for run_id, key, status in rows[:20])


def step_overhead(workflow: Any, user: Any, repeat: int, length: int = 40) -> list[float]:
    from orchestrator import runs
    from orchestrator.models import Run

    samples = []
    for _ in range(repeat):
        started = time.time()
        run = runs.start_run(workflow, {}, actor=user, via="command")
        wait_for([run], 120)
        # From the start to the moment the worker's last transaction ended it (same machine,
        # same clock), not to when the table was next read here: that came up to 20 ms later,
        # 0.25 ms a step on average, where the floor is told of its chain's end over Redis.
        finished = Run.objects.values_list("finished_at", flat=True).get(pk=run.pk)
        wall = finished.timestamp() - started
        assert Run.objects.get(pk=run.pk).steps.count() == length
        samples.append(wall / length)
    return samples


def celery_floor(repeat: int) -> list[float]:
    from celery import Celery, chain

    app = Celery("bench-floor", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = True
    samples = []
    for _ in range(repeat):
        # The worker runs celery.accumulate (a built-in that returns its arguments): a no-op.
        work = chain(
            *(
                app.signature("celery.accumulate", args=(i,)).set(ignore_result=False)
                for i in range(40)
            )
        )
        started = time.perf_counter()
        work.apply_async().get(timeout=60)
        samples.append((time.perf_counter() - started) / 40)
    return samples


def throughput(workflow: Any, user: Any, count: int) -> tuple[float, float]:
    from orchestrator import runs

    started = time.perf_counter()
    runs = [runs.start_run(workflow, {}, actor=user, via="command") for _ in range(count)]
    wait_for(runs, 300)
    wall = time.perf_counter() - started
    return count * 5 / wall, wall


def event_latency(daphne: Any, workflow: Any, user: Any, repeat: int, vendor: Any) -> list[float]:
    from django.test import Client
    from websockets.sync.client import connect

    from orchestrator import runs

    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    latencies: list[float] = []
    from tests.support.vendor_server import Completion, Delay

    for _ in range(repeat):
        vendor.push(Delay(0.5, then=Completion("ok")))
        run = runs.start_run(workflow, {}, actor=user, via="command")
        with connect(
            daphne.ws_url(f"/ws/runs/{run.pk}/?after=0"),
            origin=daphne.origin,
            additional_headers={"Cookie": f"sessionid={session}"},
            proxy=None,
        ) as socket:
            # The consumer answers a ping only once it has joined the run's group and sent the
            # log so far: from then on every event arrives live.
            socket.send(json.dumps({"type": "ping"}))
            listening = None
            while True:
                message = json.loads(socket.recv(timeout=60))
                arrived = time.time()
                if message.get("type") == "pong":
                    listening = arrived
                    continue
                if message.get("seq") is None:
                    continue
                if listening is not None and message["ts"] >= listening:
                    latencies.append((arrived - message["ts"]) * 1000)
                if message["type"] in ("run.succeeded", "run.failed"):
                    break
    return latencies


def drive_chains(workflow: Any, user: Any, count: int, profiler: Any = None) -> float:
    """Run ``count`` runs of a chain in this process: start each, then execute its queued steps
    with the workers' own task body until none is left. Seconds, starts left out."""
    from orchestrator import runs
    from orchestrator.execution import execute_step
    from orchestrator.models import Run, Step
    from runtime.nodes.registry import default_registry

    took = 0.0
    for _ in range(count):
        run = runs.start_run(workflow, {}, actor=user, via="command")
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        while queued := list(
            Step.objects.filter(run=run, status="queued").values_list("pk", "node_type")
        ):
            for step_id, node_type in queued:
                execute_step(step_id, str(run.pk), default_registry.get(node_type).pure)
        if profiler is not None:
            profiler.disable()
        took += time.perf_counter() - started
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        if status != "succeeded":
            raise SystemExit(f"a profiled run ended {status}")
    return took


def profile(workflow: Any, user: Any, count: int, length: int = 40) -> None:
    """Where a worker's time goes on a chain of model steps (see the module's notes)."""
    import cProfile
    import io
    import pstats

    from django.db import connection
    from map import SqlTally  # one tally for both scripts

    drive_chains(workflow, user, 2)  # warm: imports, the compiled plan, the connection
    tally = SqlTally()
    with tally.counting(connection):
        wall = drive_chains(workflow, user, count)
    steps = count * length
    print(
        f"Profile: {count} runs of a {length}-node chain of worker steps (local/echo), driven "
        "in this process by the workers' task body (execute_step)"
    )
    print(
        f"wall {wall / steps * 1000:.3f} ms/step; SQL: {tally.count / steps:.2f} statements and "
        f"{tally.seconds / steps * 1000:.3f} ms per step (round trips included)"
    )
    for verb, (number, seconds) in sorted(tally.by_verb.items(), key=lambda kv: -kv[1][1]):
        print(f"  {verb:<22} {number / steps:>6.2f} per step  {seconds / steps * 1000:>7.3f} ms")
    rest = wall - tally.seconds - tally.commit_seconds
    print(f"  the rest (Python: ORM, nodes, Celery sends) {rest / steps * 1000:>7.3f} ms/step")
    profiler = cProfile.Profile()
    profiled = drive_chains(workflow, user, count, profiler)
    print(f"under cProfile: {profiled / steps * 1000:.3f} ms/step")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/(orchestrator|runtime|editor)/", 40)
    stats.sort_stats("tottime").print_stats(20)
    print(out.getvalue())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chains", type=int, default=5, help="40-node chains to time")
    parser.add_argument("--runs", type=int, default=100, help="concurrent 5-node runs")
    parser.add_argument(
        "--rounds", type=int, default=1, help="throughput rounds (the median is printed)"
    )
    parser.add_argument(
        "--throughput-only", action="store_true", help="skip the chain, floor and latency parts"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="only profile N worker-chain runs driven in this process (no stack)",
    )
    args = parser.parse_args()

    os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    prepare_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from editor import operations as editor_operations
    from tests.support.stack import Stack

    user, _ = get_user_model().objects.get_or_create(username="bench")
    chain40 = editor_operations.create_workflow(user=user, name="chain 40", graph=chain_graph(40))
    chain5 = editor_operations.create_workflow(user=user, name="chain 5", graph=chain_graph(5))
    workers40 = editor_operations.create_workflow(
        user=user, name="worker chain 40", graph=worker_chain_graph(40)
    )
    if args.profile:
        profile(workers40, user, args.profile)
        return
    slow_start = editor_operations.create_workflow(user=user, name="latency", graph=latency_graph())
    from tests.support.vendor_server import VendorServer

    vendor = VendorServer().__enter__()

    stack = Stack(
        DATABASE_URL,
        REDIS_URL,
        env={
            "STEP_LEASE_SECONDS": "15",
            "SWEEP_SECONDS": "5",
            # Sessions are signed with it: Daphne must accept the login made here.
            "SECRET_KEY": os.environ["SECRET_KEY"],
            "OPENAI_BASE_URL": vendor.url,
            "OPENAI_API_KEY": "bench",
        },
    )
    stack.flush_redis()
    try:
        stack.worker(concurrency=2)
        daphne = stack.daphne()
        step_overhead(chain5, user, 2, length=5)  # warm the worker processes (imports, connections)
        rounds = [throughput(chain5, user, args.runs) for _ in range(args.rounds)]
        if not args.throughput_only:
            overhead = step_overhead(chain40, user, args.chains)
            worker_overhead = step_overhead(workers40, user, args.chains)
            floor = celery_floor(args.chains)
            latencies = event_latency(daphne, slow_start, user, 5, vendor)
    finally:
        stack.close()
        vendor.__exit__(None, None, None)

    print("Run side on PostgreSQL + Redis, one Celery worker with 2 processes, Daphne")
    steps_per_second, wall = sorted(rounds)[len(rounds) // 2]
    if len(rounds) > 1:
        print("throughput rounds (steps/s):", " ".join(f"{r[0]:.1f}" for r in rounds))
    print(
        f"throughput, {args.runs} concurrent 5-node runs    : {steps_per_second:7.1f} steps/s "
        f"({args.runs * 5} steps in {wall:.2f} s, median of {len(rounds)}; target ≥ 300)"
    )
    if args.throughput_only:
        return

    ours = statistics.median(overhead) * 1000
    bare = statistics.median(floor) * 1000
    print(
        f"per-step overhead, 40-node transform chain : {ours:7.2f} ms/step "
        f"(median of {len(overhead)})"
    )
    workers = statistics.median(worker_overhead) * 1000
    print(
        f"per-step overhead, 40-node worker chain    : {workers:7.2f} ms/step "
        f"(local/echo; median of {len(worker_overhead)})"
    )
    print(f"bare Celery chain of 40 no-op tasks        : {bare:7.2f} ms/task (the floor)")
    print(f"ratio to the floor, transform chain        : {ours / bare:7.2f}×   (target ≤ 3×)")
    print(f"ratio to the floor, worker chain           : {workers / bare:7.2f}×   (target ≤ 2×)")
    print(
        f"event latency, state change → WebSocket    : p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms over {len(latencies)} events (target p99 ≤ 50)"
    )


if __name__ == "__main__":
    main()
