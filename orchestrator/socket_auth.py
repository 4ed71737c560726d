"""Who opened a WebSocket: Channels' session and user lookup, made for all the sockets that open at
the same time in one trip to the database thread and two queries.

Channels' ``AuthMiddleware`` loads each socket's session and user in a hop of its own to Django's
database thread (all sync database work of the process runs on that one thread), *before* the
application can accept the socket: a connection borrowed from the web pool and checked, then two
queries (the session row, then the user row). A thousand sockets opening at once queued a
thousand such hops, and Daphne drops a handshake its application has not accepted within 5 s
(bench/README.md, live fan-out). Here the lookups asked for while a trip is under way wait for
the next trip, and a trip reads the session rows of all its sockets in one query and their users
in another.

Who a socket belongs to is decided as Channels' ``get_user`` decides it (tests/orchestrator/
test_socket_auth.py compares the two on the same sessions): an unknown or expired session is
anonymous, a user is found by the backend the session names (if it is still configured) and must
be allowed to sign in, and a session whose hash no longer matches the user's (the password
changed) is flushed and anonymous; except that a hash made with one of SECRET_KEY_FALLBACKS is
accepted, as Django accepts it for HTTP. Each socket gets its own user instance.
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from collections import defaultdict
from typing import Any

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.crypto import constant_time_compare


def users_of(scopes: list[dict[str, Any]]) -> list[Any]:
    """The user (or AnonymousUser) of each scope, or the exception its lookup raised.

    Sessions of another engine than the database's, and users of a backend other than
    ModelBackend, are loaded one by one as Channels loads them."""
    _load_sessions([scope["session"] for scope in scopes if "session" in scope])
    wanted: list[tuple[Any, str] | Exception | None] = []
    for scope in scopes:
        try:
            if "session" not in scope:
                raise ValueError("no session in the scope: SessionMiddleware must come first")
            wanted.append(_wanted(scope["session"]))
        except Exception as exc:  # that socket fails as it would have; the others go on
            wanted.append(exc)
    found = _model_users(wanted)
    users: list[Any] = []
    for scope, want in zip(scopes, wanted, strict=True):
        if want is None or isinstance(want, Exception):
            users.append(want if want is not None else AnonymousUser())
            continue
        try:
            users.append(_verified(scope["session"], want, found))
        except Exception as exc:
            users.append(exc)
    return users


def _load_sessions(sessions: list[Any]) -> None:
    """Load the database sessions not loaded yet with one query, as each store's ``load()``
    would have: the row if it exists and has not expired, else an empty session with no key."""
    pending: dict[str, list[Any]] = defaultdict(list)
    for session in sessions:
        store = getattr(session, "_wrapped", session)  # Channels wraps it in a LazyObject
        if not isinstance(store, DatabaseSessionStore) or hasattr(store, "_session_cache"):
            continue  # another engine, or loaded already: get_user loads it as it always did
        if store.session_key is None:
            continue  # no cookie: an empty session, without a query
        pending[store.session_key].append(store)
    if not pending:
        return
    model = DatabaseSessionStore.get_model_class()
    rows = dict(
        model.objects.filter(
            session_key__in=list(pending), expire_date__gt=timezone.now()
        ).values_list("session_key", "session_data")
    )
    for key, stores in pending.items():
        for store in stores:
            data = rows.get(key)
            if data is None:
                store._session_key = None  # as load() leaves a session it did not find
                store._session_cache = {}
            else:
                # SessionBase._get_session keeps what load() returns here.
                store._session_cache = store.decode(data)


def _wanted(session: Any) -> tuple[Any, str] | None:
    """(user id, backend path) the session names, or None (anonymous) — as Channels reads them."""
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    return user_id, backend_path


def _bulk(backend: Any) -> bool:
    """Whether the backend finds users as ModelBackend does (by primary key, then
    ``user_can_authenticate``), so one query can serve all its sockets."""
    return isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user


def _model_users(wanted: list[tuple[Any, str] | Exception | None]) -> dict[Any, Any]:
    """The users of every ModelBackend session, by primary key, in one query."""
    ids = {want[0] for want in wanted if isinstance(want, tuple) and _bulk(load_backend(want[1]))}
    if not ids:
        return {}
    return {user.pk: user for user in get_user_model()._default_manager.filter(pk__in=ids)}


def _verified(session: Any, want: tuple[Any, str], found: dict[Any, Any]) -> Any:
    user_id, backend_path = want
    backend = load_backend(backend_path)
    if _bulk(backend):
        user = found.get(user_id)
        # A copy each: no socket sees another's changes to its user.
        user = copy.copy(user) if user is not None and backend.user_can_authenticate(user) else None
    else:
        user = backend.get_user(user_id)
    if hasattr(user, "get_session_auth_hash"):
        session_hash = session.get(HASH_SESSION_KEY)
        if not (session_hash and _hash_verified(user, session_hash)):
            session.flush()
            user = None
    return user or AnonymousUser()


def _hash_verified(user: Any, session_hash: str) -> bool:
    """The session's hash made with the current SECRET_KEY or one of SECRET_KEY_FALLBACKS, as
    Django's own ``get_user`` accepts it (Channels' refuses the fallbacks: after a key rotation
    every page's sockets were anonymous while its HTTP requests were signed in). Django then moves
    the session to the current key; a socket cannot set the browser's cookie, so it leaves that to
    the page's next request."""
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


