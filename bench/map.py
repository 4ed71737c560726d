"""A map of 10,000 trivial items: on the real stack against the bare-Celery floor, and in-process
against LangGraph's ``Send`` fan-out.

    .venv/bin/pip install -e '.[bench]'   # LangGraph, for the in-process comparison only
    .venv/bin/python bench/map.py [--items 10000] [--concurrency 16] [--processes 2]
    .venv/bin/python bench/map.py --items 1000 --repeat 1         # a smoke run
    .venv/bin/python bench/map.py --engine-only                   # only the in-process part
    .venv/bin/python bench/map.py --profile 2000                  # + where a worker's time goes

1. **On the stack**: PostgreSQL, Redis, one Celery worker with ``--processes`` prefork pool
   processes, and Daphne serving a WebSocket watcher of each run (as the run view does). Runs of
   ``input → map (concurrency 16) → output`` started with ``orchestrator.runs.start_run``, timed
   from the start to the run's success (polled in the database), with two bodies: a ``worker`` on
   the offline ``local/echo`` model (the I/O path model calls take: a claim, the node on the
   process loop, a completion) and a ``transform`` (a pure step: claimed, run and completed in
   one transaction); each finished item sends the next as a Celery message. A run in which no
   event comes for ``--stall`` seconds is reported as stalled, with its items by status, and
   cancelled. The floor, in the same run and on the same worker: as many no-op Celery tasks, 16
   lanes at a time, each finished task sending the next of its lane (``bench/map_tasks.py``,
   loaded into the worker with ``--include``), timed from the first send to the last lane's
   end, before and after the maps. Printed: wall time, ms per item (and × pool processes), the
   ratio to the floor (goal ≤ 3×), where each map's time went (from the steps' recorded times),
   whether the watcher got every event, and the resident memory of the worker's processes and
   Daphne before and after the maps (goal: flat, ≤ 50 MB), Daphne's also after serving the
   finished run's detail (three times).
2. **In-process**: the same map on the :class:`InProcessExecutor` (body: bench/engine.py's
   trivial I/O node, its pure twin, and ``transform``) against a LangGraph ``StateGraph`` whose
   start fans out one ``Send`` per item to a body node that adds one, results gathered by an
   ``operator.add`` reducer, ``max_concurrency`` 16 (its fastest way here; unlimited and
   ``ainvoke`` were slower). µs per item, median of ``--repeat``, and LangGraph ÷ ours (goal
   ≥ 5×).
3. With ``--profile N``: a map of N items (``--profile-body``) driven in this process by the
   workers' own task body (``orchestrator.execution.execute_step``): SQL statements and commits
   counted and timed per item, then the same under cProfile.

It needs PostgreSQL at 127.0.0.1:5432 (it creates and migrates ``flowbench_map``) and Redis at
127.0.0.1:6379 (db 13, emptied first); ``BENCH_DATABASE_URL`` and ``BENCH_REDIS_URL`` pick others.
The runs it made are deleted at the end, so the database does not grow from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import operator
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench_map")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

from map_tasks import HOP, NEW_WORK  # noqa: E402
from runs import DATABASE_URL, REDIS_URL, prepare_database  # noqa: E402

TRANSFORM = {"type": "transform", "config": {"template": "{{ upstream }}"}}
# The map bodies on the stack: a step on the I/O path (the offline model: a claim, the node on the
# process loop, a completion, as model calls go) and a pure step (claimed, run and completed in
# one transaction). Either way each finished item sends the next one as a Celery message.
BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "local": (
        "worker on local/echo (I/O path)",
        {
            "type": "worker",
            "config": {"model": "local/echo", "instructions": "{{ upstream }}", "stream": False},
        },
    ),
    "transform": ("transform (pure step)", TRANSFORM),
}


def map_graph(body: dict[str, Any], items: int, concurrency: int) -> dict[str, Any]:
    """input → each (a map over input.items, ``body`` wired by a delegate edge) → output."""
    return {
        "nodes": [
            {"id": "brief", "type": "input", "config": {}},
            {
                "id": "each",
                "type": "map",
                "config": {
                    "items": "input.items",
                    "concurrency": concurrency,
                    "max_items": max(items, 1),
                },
            },
            {"id": "body", **body},
            {"id": "done", "type": "output", "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "each"},
            {"id": "e2", "source": "each", "target": "done"},
            {"id": "d1", "source": "each", "target": "body", "kind": "delegate"},
        ],
    }


# -- 1. on the stack -------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def memory(worker: Any, daphne: Any) -> dict[str, float]:
    main, *pool = worker.tree_pids()
    figures = {"worker main": rss_mb(main)}
    for number, pid in enumerate(sorted(pool), start=1):
        figures[f"pool process {number}"] = rss_mb(pid)
    figures["Daphne"] = rss_mb(daphne.pid)
    return figures


class Watcher(threading.Thread):
    """A WebSocket client following one run from its first event to its last, as the run view
    does: counts what arrives and checks the seqs are 1, 2, 3, … with no gap."""

    def __init__(self, daphne: Any, run_id: Any, session: str) -> None:
        super().__init__(daemon=True)
        self.daphne, self.run_id, self.session = daphne, run_id, session
        self.seqs: list[int] = []
        self.last: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from tests.support.stack import RunSocket

        try:
            with RunSocket(self.daphne, self.run_id, after=0, session=self.session) as socket:
                while True:
                    message = socket.recv(timeout=300)
                    if message is None:
                        raise TimeoutError("no event for 300 s")
                    if message.get("seq") is None:
                        continue
                    self.seqs.append(int(message["seq"]))
                    if message["type"] in ("run.succeeded", "run.failed", "run.cancelled"):
                        self.last = message["type"]
                        return
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def verdict(self) -> str:
        if self.error is not None:
            return f"failed: {self.error!r}"
        gapless = self.seqs == list(range(1, len(self.seqs) + 1))
        return (
            f"{len(self.seqs)} events, seqs {'1…n with no gap' if gapless else 'WITH GAPS'}, "
            f"last {self.last}"
        )


@dataclass
class MapRun:
    """One map run on the stack: its wall time, or where it stalled."""

    body: str
    run: Any
    watcher: Watcher
    wall: float = 0.0
    phases: dict[str, Any] = field(default_factory=dict)
    # Children by status when no event came for --stall seconds (the run is then cancelled).
    stalled: dict[str, int] | None = None
    stalled_after: float = 0.0


def children_by_status(run_id: Any) -> dict[str, int]:
    from django.db.models import Count

    from orchestrator.models import Step

    rows = (
        Step.objects.filter(run_id=run_id, parent__key="each")
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return dict(rows)


def time_map(
    body: str, workflow: Any, user: Any, items: int, daphne: Any, session: str, stall: float
) -> MapRun:
    """Start a run of the map, watch it over a WebSocket, and wait for its end, or for no event
    in ``stall`` seconds (then it is cancelled)."""
    from orchestrator import runs, transitions
    from orchestrator.models import Run

    values = list(range(items))
    started = time.perf_counter()
    run = runs.start_run(workflow, {"items": values}, actor=user, via="command")
    watcher = Watcher(daphne, run.pk, session)
    watcher.start()
    last_seq, moved = 0, started
    while True:
        status, seq = Run.objects.filter(pk=run.pk).values_list("status", "last_seq").get()
        if status in ("succeeded", "failed", "cancelled"):
            break
        if seq != last_seq:
            last_seq, moved = seq, time.perf_counter()
        elif time.perf_counter() - moved > stall:
            found = MapRun(body, run, watcher, stalled=children_by_status(run.pk))
            found.stalled_after = moved - started
            transitions.cancel_run(run.pk)
            watcher.join(timeout=30)
            return found
        time.sleep(0.05)
    wall = time.perf_counter() - started
    run = Run.objects.get(pk=run.pk)
    watcher.join(timeout=60)
    if run.status != "succeeded":
        raise SystemExit(f"the map run {run.status}: {run.error}")
    output = run.output
    if not isinstance(output, list) or len(output) != items:
        raise SystemExit(f"the map run's output is not {items} results")
    if body == "transform" and output != [str(value) for value in values]:
        raise SystemExit("the map run's output is not its items in order")
    return MapRun(body, run, watcher, wall=wall, phases=phases(run))


def time_floor(items: int, lanes: int) -> float:
    """``items`` no-op tasks in ``lanes`` lanes on the worker; each finished task sends the next
    of its lane. Seconds from the first send to the last lane's end."""
    import redis

    from orchestrator.celery import app

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    key = f"bench:map:floor:{uuid.uuid4().hex}"
    lanes = min(lanes, items)
    sizes = [items // lanes + (1 if lane < items % lanes else 0) for lane in range(lanes)]
    try:
        started = time.perf_counter()
        for size in sizes:
            app.send_task(HOP, (key, size), priority=NEW_WORK)
        deadline = time.monotonic() + max(60, items // 50)
        ended = 0
        while ended < len(sizes):
            if client.blpop([key], timeout=1) is not None:
                ended += 1
            elif time.monotonic() > deadline:
                raise SystemExit("the floor's tasks did not finish in time")
        return time.perf_counter() - started
    finally:
        client.delete(key)
        client.close()


def phases(run: Any) -> dict[str, Any]:
    """Where the map's time went, from the steps' recorded times."""
    from django.db.models import Count, Max, Min

    from orchestrator.models import Step

    each = Step.objects.get(run=run, key="each")
    children = Step.objects.filter(run=run, parent=each)
    span = children.aggregate(first=Min("started_at"), last=Max("finished_at"), count=Count("id"))
    by_worker = dict(
        children.order_by().values("worker").annotate(n=Count("id")).values_list("worker", "n")
    )
    states = set(children.values_list("status", flat=True).distinct())
    return {
        "start → map step starts": (each.started_at - run.created_at).total_seconds(),
        "map step → first item starts": (span["first"] - each.started_at).total_seconds(),
        "first item starts → last item ends": (span["last"] - span["first"]).total_seconds(),
        "last item ends → run succeeds": (run.finished_at - span["last"]).total_seconds(),
        "_count": span["count"],
        "_states": states,
        "_by_worker": by_worker,
    }


def run_detail(daphne: Any, session: str, run_id: Any) -> tuple[float, int]:
    """GET /api/runs/<id>/ through Daphne, as a viewer opening the finished run: (s, bytes)."""
    import httpx

    started = time.perf_counter()
    response = httpx.get(
        f"{daphne.url}/api/runs/{run_id}/",
        headers={"Cookie": f"sessionid={session}"},
        timeout=120,
        trust_env=False,
    )
    took = time.perf_counter() - started
    response.raise_for_status()
    return took, len(response.content)


def delete_runs(workflow_ids: list[Any]) -> None:
    """Remove what the benchmark made (steps and events first: one statement each)."""
    from django.db import connection, transaction

    from editor.models import Workflow
    from orchestrator.models import Event, Run, Step

    run_ids = list(Run.objects.filter(workflow_id__in=workflow_ids).values_list("pk", flat=True))
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (Event, Step):
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} "
                "WHERE run_id = ANY(%s)",
                [run_ids],
            )
        Workflow.objects.filter(pk__in=workflow_ids).delete()


