"""The image builds from a fresh clone: no Docker engine runs here, so the Dockerfile is read and
every path it copies is checked against a fresh clone of this repository (HEAD, before any build
step: `docker compose up --build` needs none), against .dockerignore, and against what the Node
stage builds; and the image's commands are ones the package's `flowbuilder` command provides."""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from orchestrator.cli import commands

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def copies() -> list[dict[str, Any]]:
    """Each COPY: its stage, --from (or None), sources and destination, and the stage's WORKDIR."""
    stage, workdir, found = "", "/", []
    for keyword, rest in instructions():
        if keyword == "FROM":
            parts = rest.split()
            stage = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else parts[0]
            workdir = "/"
        elif keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / rest)
        elif keyword == "COPY":
            words = shlex.split(rest)
            origin = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            paths = [w for w in words if not w.startswith("--")]
            found.append(
                {"stage": stage, "from": origin, "sources": paths[:-1], "workdir": workdir}
            )
    return found


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("clone") / "flowbuilder"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    return target


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/")
        for pattern in patterns
    )


def test_every_path_copied_from_the_context_is_in_a_fresh_clone(clone: Path) -> None:
    from_context = [copy for copy in copies() if copy["from"] is None]
    assert from_context, "the Dockerfile copies nothing from the build context"
    for copy in from_context:
        for source in copy["sources"]:
            matches = list(clone.glob(source.rstrip("/")))
            assert matches, f"COPY {source} ({copy['stage']}): not in a fresh clone"
            assert not ignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
    # The canvas is built in the image, so nothing may come from the built (ignored) static/.
    assert not (clone / "static").exists()
    assert not any(s.startswith("static") for c in from_context for s in c["sources"])


def test_the_canvas_is_copied_from_where_the_node_stage_builds_it() -> None:
    (canvas,) = [copy for copy in copies() if copy["from"] == "frontend"]
    node_stage = next(c for c in copies() if c["stage"] == "frontend")
    out_dir = re.search(r"outDir:\s*'([^']+)'", (ROOT / "frontend/vite.config.ts").read_text())
    assert out_dir is not None
    resolved = posixpath.normpath(posixpath.join(node_stage["workdir"], out_dir.group(1)))
    assert resolved == "/src/static/app"
    assert canvas["sources"] == [resolved]
    # The wheel stage carries what setup.py puts in the package: templates, canvas, examples.
    wheel = {s for c in copies() if c["stage"] == "wheel" for s in c["sources"]}
    assert {"templates", "examples", "setup.py", "MANIFEST.in", "Procfile"} <= wheel


def test_the_image_and_compose_commands_are_the_packages_command() -> None:
    provided = set(commands())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["flowbuilder"] == "orchestrator.cli:main"
    (cmd,) = [json_args for keyword, json_args in instructions() if keyword == "CMD"]
    words = yaml.safe_load(cmd)  # the exec form is a JSON list
    assert words[0] == "flowbuilder" and words[1] in provided
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "flowbuilder manage collectstatic" in runs
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("web", "worker", "beat", "migrate"):
        command = services[name]["command"]
        assert command[0] == "flowbuilder" and command[1] in provided, (name, command)