@database_sync_to_async
def _users(scopes: list[dict[str, Any]]) -> list[Any]:
    return users_of(scopes)


class _Lookups:
    """One per event loop: the lookups waiting for the next trip."""

    def __init__(self) -> None:
        self.asked: list[tuple[dict[str, Any], asyncio.Future[Any]]] | None = None

    async def lookup(self, scope: dict[str, Any]) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.asked is None:
            self.asked = [(scope, done)]
            asyncio.get_running_loop().create_task(self._trips())
        else:
            self.asked.append((scope, done))
        return await done

    async def _trips(self) -> None:
        while self.asked:
            batch, self.asked = self.asked, []
            try:
                users = await _users([scope for scope, _ in batch])
            except Exception as exc:
                users = [exc] * len(batch)
            for (_, done), user in zip(batch, users, strict=True):
                if done.done():
                    continue  # the socket went away meanwhile
                if isinstance(user, Exception):
                    done.set_exception(user)
                else:
                    done.set_result(user)
        self.asked = None


_lookups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lookups] = (
    weakref.WeakKeyDictionary()
)


USER_READY = "user_ready"


class SharedAuthMiddleware(AuthMiddleware):  # type: ignore[misc]
    """Channels' ``AuthMiddleware``, except that the application does not wait for the lookup:
    it starts (in the trip of the sockets opening with it) and the socket's consumer accepts
    the handshake meanwhile, then awaits :func:`user_of` before it lets anything through. A
    thousand sockets opening at once thus finish their handshakes while their logins are read,
    instead of after. Reading ``scope["user"]`` before that raises (Channels' lazy user), so a
    consumer that forgot to wait fails closed."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        self.populate_scope(scope)
        scope[USER_READY] = asyncio.get_running_loop().create_task(self.resolve_scope(scope))
        return await self.inner(scope, receive, send)

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        event_loop = asyncio.get_running_loop()
        lookups = _lookups.get(event_loop)
        if lookups is None:
            lookups = _lookups[event_loop] = _Lookups()
        scope["user"]._wrapped = await lookups.lookup(scope)


async def user_of(scope: dict[str, Any]) -> Any:
    """The socket's user (AnonymousUser when signed out), once its lookup is done; None for a
    scope made without the middleware and no user."""
    ready = scope.get(USER_READY)
    if ready is not None:
        await ready
    return scope.get("user")


def SharedAuthMiddlewareStack(inner: Any) -> Any:  # named as Channels names its own
    return CookieMiddleware(SessionMiddleware(SharedAuthMiddleware(inner)))
