"""Who opened a socket, looked up for many sockets at once (orchestrator/socket_auth.py), is who
Channels' own ``get_user`` says for each of them alone; and the lookup of a whole batch costs two
queries however many sockets it holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from channels.auth import get_user
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from orchestrator.socket_auth import users_of

pytestmark = pytest.mark.django_db

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


def logged_in(user: User) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def scope_of(key: str | None) -> dict[str, Any]:
    """A socket's scope as Channels' session middleware leaves it (a fresh store per socket)."""
    return {"type": "websocket", "session": SessionStore(key)}


def kinds(alice: User, bob: User) -> dict[str, Callable[[], str | None]]:
    """Ways a socket can come with a session; each makes a session of its own when called."""

    def expired() -> str:
        key = logged_in(alice)
        Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
        return key

    def password_changed() -> str:
        key = logged_in(bob)
        # The session's hash no longer matches: Channels flushes it and the socket is anonymous.
        User.objects.filter(pk=bob.pk).update(password="md5$other$0123")
        return key

    def inactive() -> str:
        someone = User.objects.create_user(f"inactive{User.objects.count()}", password="x")
        key = logged_in(someone)
        User.objects.filter(pk=someone.pk).update(is_active=False)
        return key

    def deleted() -> str:
        someone = User.objects.create_user(f"gone{User.objects.count()}", password="x")
        key = logged_in(someone)
        User.objects.filter(pk=someone.pk).delete()  # its sessions stay (they name it by id)
        return key

    def with_data(data: dict[str, Any]) -> Callable[[], str]:
        def make() -> str:
            store = SessionStore()
            store.update(data)
            store.create()
            return str(store.session_key)

        return make

    return {
        "alice": lambda: logged_in(alice),
        "alice again": lambda: logged_in(alice),
        "no cookie": lambda: None,
        "unknown key": lambda: "k" * 32,
        "malformed key": lambda: "short",
        "expired": expired,
        "inactive": inactive,
        "deleted user": deleted,
        "anonymous session": with_data({"cart": 1}),
        "backend not configured": with_data(
            {SESSION_KEY: str(alice.pk), BACKEND_SESSION_KEY: "somewhere.else.Backend"}
        ),
        "malformed user id": with_data(
            {SESSION_KEY: "not-a-number", BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0]}
        ),
        # last: it changes bob's password, which the sessions above do not depend on
        "password changed": password_changed,
    }


def outcome(user: Any, scope: dict[str, Any]) -> tuple[Any, ...]:
    store = scope["session"]
    kept = store.session_key is not None and Session.objects.filter(pk=store.session_key).exists()
    if isinstance(user, Exception):
        return ("raised", type(user).__name__, kept)
    return (user.is_authenticated, user.pk, kept)


def test_a_batch_decides_every_socket_as_channels_decides_it_alone(alice: User, bob: User) -> None:
    made = kinds(alice, bob)
    # Two sessions of each kind, made in the same state: one for the batch, one for Channels.
    ours_keys, theirs_keys = {}, {}
    for name, make in made.items():
        ours_keys[name], theirs_keys[name] = make(), make()
    ours = {name: scope_of(key) for name, key in ours_keys.items()}
    theirs = {name: scope_of(key) for name, key in theirs_keys.items()}

    found = dict(zip(ours, users_of(list(ours.values())), strict=True))
    expected: dict[str, Any] = {}
    for name, scope in theirs.items():
        try:
            expected[name] = get_user.func(scope)
        except Exception as exc:
            expected[name] = exc

    assert {name: outcome(found[name], ours[name]) for name in made} == {
        name: outcome(expected[name], theirs[name]) for name in made
    }
    # The cases say what they are meant to (a batch of anonymous sockets would agree as well):
    assert outcome(found["alice"], ours["alice"]) == (True, alice.pk, True)
    assert outcome(found["password changed"], ours["password changed"])[:2] == (False, None)
    assert outcome(found["password changed"], ours["password changed"])[2] is False
    assert outcome(found["malformed user id"], ours["malformed user id"])[0] == "raised"


def test_a_session_signed_before_a_key_rotation_is_signed_in_as_it_is_over_http(
    alice: User, settings: Any
) -> None:
    old_key = settings.SECRET_KEY
    key, for_channels = logged_in(alice), logged_in(alice)
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    settings.SECRET_KEY_FALLBACKS = [old_key]
    # The socket's check accepts it, where Channels' get_user alone would make it anonymous ...
    scope = scope_of(key)
    assert outcome(users_of([scope])[0], scope) == (True, alice.pk, True)
    assert not get_user.func(scope_of(for_channels)).is_authenticated  # (and flushes it)
    # ... as Django's own does for the page's requests (which move the session to the new key).
    page = Client()
    page.cookies["sessionid"] = key
    assert page.get("/api/workspaces/").status_code == 200


def test_a_session_of_a_key_no_longer_listed_is_anonymous(alice: User, settings: Any) -> None:
    key = logged_in(alice)
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    settings.SECRET_KEY_FALLBACKS = []
    page = Client()
    page.cookies["sessionid"] = key
    assert page.get("/api/workspaces/").status_code == 401  # nor over HTTP
    scope = scope_of(key)
    assert outcome(users_of([scope])[0], scope)[:2] == (False, None)


def test_sockets_of_one_person_each_get_a_user_of_their_own(alice: User) -> None:
    key = logged_in(alice)
    first, second = users_of([scope_of(key), scope_of(key)])
    assert first.pk == second.pk == alice.pk
    assert first is not second
    first.first_name = "changed"
    assert second.first_name != "changed"


def test_a_batch_reads_the_sessions_in_one_query_and_the_users_in_another(
    alice: User, bob: User, django_assert_num_queries: Any
) -> None:
    keys = [logged_in(alice), logged_in(bob), logged_in(alice), "k" * 32, None]
    scopes = [scope_of(keys[i % len(keys)]) for i in range(100)]
    with django_assert_num_queries(2):
        users = users_of(scopes)
    assert [u.pk for u in users] == [
        {0: alice.pk, 1: bob.pk, 2: alice.pk, 3: None, 4: None}[i % len(keys)] for i in range(100)
    ]
