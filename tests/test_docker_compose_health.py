"""docker-compose.yml's health checks point at what the app serves: the web service waits on
/readyz (database, Redis, a live worker), each worker on a ping of its own node, beat on its
heartbeat, and the data services on their own tools. Read with PyYAML (no Docker engine runs
here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.urls import resolve

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_every_long_running_service_has_a_health_check() -> None:
    found = services()
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "test" in found[name].get("healthcheck", {}), name


def test_beat_checks_its_own_heartbeat_with_a_command_the_app_has() -> None:
    test = services()["beat"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "flowbuilder", "manage", "beat_health"]
    assert "--here" in test
    from django.core.management import get_commands

    assert get_commands()["beat_health"] == "orchestrator"


def test_the_web_check_asks_readyz_which_the_app_routes() -> None:
    test = " ".join(services()["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in test
    assert resolve("/readyz").url_name == "readyz"
    assert resolve("/healthz").url_name == "healthz"


def test_a_worker_pings_its_own_node_not_any_worker() -> None:
    test = services()["worker"]["healthcheck"]["test"]
    # "$$" is Compose's escape for a "$" the container's shell expands.
    assert test[0] == "CMD-SHELL"
    assert "inspect ping" in test[1]
    assert "-d celery@$$HOSTNAME" in test[1]
