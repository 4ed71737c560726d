"""What the web process does once before Daphne listens, so that the first sockets of a burst do
not pay for it: open the database pool and run the queries a socket's login and first read make.

Sockets opening together share their database trips (orchestrator.socket_auth, run_reads), and
a trip takes whatever asked while the one before it ran: when the first trip of a burst also
opened the pool (a connection, its set-up, the pool's check) while the event loop was busy with
a thousand handshakes, it took 65-270 ms (bench/fanout.py's trips), and every other socket's
login waited behind it. A deploy's reconnect storm is such a burst.
"""

from __future__ import annotations

import logging
import uuid

from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import DatabaseError, connection

from orchestrator import socket_auth
from orchestrator.models import Event

log = logging.getLogger(__name__)


def warm_up() -> None:
    """The pool opened, and a login and an events read made for nobody. A database that does not
    answer now is left for the first requests to find (the health check says so meanwhile)."""
    try:
        socket_auth.users_of([{"session": SessionStore(session_key=uuid.uuid4().hex)}])
        get_user_model()._default_manager.filter(pk__in=[0]).first()
        Event.objects.filter(run_id=uuid.uuid4(), seq__gt=0).values_list("seq").first()
    except DatabaseError as error:
        log.warning("the database did not answer while the web process started: %s", error)
    finally:
        connection.close()  # back to the pool, open for the first request