def on_the_stack(args: argparse.Namespace, made: list[Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from editor import operations as editor_operations
    from tests.support.stack import Stack

    user, _ = get_user_model().objects.get_or_create(username="bench")
    # Warm-up runs: the transform's no longer than its concurrency (all its items start at once).
    warm_up = {"local": 200, "transform": args.concurrency}
    flows = {}
    for body, (_, spec) in BODIES.items():
        for size in {args.items, warm_up[body]}:
            graph = map_graph(spec, size, args.concurrency)
            flows[body, size] = editor_operations.create_workflow(
                user=user, name=f"map bench {body} {size}", graph=graph
            )
            made.append(flows[body, size].pk)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value

    stack = Stack(
        DATABASE_URL,
        REDIS_URL,
        env={
            "STEP_LEASE_SECONDS": "15",
            "SWEEP_SECONDS": "5",
            "SECRET_KEY": os.environ["SECRET_KEY"],  # Daphne must accept the session made here
            # The floor's no-op task, loaded beside the project's (celery worker --include).
            "CELERY_WORKER_INCLUDE": "bench.map_tasks",
        },
    )
    stack.flush_redis()
    found: dict[str, Any] = {"maps": []}
    try:
        worker = stack.worker(concurrency=args.processes)
        daphne = stack.daphne()
        # Warm every process (imports, connections, compiled plans, Daphne's socket path).
        for body, size in warm_up.items():
            time_map(body, flows[body, size], user, size, daphne, session, args.stall)
        time_floor(200, args.concurrency)
        found["rss before"] = memory(worker, daphne)
        found["floor"] = [time_floor(args.items, args.concurrency)]
        for body in BODIES:
            flow = flows[body, args.items]
            found["maps"].append(
                time_map(body, flow, user, args.items, daphne, session, args.stall)
            )
        found["floor"].append(time_floor(args.items, args.concurrency))
        found["rss after"] = memory(worker, daphne)
        biggest = next((m for m in found["maps"] if m.stalled is None), None)
        if biggest is not None:
            # Three times: requests that add nothing more show a high-water mark, not a leak.
            found["detail"] = []
            for _ in range(3):
                took, size = run_detail(daphne, session, biggest.run.pk)
                found["detail"].append((took, size, rss_mb(daphne.pid)))
    finally:
        stack.close()
    return found


def report_stack(args: argparse.Namespace, found: dict[str, Any]) -> None:
    items, processes = args.items, args.processes
    print(
        f"1. A map of {items:,} trivial items, concurrency {args.concurrency}: PostgreSQL + Redis, "
        f"one Celery worker with {processes} pool processes, Daphne with a WebSocket watcher "
        "of each run"
    )
    header = f"{'':<52} {'wall s':>8} {'ms/item':>8} {'× procs':>8} {'items/s':>8} {'÷ floor':>8}"
    print(header)
    print("-" * len(header))
    floor = statistics.median(found["floor"])
    rows: list[tuple[str, float | None, str]] = [
        (f"bare Celery floor ({args.concurrency} lanes of no-op tasks)", floor, "")
    ]
    for mapped in found["maps"]:
        name = f"map, body: {BODIES[mapped.body][0]}"
        if mapped.stalled is not None:
            rows.append((name, None, ""))
        else:
            rows.append((name, mapped.wall, f"{mapped.wall / floor:.2f}×"))
    for name, wall, ratio in rows:
        if wall is None:
            print(f"{name:<52} {'stalled (below)':>26}")
            continue
        print(
            f"{name:<52} {wall:>8.2f} {wall / items * 1000:>8.3f} "
            f"{wall / items * 1000 * processes:>8.3f} {items / wall:>8.0f} {ratio:>8}"
        )
    print(
        "goal ≤ 3× the floor; floor runs (before and after the maps): "
        + ", ".join(f"{wall:.2f} s" for wall in found["floor"])
    )
    for mapped in found["maps"]:
        print(f"\nmap, body: {BODIES[mapped.body][0]}")
        if mapped.stalled is not None:
            counts = ", ".join(f"{n:,} {status}" for status, n in sorted(mapped.stalled.items()))
            print(
                f"  STALLED: no event for {args.stall:.0f} s, {mapped.stalled_after:.1f} s after "
                f"the start; items: {counts}; cancelled"
            )
            print(f"  watcher: {mapped.watcher.verdict()}")
            continue
        for name, seconds in mapped.phases.items():
            if not name.startswith("_"):
                print(f"  {name:<38} {seconds:>7.2f} s")
        by_worker = mapped.phases["_by_worker"]
        print(
            f"  {mapped.phases['_count']:,} items, all "
            f"{'/'.join(sorted(mapped.phases['_states']))}; per pool process: "
            + ", ".join(str(n) for n in sorted(by_worker.values(), reverse=True))
        )
        print(f"  {mapped.run.last_seq:,} run events; watcher: {mapped.watcher.verdict()}")

    before, after = found["rss before"], found["rss after"]
    print(f"\nresident memory, MB {'before':>10} {'after':>8} {'growth':>8}")
    for name in before:
        grew = after[name] - before[name]
        print(f"  {name:<17} {before[name]:>10.1f} {after[name]:>8.1f} {grew:>+8.1f}")
    workers = [name for name in before if name != "Daphne"]
    total_before = sum(before[name] for name in workers)
    total_after = sum(after[name] for name in workers)
    print(
        f"  {'worker, all':<17} {total_before:>10.1f} {total_after:>8.1f} "
        f"{total_after - total_before:>+8.1f}"
    )
    if "detail" in found:
        size = found["detail"][0][1]
        print(
            f"  Daphne after GET /api/runs/<id>/ of the {items:,}-item map ({size / 2**20:.1f} MB "
            "of JSON), three times: "
            + ", ".join(f"{rss:.1f} MB ({took:.2f} s)" for took, _, rss in found["detail"])
        )
    workers_grew = total_after - total_before
    daphne_grew = after["Daphne"] - before["Daphne"]
    print(
        f"goal: flat, ≤ 50 MB growth during the maps: worker {workers_grew:+.1f} MB "
        f"({'met' if workers_grew <= 50 else 'MISSED'}), Daphne {daphne_grew:+.1f} MB "
        f"({'met' if daphne_grew <= 50 else 'MISSED'})"
    )


# -- 2. in-process against LangGraph ---------------------------------------------------------------


def time_ours(body: dict[str, Any], items: int, concurrency: int, repeat: int) -> float:
    from engine import REGISTRY

    from runtime.events import ListSink
    from runtime.executor import InProcessExecutor
    from runtime.validation import compile_graph

    plan = compile_graph(map_graph(body, items, concurrency), REGISTRY)
    values = list(range(items))

    async def main() -> list[float]:
        samples = []
        for _ in range(repeat):
            executor = InProcessExecutor(registry=REGISTRY, sink=ListSink())
            started = time.perf_counter()
            result = await executor.run(plan, {"items": values})
            samples.append(time.perf_counter() - started)
            assert result.status == "succeeded", result.error
            assert len(result.output) == items
        return samples

    return statistics.median(asyncio.run(main())) / items


class State(TypedDict):
    """LangGraph's state: the items, and the results its reducer gathers."""

    items: list[int]
    results: Annotated[list[int], operator.add]


class Item(TypedDict):
    item: int


def langgraph_map() -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    def fan_out(state: State) -> list[Any]:
        return [Send("body", {"item": value}) for value in state["items"]]

    def body(state: Item) -> dict[str, Any]:
        return {"results": [state["item"] + 1]}

    builder = StateGraph(State)
    builder.add_node("body", body)
    builder.add_conditional_edges(START, fan_out, ["body"])
    builder.add_edge("body", END)
    return builder.compile()


def time_langgraph(items: int, concurrency: int, repeat: int) -> float:
    graph = langgraph_map()
    values = list(range(items))
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        state = graph.invoke(
            {"items": values, "results": []}, config={"max_concurrency": concurrency}
        )
        samples.append(time.perf_counter() - started)
        assert state["results"] == [value + 1 for value in values]
    return statistics.median(samples) / items


def in_process(args: argparse.Namespace) -> None:
    bodies = {
        "trivial I/O node (add one)": {"type": "bench_add", "config": {}},
        "trivial pure node (add one)": {"type": "bench_add_pure", "config": {}},
        "transform (template render)": {
            "type": "transform",
            "config": {"template": "{{ upstream + 1 }}"},
        },
    }
    print(
        f"2. The engine's map of {args.items:,} items in-process, concurrency "
        f"{args.concurrency}, against LangGraph's Send fan-out (max_concurrency "
        f"{args.concurrency}); µs per item, median of {args.repeat}"
    )
    try:
        import langgraph  # noqa: F401
    except ImportError:
        theirs = None
        print("LangGraph is not installed: pip install -e '.[bench]' to compare.")
    else:
        theirs = time_langgraph(args.items, args.concurrency, args.repeat) * 1e6
    header = f"{'body':<30} {'ours':>9} {'LangGraph':>10} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, body in bodies.items():
        ours = time_ours(body, args.items, args.concurrency, args.repeat) * 1e6
        if theirs is None:
            print(f"{name:<30} {ours:>9.1f} {'-':>10} {'-':>8}")
        else:
            print(f"{name:<30} {ours:>9.1f} {theirs:>10.1f} {theirs / ours:>7.1f}×")
    if theirs is not None:
        print("ratio = LangGraph µs/item ÷ ours (its body adds one, as the trivial nodes do)")
        print("goal: ≥ 5× on the trivial I/O node")


# -- 3. where a worker's time goes -----------------------------------------------------------------


class SqlTally:
    """A database execute wrapper: how many statements, and how long they took."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.by_verb: dict[str, list[float]] = {}

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.count += 1
            self.seconds += took
            verb = sql.lstrip().split(None, 1)[0].upper()
            if verb == "SELECT" and "FOR UPDATE" in sql:
                verb = "SELECT … FOR UPDATE"
            entry = self.by_verb.setdefault(verb, [0, 0.0])
            entry[0] += 1
            entry[1] += took

    @contextlib.contextmanager
    def counting(self, connection: Any) -> Iterator[None]:
        """Count ``connection``'s statements, and its commits (which do not pass through
        execute wrappers) as the verb COMMIT; ``commit_seconds`` is their time."""
        commit = connection.commit
        commits = self.by_verb.setdefault("COMMIT", [0, 0.0])

        def timed_commit() -> None:
            started = time.perf_counter()
            try:
                commit()
            finally:
                commits[0] += 1
                commits[1] += time.perf_counter() - started

        connection.commit = timed_commit
        try:
            with connection.execute_wrapper(self):
                yield
        finally:
            del connection.commit  # the class's own again

    @property
    def commit_seconds(self) -> float:
        return float(self.by_verb.get("COMMIT", [0, 0.0])[1])


def drive_map(workflow: Any, user: Any, items: int, profiler: Any = None) -> tuple[float, Any]:
    """Run a map in this process: start it, then execute its queued steps with the workers' own
    task body until none is left (the steps a step makes ready come back queued). (s, run)"""
    from orchestrator import runs
    from orchestrator.execution import execute_step
    from orchestrator.models import Step
    from runtime.nodes.registry import default_registry

    run = runs.start_run(workflow, {"items": list(range(items))}, actor=user, via="command")
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    while True:
        queued = list(
            Step.objects.filter(run=run, status="queued")
            .order_by("id")
            .values_list("pk", "node_type")
        )
        if not queued:
            break
        for step_id, node_type in queued:
            # What a step's message carries: its run, and whether its node is pure.
            execute_step(step_id, str(run.pk), default_registry.get(node_type).pure)
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - started
    run.refresh_from_db()
    return wall, run


def profile(args: argparse.Namespace) -> None:
    """A map driven in this process by the workers' task body: timed with every SQL statement
    counted, then again under cProfile."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from editor import operations as editor_operations

    items = args.profile
    user, _ = get_user_model().objects.get_or_create(username="bench")
    graph = map_graph(BODIES[args.profile_body][1], items, args.concurrency)
    workflow = editor_operations.create_workflow(user=user, name="map bench profile", graph=graph)
    try:
        drive_map(workflow, user, min(items, 100))  # warm: imports, the compiled plan
        tally = SqlTally()
        with tally.counting(connection):
            wall, run = drive_map(workflow, user, items)
        profiler = cProfile.Profile()
        profiled, _ = drive_map(workflow, user, items, profiler)
        print(
            f"3. Profile: a map of {items:,} items, body {BODIES[args.profile_body][0]}, driven "
            "in this process by the workers' task body (execute_step): one process, no Celery "
            f"between the steps (the run {run.status})"
        )
        print(
            f"wall {wall:.2f} s = {wall / items * 1000:.3f} ms/item; "
            f"SQL: {tally.count / items:.1f} statements and "
            f"{tally.seconds / items * 1000:.3f} ms per item "
            "(round trips included)"
        )
        for verb, (count, seconds) in sorted(tally.by_verb.items(), key=lambda kv: -kv[1][1]):
            per_item = seconds / items * 1000
            print(f"  {verb:<22} {count / items:>6.2f} per item  {per_item:>7.3f} ms/item")
        rest = wall - tally.seconds - tally.commit_seconds
        print(f"  the rest (Python: ORM, nodes, Celery sends) {rest / items * 1000:>7.3f} ms/item")
        print(f"under cProfile: {profiled / items * 1000:.3f} ms/item")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"/(orchestrator|runtime|editor)/", 45)
        stats.sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    finally:
        delete_runs([workflow.pk])


