"""How long a killed worker's step waits before another worker runs it, on the real stack.

    .venv/bin/python bench/kills.py [--kills 10]

For each setting (the anchor: the lease and sweep of the first sessions, STEP_LEASE_SECONDS=15
and SWEEP_SECONDS=5; then the defaults of orchestrator/settings.py), it runs a flow whose model
call hangs, SIGKILLs the worker running that step (alternately only its pool process, which the
Celery parent replaces, and the whole worker with its parent, which a new worker replaces), and
times from the kill to the step's next ``step.started`` event. All processes run on this
machine, so the sweeper sees a killed whole worker's process gone (orchestrator.lost_workers);
workers on other machines are found by their lease alone. Every run must finish with each
step succeeded exactly once; a run that does not is reported and fails the script.

It needs PostgreSQL at 127.0.0.1:5432 (database ``flowbench_kills``, created and migrated) and
Redis at 127.0.0.1:6379 (db 7, emptied first); ``BENCH_DATABASE_URL`` and ``BENCH_REDIS_URL``
pick others.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench_kills")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")

from runs import DATABASE_URL, REDIS_URL, prepare_database  # noqa: E402

MODEL = "openai/slow"


def slow_flow() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "brief", "type": "input", "config": {}},
            {
                "id": "slow",
                "type": "worker",
                "config": {
                    "model": MODEL,
                    "instructions": "{{ input.topic }}",
                    "stream": False,
                    "retry": {"max_attempts": 1},
                },
            },
            {"id": "result", "type": "output", "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "slow"},
            {"id": "e2", "source": "slow", "target": "result"},
        ],
    }


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def one_kill(stack: Any, workers: list[Any], workflow: Any, user: Any, vendor: Any, whole: bool):
    """Kill the worker running a step; seconds until the step started again, and whether the
    run finished with each step succeeded once."""
    from orchestrator.models import Event, Run, Step
    from orchestrator.runs import start_run
    from tests.support.vendor_server import Completion, Delay

    vendor.reset()
    vendor.push(Delay(60.0, Completion("never delivered")), Completion("done"))
    run = start_run(workflow, {"topic": "x"}, actor=user, via="command")
    step = wait(
        lambda: Step.objects.filter(run=run, key="slow", status="running").first(),
        30,
        "the slow step to run",
    )
    wait(lambda: vendor.requests, 10, "the model call")
    pid = int(step.worker.rsplit(":", 1)[1])
    victim = next(w for w in workers if pid in w.pool_pids())
    killed_at = time.time()
    if whole:
        victim.kill()
        workers.remove(victim)
        workers.append(stack.worker(concurrency=1))
    else:
        os.kill(pid, signal.SIGKILL)
    restarted = wait(
        lambda: Event.objects.filter(
            run=run, step_key="slow", type="step.started", data__attempt=2
        ).first(),
        60,
        "the step to start again",
    )
    waited = restarted.ts.timestamp() - killed_at
    done = wait(
        lambda: Run.objects.filter(pk=run.pk, status__in=("succeeded", "failed")).first(),
        60,
        "the run to finish",
    )
    succeeded = Counter(
        Event.objects.filter(run=run, type="step.succeeded").values_list("step_key", flat=True)
    )
    once = done.status == "succeeded" and succeeded == Counter(brief=1, slow=1, result=1)
    return waited, once


def measure(label: str, env: dict[str, str], kills: int, workflow: Any, user: Any) -> dict:
    from tests.support.stack import Stack
    from tests.support.vendor_server import VendorServer

    with VendorServer() as vendor:
        stack = Stack(
            DATABASE_URL,
            REDIS_URL,
            env={
                "SECRET_KEY": os.environ["SECRET_KEY"],
                "OPENAI_BASE_URL": vendor.url,
                "OPENAI_API_KEY": "bench",
                **env,
            },
        )
        stack.flush_redis()
        try:
            workers = [stack.worker(concurrency=1, wait=False) for _ in range(2)]
            stack.beat()
            for worker in workers:
                worker.wait_ready()
            waits: dict[str, list[float]] = {"pool process": [], "whole worker": []}
            wrong = 0
            for index in range(kills):
                whole = index % 2 == 1
                waited, once = one_kill(stack, workers, workflow, user, vendor, whole)
                waits["whole worker" if whole else "pool process"].append(waited)
                wrong += not once
        finally:
            stack.close()
    return {"label": label, "waits": waits, "wrong": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per setting")
    args = parser.parse_args()
    os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    prepare_database()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from editor import operations as editor_operations

    user, _ = get_user_model().objects.get_or_create(username="bench")
    workflow = editor_operations.create_workflow(user=user, name="slow", graph=slow_flow())
    defaults = f"{settings.STEP_LEASE_SECONDS:g} s lease, {settings.SWEEP_SECONDS:g} s sweep"
    results = [
        measure(
            "anchor: 15 s lease, 5 s sweep",
            {"STEP_LEASE_SECONDS": "15", "SWEEP_SECONDS": "5"},
            args.kills,
            workflow,
            user,
        ),
        measure(
            f"defaults: {defaults}",
            {
                "STEP_LEASE_SECONDS": str(settings.STEP_LEASE_SECONDS),
                "SWEEP_SECONDS": str(settings.SWEEP_SECONDS),
            },
            args.kills,
            workflow,
            user,
        ),
    ]
    print(
        f"Killed worker → step started again, {args.kills} kills per setting "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    medians = []
    for result in results:
        every = [w for waits in result["waits"].values() for w in waits]
        medians.append(statistics.median(every))
        print(f"{result['label']}:")
        for kind, waits in result["waits"].items():
            if waits:
                print(
                    f"  {kind:13}: median {statistics.median(waits):5.1f} s, "
                    f"max {max(waits):5.1f} s over {len(waits)}"
                )
        print(
            f"  all          : median {statistics.median(every):5.1f} s, max {max(every):5.1f} s; "
            f"runs not finishing with each step once: {result['wrong']}"
        )
    print(
        f"ratio of medians, defaults / anchor: {medians[1] / medians[0]:.2f}× "
        "(goal: median ≤ 5 s, max ≤ 10 s)"
    )
    if any(result["wrong"] for result in results):
        raise SystemExit("a run did not finish with each step succeeded exactly once")


if __name__ == "__main__":
    main()
