"""docker-compose.yml is checked by Debian's docker-compose (v1): no Docker engine runs here, but
`config` parses, validates and interpolates the file exactly as `up` would."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing; dev.d/test-setup installs it (as root)")
        pytest.skip("docker-compose is not installed: apt-get install docker-compose")
    # An empty env file, so a developer's own .env cannot change what is checked.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PORT"}}
    return subprocess.run(
        [tool, "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_compose_file_is_valid(tmp_path: Path) -> None:
    result = compose("config", "-q", tmp_path=tmp_path, SECRET_KEY="a-test-key")
    assert result.returncode == 0, result.stderr


def test_it_runs_web_workers_beat_redis_and_postgres(tmp_path: Path) -> None:
    result = compose("config", tmp_path=tmp_path, SECRET_KEY="a-test-key")
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["SECRET_KEY"] == "a-test-key"
    assert services["web"]["command"][:2] == ["flowbuilder", "web"]
    assert services["worker"]["command"][:2] == ["flowbuilder", "worker"]
    assert services["beat"]["command"][:2] == ["flowbuilder", "beat"]
    # Workers scale with --scale worker=N only if nothing pins them to one container.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]
    assert services["worker"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_it_refuses_to_run_without_a_secret_key(tmp_path: Path) -> None:
    result = compose("config", "-q", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr
