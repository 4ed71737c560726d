"""Live fan-out on one Daphne: the product's run sockets beside naive Channels ``group_send``.

    .venv/bin/python bench/fanout.py [--clients 2] [--deliveries 40000] [--rate 50] [--seconds 4]
    .venv/bin/python bench/fanout.py --only 1000          # one scenario (20, 200, 1000, 100x10)
    .venv/bin/python bench/fanout.py --layer pubsub       # channels_redis's pub/sub layer

Scenarios: 20, 200 and 1,000 sockets watching one hot run, and 1,000 sockets over 100 runs (10 a
run). Each runs three times on the same Daphne: first the floor (``/ws/bare/<run>/``, a plain ASGI
app that accepts and answers pings: what opening a socket costs Daphne and the clients at all;
connect only), then the naive anchor (``/ws/naive/<run>/``, bench/fanout_app.py: every socket
joins the run's group with a channel of its own and forwards what it is sent), then the product
(``/ws/runs/<run>/``: who the person is, membership check, catch-up, and the process's one
subscription per run, orchestrator/fanout.py). For each it prints:

- connect: from asking all the sockets to open until every one has had its ``pong`` (the
  product answers a ping only after its subscription and catch-up); and, from inside Daphne,
  when the last of them reached the application, was accepted, sent its ping and got its pong
  (counted from the first one's arrival), and the time spent collecting garbage meanwhile;
- deliveries/s: events are committed (a row per event, one transaction each, then broadcast by
  orchestrator.publisher as the workers do) as fast as this process can, until about
  ``--deliveries`` (sockets x events) are due; wall time from the first commit to the last arrival;
- latency p50/p99: from the event's timestamp (taken in its transaction) to its arrival at the
  client, with ``--rate`` events a second (over all the scenario's runs) for ``--seconds``;
- lost and duplicated: per socket, the committed events it never got and the ones it got twice.

The clients run in ``--clients`` processes of their own (asyncio + websockets), the events are
committed here. At the end it prints each goal of the fan-out next to this run's figure, met or
not. It needs PostgreSQL (database ``flowbench_fanout``, or ``BENCH_DATABASE_URL``;
created and migrated) and Redis (db 6, or ``BENCH_REDIS_URL``; emptied first).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench_fanout"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
SECRET_KEY = "bench-fanout-secret-key-not-for-production-0123456789"
PAD = "streamed-ish text " * 10  # an event of about 350 bytes on the wire
from runs import prepare_database  # noqa: E402

SCENARIOS = {"20": (1, 20), "200": (1, 200), "1000": (1, 1000), "100x10": (100, 10)}
PATHS = {"bare": "/ws/bare/{}/", "naive": "/ws/naive/{}/", "ours": "/ws/runs/{}/?after=0"}


def layers(kind: str) -> dict[str, Any]:
    if kind == "pubsub":
        return {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [{"address": REDIS_URL}]},
            }
        }
    return {}  # the product's settings


# -- the clients (a process of their own each) ----------------------------------------------------


@dataclass
class Watch:
    run: str
    url: str
    got: list[tuple[int, float, float]] = field(default_factory=list)  # seq, arrival, ts
    top: int = 0
    closed: str | None = None


def client_main(conn: Any, targets: list[tuple[str, str]], cookie: str, origin: str) -> None:
    asyncio.run(client(conn, targets, cookie, origin))


async def client(conn: Any, targets: list[tuple[str, str]], cookie: str, origin: str) -> None:
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    watches = [Watch(run, url) for run, url in targets]

    async def open_one(watch: Watch) -> Any:
        socket = await connect(
            watch.url,
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={quote(cookie)}"},
            open_timeout=120,
            ping_interval=None,
            max_queue=None,
            compression=None,
            proxy=None,
        )
        await socket.send('{"type": "ping"}')
        while True:
            message = json.loads(await socket.recv())
            if message.get("type") == "pong":
                return socket

    async def read(watch: Watch, socket: Any) -> None:
        try:
            async for raw in socket:
                arrived = time.time()
                message = json.loads(raw)
                seq = message.get("seq")
                if seq is not None:
                    watch.got.append((seq, arrived, message["ts"]))
                    watch.top = max(watch.top, seq)
        except Exception as exc:
            watch.closed = f"{type(exc).__name__}: {exc}"
        else:
            watch.closed = "closed by the server"

    await loop.run_in_executor(None, conn.recv)  # "connect"
    opened = await asyncio.gather(*(open_one(w) for w in watches), return_exceptions=True)
    connected = time.time()
    failures = [f"{type(s).__name__}: {s}" for s in opened if isinstance(s, BaseException)]
    # Those that failed (Daphne drops a handshake its application has not accepted within 5 s)
    # are opened again 50 at a time, so the rest of the scenario has all its sockets.
    for _ in range(3):
        again = [i for i, s in enumerate(opened) if isinstance(s, BaseException)]
        for start in range(0, len(again), 50):
            chunk = again[start : start + 50]
            retried = await asyncio.gather(
                *(open_one(watches[i]) for i in chunk), return_exceptions=True
            )
            for i, socket in zip(chunk, retried, strict=True):
                opened[i] = socket
    conn.send(("connected", connected, failures[:3], len(failures)))
    readers = [
        loop.create_task(read(w, s))
        for w, s in zip(watches, opened, strict=True)
        if not isinstance(s, BaseException)
    ]
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "close":
            for socket in opened:
                if not isinstance(socket, BaseException):
                    await socket.close()
            for reader in readers:
                reader.cancel()
            conn.send(("closed",))
            return
        _, window, timeout = command  # window: run -> (after, last)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            w.top < window[w.run][1] and w.closed is None for w in watches
        ):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # anything arriving late would be a duplicate
        conn.send(("collected", *measure(watches, window)))


def measure(watches: list[Watch], window: dict[str, tuple[int, int]]) -> tuple[Any, ...]:
    lost = duplicated = delivered = 0
    last_arrival = 0.0
    latencies = array.array("d")
    for watch in watches:
        after, last = window[watch.run]
        mine = [g for g in watch.got if after < g[0] <= last]
        seqs = {seq for seq, _, _ in mine}
        delivered += len(seqs)
        lost += (last - after) - len(seqs)
        duplicated += len(mine) - len(seqs)
        latencies.extend((arrived - ts) * 1000 for _, arrived, ts in mine)
        if mine:
            last_arrival = max(last_arrival, max(arrived for _, arrived, _ in mine))
        watch.got = [g for g in watch.got if g[0] > last]
    return delivered, lost, duplicated, last_arrival, latencies.tobytes()


# -- this process: the stack, the runs and the events ---------------------------------------------


class Runs:
    """Runs of a one-node flow (no worker takes them: only this process writes their events)."""

    def __init__(self, workflow: Any, user: Any) -> None:
        self.workflow, self.user = workflow, user
        self.last: dict[str, int] = {}

    def new(self, count: int) -> list[str]:
        from orchestrator import runs
        from orchestrator.models import Run

        made = [
            str(runs.start_run(self.workflow, {}, actor=self.user, via="command").pk)
            for _ in range(count)
        ]
        for run_id in made:
            self.last[run_id] = Run.objects.get(pk=run_id).last_seq
        return made

    def commit(self, run_id: str) -> None:
        """One event in a transaction of its own, broadcast after the commit."""
        from django.db import transaction
        from django.utils import timezone

        from orchestrator import publisher
        from orchestrator.models import Event, Run

        seq = self.last[run_id] + 1
        with transaction.atomic():
            event = Event.objects.create(
                run_id=run_id,
                seq=seq,
                type="step.note",
                step_key="hot",
                node_id="hot",
                status="running",
                data={"n": seq, "text": PAD},
                ts=timezone.now(),
            )
            Run.objects.filter(pk=run_id).update(last_seq=seq)
            message = event.to_message()
            transaction.on_commit(lambda: publisher.publish_events(run_id, [message]))
        self.last[run_id] = seq


@dataclass
class Result:
    sockets: int
    connect: float
    connect_failures: int
    deliveries_per_s: float
    p50: float
    p99: float
    lost: int
    duplicated: int
    latency_count: int
    inside: str = ""


def scenario(
    mode: str, runs_of: Runs, daphne: Any, session: str, n_runs: int, per_run: int, args: Any
) -> Result:
    ctx = multiprocessing.get_context("spawn")
    run_ids = runs_of.new(n_runs)
    path = PATHS[mode]
    targets = [(r, daphne.ws_url(path.format(r))) for _ in range(per_run) for r in run_ids]
    shares = [targets[i :: args.clients] for i in range(args.clients)]
    pipes, processes = [], []
    for share in shares:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=client_main, args=(child, share, session, daphne.origin))
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        time.sleep(1.0)  # the client processes import websockets before the clock starts
        daphne_spans(daphne, 0.0)  # forgets what the previous mode left there
        asked = time.time()
        for pipe in pipes:
            pipe.send(("connect",))
        replies = [pipe.recv() for pipe in pipes]
        connect = max(reply[1] for reply in replies) - asked
        failures = sum(reply[3] for reply in replies)
        if failures:
            errors = [e for reply in replies for e in reply[2]]
            print(f"  {mode}: {failures} sockets failed to open at first, e.g. {errors[:1]}")
        inside = daphne_spans(daphne, asked)
        if mode == "bare":  # the floor of the connect: nothing is broadcast to these sockets
            close(pipes)
            return Result(len(targets), connect, failures, *[float("nan")] * 3, 0, 0, 0, inside)

        # Throughput: events committed as fast as this process can, round robin over the runs.
        events_per_run = max(args.deliveries // (n_runs * per_run), 5)
        window = {r: (runs_of.last[r], runs_of.last[r] + events_per_run) for r in run_ids}
        started = time.time()
        for _ in range(events_per_run):
            for run_id in run_ids:
                runs_of.commit(run_id)
        burst = collect(pipes, window, timeout=180)
        wall = burst[3] - started

        # Latency: a steady rate.
        total = int(args.rate * args.seconds)
        window = {r: (runs_of.last[r], runs_of.last[r]) for r in run_ids}
        begin = time.monotonic()
        for i in range(total):
            run_id = run_ids[i % n_runs]
            pause = begin + i / args.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            runs_of.commit(run_id)
            window[run_id] = (window[run_id][0], runs_of.last[run_id])
        paced = collect(pipes, window, timeout=60)
        latencies = sorted(array.array("d", paced[4]))
        close(pipes)
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    return Result(
        sockets=len(targets),
        connect=connect,
        connect_failures=failures,
        deliveries_per_s=burst[0] / wall if wall > 0 else 0.0,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        lost=burst[1] + paced[1],
        duplicated=burst[2] + paced[2],
        latency_count=len(latencies),
        inside=inside,
    )


def close(pipes: list[Any]) -> None:
    for pipe in pipes:
        pipe.send(("close",))
        pipe.recv()


def daphne_spans(daphne: Any, asked: float) -> str:
    """Where the connect's time went inside Daphne (bench/fanout_app.py's ``/bench/spans/``),
    from the first socket's arrival there (``asked``: when the clients were told to connect)."""
    import httpx

    taken = httpx.get(f"{daphne.url}/bench/spans/", timeout=30, trust_env=False).json()
    sockets = taken["sockets"]
    if not sockets:
        return ""
    first = min(span["app"] for span in sockets)
    lasts = []
    for mark in ("app", "accept", "ping", "pong"):
        times = [span[mark] for span in sockets if mark in span]
        lasts.append(f"{mark} {max(times) - first:.2f}" if times else f"{mark} -")
    collected = sum(taken["gc"].values())
    full = taken["gc"].get("gen2", 0.0)
    trips = "".join(
        f"; {name}: "
        + ", ".join(f"{n} at {at - first:.2f} for {took * 1000:.0f} ms" for n, at, took in done)
        for name, done in (taken.get("trips") or {}).items()
        if done
    )
    return (
        f"first arrived in Daphne {first - asked:.2f} s after the clients were told to connect; "
        f"from then, last {', '.join(lasts)} s; gc {collected:.2f} s (full {full:.2f}), "
        f"{taken['tracked']:,} objects tracked{trips}"
    )


