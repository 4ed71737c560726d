"""/metrics: who may read it (loopback, or a Bearer token when METRICS_TOKEN is set)."""

from __future__ import annotations

from django.test import Client


def test_without_a_token_only_loopback_clients_read_it(db: None, settings: object) -> None:
    settings.METRICS_TOKEN = ""  # type: ignore[attr-defined]
    here = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert here.status_code == 200
    assert b"# TYPE flowbuilder_steps_queued gauge" in here.content
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    away = Client(REMOTE_ADDR="10.1.2.3").get("/metrics")
    assert away.status_code == 403
    assert b"METRICS_TOKEN" in away.content


def test_with_a_token_everyone_needs_it(db: None, settings: object) -> None:
    settings.METRICS_TOKEN = "a-metrics-token-0123456789"  # type: ignore[attr-defined]
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 401
    bearer = {"HTTP_AUTHORIZATION": "Bearer a-metrics-token-0123456789"}
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", **bearer).status_code == 200
    wrong = {"HTTP_AUTHORIZATION": "Bearer a-metrics-token-012345678"}
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", **wrong).status_code == 401