# -- the whole -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--items", type=int, default=10_000, help="items of the map")
    parser.add_argument("--concurrency", type=int, default=16, help="the map's concurrency")
    parser.add_argument("--processes", type=int, default=2, help="the worker's pool processes")
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs (the median)")
    parser.add_argument("--engine-only", action="store_true", help="only the in-process part")
    parser.add_argument("--stack-only", action="store_true", help="only the part on the stack")
    parser.add_argument(
        "--stall", type=float, default=10, help="seconds without an event that end a map run"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile a map of N items"
    )
    parser.add_argument("--profile-body", choices=sorted(BODIES), default="local")
    parser.add_argument("--profile-only", action="store_true", help="only the profile")
    args = parser.parse_args()
    if not 1 <= args.items <= 10_000:
        parser.error("--items: 1 to 10,000 (a map's item limit)")
    if args.profile_only and not args.profile:
        args.profile = 2_000
    stack = not (args.engine_only or args.profile_only)
    engine = not (args.stack_only or args.profile_only)

    if stack or args.profile:
        os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
        os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
        prepare_database()
        import django

        django.setup()
        from django.db import connections

        made: list[Any] = []
        try:
            if stack:
                found = on_the_stack(args, made)
                report_stack(args, found)
                print()
            if args.profile:
                profile(args)
        finally:
            with contextlib.suppress(Exception):
                delete_runs(made)
            connections.close_all()  # the server's connections are shared: give ours back
            with contextlib.suppress(Exception):
                import redis

                redis.Redis.from_url(REDIS_URL).flushdb()
    if engine:
        in_process(args)


if __name__ == "__main__":
    main()
