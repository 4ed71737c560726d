"""The whole stack under load and faults at once: runs started over HTTP at a fixed concurrency,
sockets watching them, pool processes killed while steps run.

    .venv/bin/python bench/soak.py [--runs 2000] [--concurrency 50] [--watchers 200] [--kills 100]

Two Celery workers (2 pool processes each), beat and one Daphne on this machine. Each run is
input → a model step (the loopback vendor answers after ``--model-delay`` seconds) → transform
→ output. Runs are started through the API with an ``Idempotency-Key`` each; an answer of 503
or a lost connection is retried with the same key, as a client should. While runs go, a killer
SIGKILLs the pool process running a model step, ``--kills`` times spread over the soak (every
tenth kill takes the whole worker, and a new worker is started). ``--watchers`` sockets each
follow one run from its start.

Printed: runs per second, HTTP answers by status, whether every run succeeded with each step
succeeded exactly once and gap-free events, whether every watcher received its run's whole log,
the kill-to-restart times, the PostgreSQL connections held (peak, sampled), and the resident
memory of Daphne and the workers' main processes before and after.

It needs PostgreSQL at 127.0.0.1:5432 (database ``flowbench_soak``, created and migrated) and
Redis at 127.0.0.1:6379 (db 8, emptied first); ``BENCH_DATABASE_URL`` and ``BENCH_REDIS_URL``
pick others. It exits 1 when a run, a step or a watcher is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench_soak")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")

from runs import DATABASE_URL, REDIS_URL, prepare_database  # noqa: E402


def soak_flow() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "brief", "type": "input", "config": {}},
            {
                "id": "think",
                "type": "worker",
                "config": {
                    "model": "openai/soak",
                    "instructions": "{{ input.topic }}",
                    "stream": False,
                    "retry": {"max_attempts": 1},
                },
            },
            {"id": "shape", "type": "transform", "config": {"template": "{{ upstream }}!"}},
            {"id": "result", "type": "output", "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "think"},
            {"id": "e2", "source": "think", "target": "shape"},
            {"id": "e3", "source": "shape", "target": "result"},
        ],
    }


def start_all(base: str, token: str, workflow_id: str, count: int, concurrency: int) -> Any:
    """Start ``count`` runs, ``concurrency`` requests at a time; (run ids, statuses seen)."""
    import httpx

    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def start(index: int) -> str:
        key = f"soak-{index}-{uuid.uuid4().hex[:8]}"
        with httpx.Client(base_url=base, timeout=60, trust_env=False) as client:
            for _ in range(20):
                try:
                    answer = client.post(
                        f"/api/workflows/{workflow_id}/runs/",
                        json={"input": {"topic": f"soak {index}"}},
                        headers={"Authorization": f"Token {token}", "Idempotency-Key": key},
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        statuses[type(exc).__name__] += 1
                    time.sleep(0.5)
                    continue
                with lock:
                    statuses[str(answer.status_code)] += 1
                if answer.status_code == 201:
                    return str(answer.json()["id"])
                time.sleep(float(answer.headers.get("Retry-After", "0.5")))
        raise SystemExit(f"run {index} could not be started: {dict(statuses)}")

    with ThreadPoolExecutor(concurrency) as pool:
        ids = list(pool.map(start, range(count)))
    return ids, statuses


async def watch_one(daphne: Any, session: str, run_id: str) -> list[int]:
    from websockets.asyncio.client import connect

    seqs: list[int] = []
    async with connect(
        daphne.ws_url(f"/ws/runs/{run_id}/"),
        origin=daphne.origin,
        additional_headers={"Cookie": f"sessionid={session}"},
        open_timeout=60,
        ping_interval=None,
        proxy=None,
    ) as socket:
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 300))
            if message.get("seq") is not None:
                seqs.append(message["seq"])
            if message.get("type") in ("run.succeeded", "run.failed", "run.cancelled"):
                return seqs


def watch_all(daphne: Any, session: str, run_ids: list[str]) -> list[Any]:
    async def everything() -> list[Any]:
        return await asyncio.gather(
            *(watch_one(daphne, session, run_id) for run_id in run_ids), return_exceptions=True
        )

    return asyncio.run(everything())


class Killer(threading.Thread):
    """SIGKILLs the process running a model step every ``interval`` seconds."""

    def __init__(self, stack: Any, workers: list[Any], kills: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.workers, self.left, self.interval = stack, workers, kills, interval
        self.waits: list[float] = []
        self.missed = 0  # chances lost: the step ended before its holder could be found
        self.done = threading.Event()

    def run(self) -> None:
        from orchestrator.models import Event, Step

        count = 0
        while self.left > 0 and not self.done.wait(self.interval):
            running = list(
                Step.objects.filter(node_id="think", status="running")
                .exclude(worker="")
                .values_list("pk", "run_id", "worker", "attempt")[:20]
            )
            if not running:
                continue
            step_id, run_id, worker, attempt = random.choice(running)
            pid = int(worker.rsplit(":", 1)[1])
            owner = next((w for w in self.workers if pid in w.pool_pids()), None)
            if owner is None:
                self.missed += 1
                continue
            count += 1
            killed_at = time.time()
            if count % 10 == 0:
                owner.kill()
                self.workers.remove(owner)
                self.workers.append(self.stack.worker(concurrency=2))
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            deadline = time.time() + 60
            while time.time() < deadline:
                again = Event.objects.filter(
                    run_id=run_id, step_key="think", type="step.started", data__attempt=attempt + 1
                ).first()
                if again is not None:
                    self.waits.append(again.ts.timestamp() - killed_at)
                    self.left -= 1
                    break
                if Step.objects.filter(pk=step_id, status="succeeded", attempt=attempt).exists():
                    self.missed += 1  # it finished just before the kill: nothing to bring back
                    break
                time.sleep(0.05)


class Sampler(threading.Thread):
    """The PostgreSQL connections of the soak's database, sampled twice a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak: Counter[str] = Counter()
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        name = DATABASE_URL.rsplit("/", 1)[1]
        server = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(server, autocommit=True) as db:
            while not self.done.wait(0.5):
                rows = db.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity "
                    "WHERE datname = %s GROUP BY 1",
                    [name],
                ).fetchall()
                for application, count in rows:
                    self.peak[application] = max(self.peak[application], count)