def collect(
    pipes: list[Any], window: dict[str, tuple[int, int]], timeout: float
) -> tuple[Any, ...]:
    for pipe in pipes:
        pipe.send(("collect", window, timeout))
    replies = [pipe.recv() for pipe in pipes]
    latencies = b"".join(reply[5] for reply in replies)
    return (
        sum(reply[1] for reply in replies),
        sum(reply[2] for reply in replies),
        sum(reply[3] for reply in replies),
        max(reply[4] for reply in replies),
        latencies,
    )


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--deliveries", type=int, default=40000, help="per throughput part")
    parser.add_argument("--rate", type=float, default=50.0, help="events/s in the latency part")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the latency part")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--layer", choices=("redis", "pubsub"), default="redis")
    parser.add_argument("--mode", choices=tuple(PATHS), action="append", help="some sides only")
    args = parser.parse_args()

    os.environ.update(
        {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "SECRET_KEY": SECRET_KEY}
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    prepare_database(DATABASE_URL, REDIS_URL)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from editor import operations as editor_operations
    from tests.support.stack import Daphne, Stack

    if args.layer != "redis":
        settings.CHANNEL_LAYERS = layers(args.layer)
    user, _ = get_user_model().objects.get_or_create(username="bench-fanout")
    workflow = editor_operations.create_workflow(
        user=user,
        name="fan-out",
        graph={"nodes": [{"id": "a", "type": "input", "config": {}}], "edges": []},
    )
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value

    class BenchDaphne(Daphne):
        """Started as the product starts it (orchestrator.web_server), serving bench/fanout_app."""

        def __init__(self, stack: Any, name: str, port: int, env: dict[str, str]) -> None:
            from orchestrator import web_server

            super().__init__(stack, name, port, env)
            command = web_server.daphne_argv("127.0.0.1", port)
            assert command[-1] == web_server.APPLICATION
            self.argv = [*command[:-1], "bench.fanout_app:application"]

    stack = Stack(
        DATABASE_URL,
        REDIS_URL,
        env={
            "SECRET_KEY": SECRET_KEY,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "FANOUT_BENCH_LAYER": args.layer,
        },
    )
    stack.flush_redis()
    from tests.support.stack import free_port

    daphne = stack._track(BenchDaphne(stack, stack._name("daphne"), free_port(), stack._env(None)))
    daphne.start().wait_ready()
    runs_of = Runs(workflow, user)
    results: dict[str, dict[str, Result]] = {}
    try:
        for name in args.only or list(SCENARIOS):
            n_runs, per_run = SCENARIOS[name]
            results[name] = {}
            for mode in args.mode or tuple(PATHS):
                results[name][mode] = scenario(
                    mode, runs_of, daphne, session, n_runs, per_run, args
                )
                report(name, mode, results[name][mode])
    finally:
        stack.close()
    summary(results, args)


def report(name: str, mode: str, r: Result) -> None:
    opened = f"{name:>7} {mode:>5}: {r.sockets} sockets, connect {r.connect:6.2f} s" + (
        f" ({r.connect_failures} failed, opened again)" if r.connect_failures else ""
    )
    if mode != "bare":
        opened += (
            f", {r.deliveries_per_s:9.0f} deliveries/s, p50 {r.p50:6.1f} ms, p99 {r.p99:6.1f} ms "
            f"({r.latency_count} arrivals), lost {r.lost}, duplicated {r.duplicated}"
        )
    print(opened, flush=True)
    if r.inside:
        print(f"{'':>15}{r.inside}", flush=True)


def summary(results: dict[str, dict[str, Result]], args: Any) -> None:
    print()
    print(
        f"Fan-out on one Daphne ({args.layer} layer), {args.clients} client processes; "
        f"latency at {args.rate:g} events/s for {args.seconds:g} s; load {os.getloadavg()[0]:.1f}"
    )
    header = (
        "scenario        sockets  connect bare/naive/ours (s)   deliveries/s naive/ours   ratio"
        "   p50 naive/ours   p99 naive/ours   lost  dup"
    )
    print(header)
    print("-" * len(header))
    nothing = Result(0, float("nan"), 0, float("nan"), float("nan"), float("nan"), 0, 0, 0)
    for name, modes in results.items():
        if "naive" not in modes or "ours" not in modes:
            continue
        bare, naive, ours = modes.get("bare", nothing), modes["naive"], modes["ours"]
        ratio = ours.deliveries_per_s / naive.deliveries_per_s if naive.deliveries_per_s else 0
        print(
            f"{LABELS[name]:<15} {ours.sockets:>7}  {opened(bare)} / {opened(naive)}"
            f" / {opened(ours)}        {naive.deliveries_per_s:9.0f} / "
            f"{ours.deliveries_per_s:7.0f}   {ratio:5.2f}×   {naive.p50:5.1f} / {ours.p50:5.1f}"
            f"   {naive.p99:6.1f} / {ours.p99:5.1f}"
            f"   {naive.lost}/{ours.lost}  {naive.duplicated}/{ours.duplicated}"
        )
    print("(* some sockets failed to open at first: the connect is until the first try ended)")
    print()
    print("Goals (issue 16), this run:")
    for goal, figure, met in goals(results):
        verdict = "not run" if met is None else ("met" if met else "NOT MET")
        print(f"  {goal:<66} {figure:<36} {verdict}")


def opened(r: Result) -> str:
    return f"{r.connect:5.2f}{'*' if r.connect_failures else ' '}"


LABELS = {
    "20": "1 run x 20",
    "200": "1 run x 200",
    "1000": "1 run x 1000",
    "100x10": "100 runs x 10",
}


def goals(results: dict[str, dict[str, Result]]) -> list[tuple[str, str, bool | None]]:
    """Each goal of the live fan-out, this run's figure for it, and whether it is met (None: the
    scenario it needs was not run)."""

    def ours(name: str) -> Result | None:
        return results.get(name, {}).get("ours")

    found: list[tuple[str, str, bool | None]] = []
    hot, hot_naive = ours("1000"), results.get("1000", {}).get("naive")
    goal = "1,000 watchers of one run: >= 4x naive and >= 10,000 deliveries/s"
    if hot is None or hot_naive is None:
        found.append((goal, "", None))
    else:
        ratio = hot.deliveries_per_s / hot_naive.deliveries_per_s
        figure = f"{ratio:.2f}x, {hot.deliveries_per_s:,.0f}/s"
        found.append((goal, figure, ratio >= 4 and hot.deliveries_per_s >= 10_000))
    for name, goal, limit in (
        ("200", "200 watchers of one busy run: event latency p99 <= 50 ms", 50.0),
        ("100x10", "1,000 sockets over 100 runs: p99 <= 30 ms", 30.0),
    ):
        r = ours(name)
        found.append((goal, "", None) if r is None else (goal, f"{r.p99:.1f} ms", r.p99 <= limit))
    for name in ("1000", "100x10"):
        r = ours(name)
        goal = f"connecting 1,000 sockets ({LABELS[name]}) <= 1 s"
        if r is None:
            found.append((goal, "", None))
            continue
        anchors = results[name]
        figure = f"{r.connect:.2f} s" + "".join(
            f", {mode} {anchors[mode].connect:.2f} s"
            for mode in ("bare", "naive")
            if mode in anchors
        )
        found.append((goal, figure, r.connect <= 1.0 and r.connect_failures == 0))
    runs = [modes["ours"] for modes in results.values() if "ours" in modes]
    goal = "every socket gets every event once: lost 0, duplicated 0"
    if not runs:
        found.append((goal, "", None))
    else:
        lost, duplicated = sum(r.lost for r in runs), sum(r.duplicated for r in runs)
        found.append((goal, f"lost {lost}, duplicated {duplicated}", lost == duplicated == 0))
    return found


if __name__ == "__main__":
    main()
