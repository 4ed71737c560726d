"""Installed like its peers: a wheel built from a fresh clone (after the documented build steps:
the canvas with npm, then `pip wheel`), installed into a new virtual environment outside the
checkout, starts the app with `flowbuilder start` from another folder, and serves the canvas,
its static files and the API. Slow (a real install with every dependency): marker `install`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.devserver import read_first_login
from tests.orchestrator.conftest import chain, node
from tests.support.stack import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.install


def run(*argv: str | Path, cwd: Path, timeout: float = 600) -> None:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The new environment's bin/ (the wheel of a fresh clone installed there)."""
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is missing: the canvas cannot be built")
        pytest.skip("npm is not installed: the canvas cannot be built")
    base = tmp_path_factory.mktemp("install")
    clone = base / "clone"
    run("git", "clone", "-q", ROOT, clone, cwd=base)
    assert not (clone / "static").exists()
    run("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", cwd=clone / "frontend")
    run("npm", "run", "build", cwd=clone / "frontend")
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", ".", cwd=clone
    )
    (wheel,) = (base / "dist").glob("flowbuilder-*.whl")
    venv = base / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=base)
    run(venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=base)
    shutil.rmtree(clone)  # nothing may come from the checkout it was built from
    return venv / "bin"


@pytest.fixture
def started(installed: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONPATH"}
        and not key.startswith(("OPENAI_", "ANTHROPIC_", "SECRET_", "CREDENTIALS_"))
    }
    env.update(
        VAR_DIR=str(data),
        REDIS_URL=os.environ.get("STACK_REDIS_URL", "redis://127.0.0.1:6379/5"),
        PATH=f"{installed}:/usr/bin:/bin",
    )
    log = (tmp_path / "start.log").open("wb")
    process = subprocess.Popen(
        [str(installed / "flowbuilder"), "start", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=3, trust_env=False).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 120, "flowbuilder start to be ready", interval=0.5)
        yield url, data
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_a_wheel_of_a_fresh_clone_starts_the_app_with_flowbuilder_start(
    installed: Path, started: tuple[str, Path]
) -> None:
    url, data = started
    # The code runs from the new environment, not from any checkout.
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import orchestrator as o, flowbuilder_assets as a; print(o.__file__, a.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=data,
    ).stdout
    # (as directories: a checkout at /tmp/ci is not a prefix of /tmp/citmp/…)
    assert f"{ROOT}/" not in where and f"{installed.parent}/" in where
    # The data went to VAR_DIR: the SQLite database, the keys it made, the first login.
    assert (data / "db.sqlite3").is_file()
    assert (data / "secret-key").is_file() and (data / "credentials-key").is_file()
    first = read_first_login(data)
    assert first is not None
    username, password = first

    with httpx.Client(base_url=url, timeout=15, trust_env=False) as client:
        login = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert token is not None
        signed_in = client.post(
            "/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"Referer": f"{url}/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        # The canvas (built into the wheel) and a bundle it loads.
        page = client.get("/")
        assert page.status_code == 200
        assert '<div id="root">' in page.text
        bundle = re.search(r'src="(/static/app/[^"]+\.js)"', page.text)
        assert bundle is not None, page.text[:500]
        script = client.get(bundle.group(1))
        assert script.status_code == 200 and len(script.content) > 1000
        # The API, and the example flows the wheel carries.
        examples = client.get("/api/examples/")
        assert examples.status_code == 200, examples.text[:300]
        assert "research" in examples.text
        assert client.get("/api/workflows/").status_code == 200
        # A flow saved and run on the embedded stack (SQLite, the worker it started) to its end:
        # the run side's SQL must hold on SQLite too (a run's UUID once went to it unprepared).
        csrf = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{url}/"}
        graph = chain(
            node("brief", "input"),
            node("shout", "transform", template="{{ input.topic }}!"),
            node("result", "output"),
        )
        made = client.post("/api/workflows/", json={"name": "Shout", "graph": graph}, headers=csrf)
        assert made.status_code == 201, made.text[:500]
        run = client.post(
            f"/api/workflows/{made.json()['id']}/runs/",
            json={"input": {"topic": "owls"}},
            headers=csrf,
        )
        assert run.status_code == 201, run.text[:500]

        def ended() -> dict[str, object] | None:
            found = client.get(f"/api/runs/{run.json()['id']}/").json()
            return found if found["status"] not in ("queued", "running") else None

        finished = wait_until(ended, 60, "the run to end", interval=0.2)
        assert (finished["status"], finished["output"]) == ("succeeded", "owls!"), finished