def rss_mb(pids: list[int]) -> float:
    import psutil

    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20


def check_runs(run_ids: list[str]) -> list[str]:
    from orchestrator.models import Event, Run

    problems = []
    for run in Run.objects.filter(pk__in=run_ids):
        events = list(
            Event.objects.filter(run=run).order_by("seq").values_list("seq", "type", "step_key")
        )
        if run.status != "succeeded":
            problems.append(f"{run.pk}: {run.status} {run.error}")
        if [seq for seq, _, _ in events] != list(range(1, run.last_seq + 1)):
            problems.append(f"{run.pk}: events not gap-free")
        finished = Counter(key for _, kind, key in events if kind == "step.succeeded")
        if finished != Counter(brief=1, think=1, shape=1, result=1):
            problems.append(f"{run.pk}: steps succeeded {dict(finished)}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--model-delay", type=float, default=0.2)
    args = parser.parse_args()

    os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    prepare_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from editor import operations as editor_operations
    from editor.tokens import issue_token
    from orchestrator.models import Run
    from tests.support.stack import Stack
    from tests.support.vendor_server import Completion, Delay, VendorServer

    user, _ = get_user_model().objects.get_or_create(username="soak")
    workflow = editor_operations.create_workflow(user=user, name="soak", graph=soak_flow())
    _, token = issue_token(user, "soak")
    browser = Client()
    browser.force_login(user)
    session = browser.cookies["sessionid"].value

    vendor = VendorServer().__enter__()
    vendor.respond_with(lambda request: Delay(args.model_delay, Completion("thought")))
    stack = Stack(
        DATABASE_URL,
        REDIS_URL,
        env={
            "SECRET_KEY": os.environ["SECRET_KEY"],
            "OPENAI_BASE_URL": vendor.url,
            "OPENAI_API_KEY": "bench",
        },
    )
    stack.flush_redis()
    sampler = Sampler()
    try:
        workers = [stack.worker(concurrency=2, wait=False) for _ in range(2)]
        stack.beat()
        daphne = stack.daphne()
        for worker in workers:
            worker.wait_ready()
        mains = lambda: [daphne.pid, *(w.pid for w in workers)]  # noqa: E731
        before = rss_mb(mains())
        sampler.start()
        expected = args.runs * args.model_delay / 4  # four pool processes
        killer = Killer(stack, workers, args.kills, max(expected / max(args.kills, 1), 0.3))
        killer.start()
        started = time.perf_counter()
        watched: list[str] = []
        watchers: list[Any] = []
        watcher_thread = None

        def start_and_watch() -> Any:
            return start_all(daphne.url, token, str(workflow.pk), args.runs, args.concurrency)

        with ThreadPoolExecutor(1) as starter:
            pending = starter.submit(start_and_watch)
            # The watchers follow the first runs started, from their beginning.
            deadline = time.time() + 120
            while len(watched) < args.watchers and time.time() < deadline:
                watched = [
                    str(pk)
                    for pk in Run.objects.filter(workflow=workflow)
                    .order_by("created_at")
                    .values_list("pk", flat=True)[: args.watchers]
                ]
                time.sleep(0.05)
            result: list[Any] = []
            watcher_thread = threading.Thread(
                target=lambda: result.extend(watch_all(daphne, session, watched))
            )
            watcher_thread.start()
            run_ids, statuses = pending.result()
        left = Run.objects.filter(pk__in=run_ids).exclude(status__in=("succeeded", "failed"))
        deadline = time.time() + 600
        while left.exists() and time.time() < deadline:
            time.sleep(0.2)
        wall = time.perf_counter() - started
        killer.done.set()
        killer.join(70)
        watcher_thread.join(300)
        watchers = result
        after = rss_mb(mains())
    finally:
        sampler.done.set()
        stack.close()
        vendor.__exit__(None, None, None)

    problems = check_runs(run_ids)
    logs = {
        str(pk): last
        for pk, last in Run.objects.filter(pk__in=watched).values_list("pk", "last_seq")
    }
    bad_watchers = [
        (run_id, seqs)
        for run_id, seqs in zip(watched, watchers, strict=False)
        if isinstance(seqs, BaseException) or seqs != list(range(1, logs[run_id] + 1))
    ]
    print(
        f"Soak: {args.runs} runs at concurrency {args.concurrency}, {len(watched)} watchers, "
        f"{len(killer.waits)} kills, {killer.missed} missed (load {os.getloadavg()[0]:.1f})"
    )
    print(f"runs per second                : {args.runs / wall:7.1f} ({wall:.0f} s)")
    print(f"HTTP answers                   : {dict(statuses)}")
    print(f"runs wrong                     : {len(problems)} {problems[:3]}")
    print(f"watchers missing events        : {len(bad_watchers)} {bad_watchers[:2]}")
    if killer.waits:
        print(
            f"kill → step started again      : median {statistics.median(killer.waits):.1f} s, "
            f"max {max(killer.waits):.1f} s over {len(killer.waits)}"
        )
    print(f"PostgreSQL connections (peak)  : {dict(sampler.peak)}")
    print(f"RSS of Daphne + worker mains   : {before:.0f} MB → {after:.0f} MB")
    if problems or bad_watchers:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
