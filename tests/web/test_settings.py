"""The settings' promises: SQLite in WAL mode by default, Celery and Channels as PITFALLS asks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from orchestrator import celery_app

ROOT = Path(__file__).resolve().parents[2]


def test_without_database_url_it_uses_sqlite_in_wal_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="orchestrator.settings")
    script = (
        "import django; django.setup();"
        "from django.db import connection;"
        "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode');"
        "print(connection.vendor, cursor.fetchone()[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["sqlite", "wal"]
    assert (tmp_path / "db.sqlite3").exists()


def test_celery_acknowledges_late_one_task_at_a_time() -> None:
    conf = celery_app.conf
    assert conf.broker_url == settings.REDIS_URL
    assert conf.result_backend == settings.REDIS_URL
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]


def test_the_channel_layer_never_times_out_its_blocking_read() -> None:
    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host == {"address": settings.REDIS_URL, "socket_timeout": None}


def test_daphne_comes_first_and_the_asgi_app_loads() -> None:
    assert settings.INSTALLED_APPS[0] == "daphne"
    from orchestrator.asgi import application

    assert set(application.application_mapping) == {"http", "websocket"}


def test_a_trace_url_template_without_the_trace_id_stops_the_process_saying_so(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
        "TRACE_URL_TEMPLATE": "http://jaeger:16686/trace/",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "TRACE_URL_TEMPLATE must be an http(s) address with {trace_id}" in result.stderr
