"""Each process of docker-compose.yml names its role (FLOWBUILDER_PROCESS) and keeps every shared
variable: read with PyYAML, whose merge keys (``<<: *anchor``) resolve as Compose's do. No
Docker is needed (tests/test_docker_compose.py checks the rest through docker-compose itself).

The trap this guards: a service's ``environment`` replaces the whole map it got from ``<<: *app``,
so a service that adds its role without merging the shared map back in loses DATABASE_URL,
SECRET_KEY and the rest, and would start against no database at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"

# What orchestrator/settings.py reads as the role; Daphne's process sets "web" itself
# (orchestrator/asgi.py), so the web service and one-off commands (migrate, `run web manage.py`)
# carry none.
ROLES = {"web": None, "migrate": None, "worker": "worker", "beat": "beat"}
SHARED = {
    "DATABASE_URL": "postgres://flowbuilder:flowbuilder@postgres:5432/flowbuilder",
    "REDIS_URL": "redis://redis:6379/0",
    "SECRET_KEY": "${SECRET_KEY:?set SECRET_KEY in the environment or in .env}",
    "CREDENTIALS_KEY": "${CREDENTIALS_KEY:-}",
    "OUTBOUND_ALLOWLIST": "${OUTBOUND_ALLOWLIST:-}",
    "ALLOWED_HOSTS": "${ALLOWED_HOSTS:-localhost,127.0.0.1}",
    "CSRF_TRUSTED_ORIGINS": "${CSRF_TRUSTED_ORIGINS:-}",
    "BEHIND_HTTPS_PROXY": "${BEHIND_HTTPS_PROXY:-}",
    "LOG_FORMAT": "${LOG_FORMAT:-json}",
    "METRICS_TOKEN": "${METRICS_TOKEN:-}",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "${OTEL_EXPORTER_OTLP_ENDPOINT:-}",
}


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as Compose passes it: the map form, or ``KEY=value`` (``KEY``
    alone: taken from the shell, here None) in the list form."""
    raw = service.get("environment") or {}
    if isinstance(raw, dict):
        return {str(key): None if value is None else str(value) for key, value in raw.items()}
    found: dict[str, str | None] = {}
    for item in raw:
        key, sep, value = str(item).partition("=")
        found[key] = value if sep else None
    return found


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return dict(loaded["services"])


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_app_process_names_its_role_and_keeps_the_shared_variables(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    assert env.get("FLOWBUILDER_PROCESS") == ROLES[name], env
    missing = {key: value for key, value in SHARED.items() if env.get(key) != value}
    assert not missing, f"{name} lost or changed shared variables: {sorted(missing)}"
    # Nothing else either: a variable meant for every process belongs in the shared map.
    own = {"worker": {"WORKER_METRICS_PORT", "WORKER_METRICS_ADDRESS"}}.get(name, set())
    assert set(env) - set(SHARED) <= {"FLOWBUILDER_PROCESS", *own}, sorted(env)


def test_the_roles_match_the_commands(services: dict[str, dict[str, Any]]) -> None:
    # `flowbuilder web` runs Daphne on orchestrator.asgi, which sets "web"; `flowbuilder worker`
    # and `beat` set their role as the compose file does (orchestrator/cli.py).
    assert services["web"]["command"][:2] == ["flowbuilder", "web"]
    assert services["worker"]["command"][:2] == ["flowbuilder", "worker"]
    assert services["beat"]["command"][:2] == ["flowbuilder", "beat"]
    assert services["migrate"]["command"] == ["flowbuilder", "migrate"]


def test_the_roles_are_ones_the_settings_know() -> None:
    # orchestrator/settings.py treats "web" specially and names every role to PostgreSQL; the
    # Procfile uses the same names as the compose file.
    procfile = (COMPOSE.parent / "Procfile").read_text()
    for role in filter(None, ROLES.values()):
        assert f"FLOWBUILDER_PROCESS={role} celery -A orchestrator {role}" in procfile
