"""The canvas with large flows, in headless Chromium at 1280×800 against the real stack.

    (cd frontend && npm run build) && .venv/bin/python bench/canvas.py [--sizes 100 500 1000]

For each generated flow (a layered DAG of ``transform`` nodes on a grid, each node fed by one or
two nodes of the layer before; valid per runtime/validation.py) it prints:

1. first render: from navigation start (``performance.timeOrigin``) of ``/workflows/<id>`` to the
   first animation frame in which every one of the flow's nodes is in the DOM as a
   ``.react-flow__node`` and none is still hidden for measuring (React Flow keeps a node
   ``visibility: hidden`` until it has its size). The canvas renders every node, not only the
   visible ones, so this is "the whole flow is on the canvas", a bit more than the viewport.
   Median of 3 opens, after one that warms the browser's cache;
2. pan fps: animation frames per second counted with requestAnimationFrame inside the page while
   the mouse drags the pane back and forth for about 3 s (real input events through CDP);
3. run-update fps: the same counting on ``/workflows/<id>/runs/<runId>`` while 50 events a second
   (step.started, then step.succeeded, node after node) are written for about 3 s by a background
   thread through ``orchestrator.unit_of_work.RunTransaction``: Event rows with a gap-free seq,
   broadcast on commit over Redis to Daphne and the page's real WebSocket, so they go through the
   app's own run view (reducer, node statuses). No Celery worker: the run is created as "running"
   and nothing executes its steps. At the end it checks the nodes' ``data-status`` on the page.

It needs PostgreSQL at 127.0.0.1:5432 (it creates and migrates the database ``flowbench_canvas``)
and Redis at 127.0.0.1:6379 (it uses db 8 and empties it first), and Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench_canvas"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
PASSWORD = "bench-canvas-password"
SECONDS = 3.0
OPENS = 3  # first render: the median of this many opens
EVENTS_PER_SECOND = 50

# Runs in the page before its own scripts: the first-render probe and an fps counter.
PROBE = """
(() => {
  const expected = Number(sessionStorage.getItem('benchExpected') || 0);
  window.__bench = { expected, rendered: null, frames: null };
  const tick = () => {
    const b = window.__bench;
    if (b.rendered === null && b.expected > 0) {
      const nodes = document.querySelectorAll('.react-flow__node');
      if (nodes.length >= b.expected) {
        let hidden = false;
        for (const node of nodes) {
          if (node.style.visibility === 'hidden') { hidden = true; break; }
        }
        if (!hidden) b.rendered = performance.now();
      }
    }
    if (b.frames) b.frames.push(performance.now());
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def layered_graph(count: int) -> dict[str, Any]:
    """``count`` transform nodes in layers (columns) of ``rows``; node r of layer L reads nodes r
    and r+1 of layer L-1."""
    rows = max(1, round(math.sqrt(count)))
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for i in range(count):
        layer, row = divmod(i, rows)
        nodes.append(
            {
                "id": f"n{i}",
                "type": "transform",
                "config": {"template": "{{ upstream }}."},
                "position": {"x": layer * 300, "y": row * 140},
            }
        )
        if layer:
            edges.append({"id": f"e{i}a", "source": f"n{i - rows}", "target": f"n{i}"})
            if row + 1 < rows:
                edges.append({"id": f"e{i}b", "source": f"n{i - rows + 1}", "target": f"n{i}"})
    return {"nodes": nodes, "edges": edges}


def prepare_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        exists = db.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'flowbench_canvas'"
        ).fetchone()
        if not exists:
            db.execute("CREATE DATABASE flowbench_canvas")
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
    )


def create_run(workflow: Any, user: Any) -> Any:
    """A run that is "running" with only its run.started event: nothing will execute it."""
    from django.db import transaction
    from django.utils import timezone

    from orchestrator.models import Run
    from orchestrator.unit_of_work import RunTransaction

    version = workflow.current_version
    with transaction.atomic():
        run = Run.objects.create(
            workspace=workflow.workspace,
            workflow=workflow,
            version=version,
            status="running",
            input={},
            created_by=user,
            started_at=timezone.now(),
        )
        with RunTransaction(run.pk) as txn:
            txn.emit("run.started", data={"input": {}, "version": version.number})
    return run


class EventFeed(threading.Thread):
    """Writes ``rate`` step events a second (started, then succeeded, node after node), one
    RunTransaction each, paced on an absolute schedule, until stopped."""

    def __init__(self, run_id: Any, node_ids: list[str], rate: int) -> None:
        super().__init__(daemon=True)
        self.run_id = run_id
        self.node_ids = node_ids
        self.rate = rate
        self.stopping = threading.Event()
        self.written = 0
        self.started_at = 0.0
        self.ended_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        from orchestrator.models import Step
        from orchestrator.unit_of_work import RunTransaction

        try:
            self.started_at = time.perf_counter()
            while not self.stopping.is_set():
                due = self.started_at + self.written / self.rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                index, finishing = divmod(self.written, 2)
                if index >= len(self.node_ids):
                    break
                node = self.node_ids[index]
                # The event carries the step's key, node and status; no Step row is needed for the
                # canvas (the snapshot is read once, before the feed starts).
                step = Step(key=node, node_id=node, node_type="transform")
                with RunTransaction(self.run_id) as txn:
                    if finishing:
                        step.status = "succeeded"
                        data = {
                            "output": f"{node}.",
                            "branch": None,
                            "attempt": 1,
                            "model": None,
                            "tokens_in": 0,
                            "tokens_out": 0,
                            "cost": 0.0,
                            "duration_ms": 1000 / self.rate,
                        }
                        txn.emit("step.succeeded", step, data)
                    else:
                        step.status = "running"
                        data = {"attempt": 1, "input": {}, "parent": None, "round": 0}
                        txn.emit("step.started", step, data)
                self.written += 1
            self.ended_at = time.perf_counter()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.ended_at = time.perf_counter()
        finally:
            connection.close()

    @property
    def achieved(self) -> float:
        return self.written / max(self.ended_at - self.started_at, 1e-9)


def count_fps(page: Any, action: Any) -> float:
    page.evaluate("window.__bench.frames = []")
    action()
    frames = page.evaluate(
        "(() => { const f = window.__bench.frames; window.__bench.frames = null; return f; })()"
    )
    if len(frames) < 2:
        return 0.0
    return (len(frames) - 1) / ((frames[-1] - frames[0]) / 1000)


def open_canvas(page: Any, url: str, expected: int, timeout: float = 60.0) -> float:
    """Navigate; the ms from navigation start to the frame with every node rendered."""
    # Same origin: the probe of the next document reads it before the app starts.
    page.evaluate(f"sessionStorage.setItem('benchExpected', '{expected}')")
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.__bench.rendered !== null", timeout=timeout * 1000, polling=50)
    return float(page.evaluate("window.__bench.rendered"))


def empty_pane_point(page: Any) -> tuple[float, float]:
    """A point of the canvas where the pane itself (no node, edge or control) is under the mouse."""
    point = page.evaluate(
        """() => {
          const box = document.querySelector('.react-flow').getBoundingClientRect();
          for (let y = box.top + box.height * 0.3; y < box.bottom - 40; y += 7) {
            for (let x = box.left + box.width * 0.3; x < box.right - 40; x += 7) {
              const hit = document.elementFromPoint(x, y);
              if (hit && hit.classList.contains('react-flow__pane')) return [x, y];
            }
          }
          return null;
        }"""
    )
    if point is None:
        raise SystemExit("no empty spot of the pane to drag")
    return float(point[0]), float(point[1])


def pan(page: Any, seconds: float = SECONDS) -> None:
    """Drag the pane back and forth (±240 px, 8 px a move) for ``seconds``."""
    x, y = empty_pane_point(page)
    page.mouse.move(x, y)
    page.mouse.down()
    offset, step = 0.0, 8.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if abs(offset + step) > 240:
            step = -step
        offset += step
        page.mouse.move(x + offset, y + offset / 3)
    page.mouse.up()


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def measure(page: Any, base: str, workflow: Any, user: Any, count: int) -> dict[str, Any]:
    from orchestrator.models import Event

    node_ids = [f"n{i}" for i in range(count)]
    # A first visit warms the browser's cache (the JS chunks) so each size pays the same.
    url = f"{base}/workflows/{workflow.pk}"
    open_canvas(page, url, count)
    first_render = statistics.median(open_canvas(page, url, count) for _ in range(OPENS))
    page.wait_for_timeout(500)
    pan_fps = count_fps(page, lambda: pan(page))

    run = create_run(workflow, user)
    open_canvas(page, f"{base}/workflows/{workflow.pk}/runs/{run.pk}", count)
    page.wait_for_selector(".conn-open", timeout=20_000)
    page.wait_for_timeout(500)
    feed = EventFeed(run.pk, node_ids, EVENTS_PER_SECOND)

    def run_updates() -> None:
        feed.start()
        time.sleep(SECONDS)
        feed.stopping.set()
        feed.join(10)

    run_fps = count_fps(page, run_updates)
    if feed.error is not None:
        raise feed.error
    finished = feed.written // 2
    # Every event written must reach the canvas through the socket and the reducer.
    succeeded = "document.querySelectorAll('.react-flow__node > [data-status=succeeded]').length"
    page.wait_for_function(f"{succeeded} >= {finished}", timeout=20_000)
    shown = page.evaluate(succeeded)
    assert Event.objects.filter(run=run).count() == feed.written + 1
    return {
        "nodes": count,
        "first_render": first_render,
        "pan_fps": pan_fps,
        "run_fps": run_fps,
        "events": feed.written,
        "rate": feed.achieved,
        "shown": shown,
        "finished": finished,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    args = parser.parse_args()

    os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    # The feed thread runs the ORM while Playwright's sync API holds an event loop in this thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    if not (REPO / "static" / "app" / "index.html").exists():
        raise SystemExit("build the canvas first: (cd frontend && npm run build)")
    prepare_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from editor import operations as editor_operations
    from tests.support.stack import Stack

    user, _ = get_user_model().objects.get_or_create(username="bench-canvas")
    user.set_password(PASSWORD)
    user.save()
    workflows = {
        count: editor_operations.create_workflow(
            user=user, name=f"canvas {count}", graph=layered_graph(count)
        )
        for count in args.sizes
    }

    # Sessions are signed with SECRET_KEY: Daphne must accept the login made through it.
    stack = Stack(DATABASE_URL, REDIS_URL, env={"SECRET_KEY": os.environ["SECRET_KEY"]})
    stack.flush_redis()
    results = []
    try:
        daphne = stack.daphne()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.add_init_script(PROBE)
                log_in(page, daphne.url, user.username)
                for count, workflow in workflows.items():
                    results.append(measure(page, daphne.url, workflow, user, count))
            finally:
                browser.close()
    finally:
        stack.close()

    print(f"Canvas in headless Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, Daphne")
    print(f"{'nodes':>6} {'first render (ms)':>18} {'pan fps':>8} {'run-update fps':>15}  run feed")
    print("-" * 86)
    for r in results:
        print(
            f"{r['nodes']:>6} {r['first_render']:>18.0f} {r['pan_fps']:>8.1f} {r['run_fps']:>15.1f}"
            f"  {r['events']} events at {r['rate']:.1f}/s; {r['shown']} nodes shown succeeded"
            f" (expected {r['finished']})"
        )
    print("targets: 1,000 nodes open in under 2,000 ms; pan at 30+ fps")


if __name__ == "__main__":
    main()
