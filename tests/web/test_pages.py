from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client


def test_healthz_answers_while_the_process_is_up(db: None, settings: object) -> None:
    # Liveness touches nothing else: Redis down does not make a web process look dead.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_what_is_down(db: None, settings: object) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")
    assert body["workers"] == "error: Redis is down"


def test_the_login_page_logs_a_person_in(alice: User) -> None:
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post(
        "/login/", {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    # The canvas app: ./dev builds it into static/app/ before the tests run.
    assert home.status_code == 200
    assert b"/static/app/" in home.content
    assert "csrftoken" in home.cookies


def test_a_wrong_password_shows_the_form_again(alice: User) -> None:
    response = Client().post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_the_home_page_needs_a_login(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_logout_is_a_post(alice: User) -> None:
    client = Client()
    client.force_login(alice)
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_an_unknown_page_is_html_and_an_unknown_api_path_is_json(db: None) -> None:
    assert Client().get("/nowhere/")["Content-Type"].startswith("text/html")
    response = Client().get("/api/nowhere/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
